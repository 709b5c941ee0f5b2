"""Realistic blur datasets: sharp frames or photos -> inverse ISP -> light added up in RAW, clipped and noisy ->
forward ISP (see :mod:`apps.dataset_synth.synth` for the physics, :mod:`apps.dataset_synth.dataset` for the job)."""

from apps.dataset_synth.shot import BlurShotSpec, FrameDefaults
from apps.dataset_synth.synth import (
    DEFAULT_PAIR,
    BlurSample,
    BlurSynthesizer,
    SynthSettings,
    blur_from_raw,
)

__all__ = [
    "DEFAULT_PAIR",
    "BlurSample",
    "BlurShotSpec",
    "BlurSynthesizer",
    "FrameDefaults",
    "SynthSettings",
    "blur_from_raw",
]
