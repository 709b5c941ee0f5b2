"""Sensor noise in the RAW domain, after a camera's :class:`~core_isp.cameras.noise.NoiseModel`.

Heteroscedastic Gaussian: at a normalised level x the variance is ``read(iso) + shot(iso) * max(x, 0)``.
``iso`` is the analogue ISO the sensor runs at; it can differ from the recorded EXIF ISO (highlight
tone priority records a higher one), which is why it is an argument and not read from the metadata.
The simulator draws its shots' noise with the same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from core_isp.metadata import CameraMetadata
from core_isp.raw_domain._batch import PerSample, check_batch, per_sample

if TYPE_CHECKING:  # only annotated: core_isp.io needs this package, and the cameras package may need core_isp.io
    from core_isp.cameras.noise import NoiseModel


def noise_std(
    raw: torch.Tensor, meta: Sequence[CameraMetadata], noise_model: NoiseModel, iso: PerSample
) -> torch.Tensor:
    """Noise standard deviation ``(B, 1, H, W)`` at each clean normalised value ``(B, 1, H, W)``, in ``raw``'s dtype.

    ``iso`` is one analogue ISO or one per sample. Square it for the per-pixel variance that
    inverse-variance weighting (e.g. an HDR merge) needs.
    """
    meta = check_batch(raw, meta)
    isos = per_sample(iso, raw.shape[0], torch.float64, raw.device, "iso").tolist()
    std = torch.stack([noise_model.std(x, s) for x, s in zip(raw, isos, strict=True)])
    return std.to(raw.dtype)


def add_sensor_noise(
    raw: torch.Tensor,
    meta: Sequence[CameraMetadata],
    noise_model: NoiseModel,
    iso: PerSample,
    generator: torch.Generator,
) -> tuple[torch.Tensor, list[CameraMetadata]]:
    """One noisy realisation ``(B, 1, H, W)`` of a clean normalised mosaic ``(B, 1, H, W)``, in ``raw``'s dtype.

    The noise is drawn in float64 from ``generator`` (on ``raw``'s device), so a seed gives the same
    bits every time; it is added, not clipped. Each sample's metadata gets ``iso`` (one value or one
    per sample) as its ISO, from source ``"user"``. Differentiable with respect to ``raw`` (the noise
    is a reparameterised draw).
    """
    meta = check_batch(raw, meta)
    isos = per_sample(iso, raw.shape[0], torch.float64, raw.device, "iso").tolist()
    # Float64 throughout, as the model computes: the simulator's shots keep their bits for a seed.
    std = noise_std(raw.double(), meta, noise_model, isos)
    noise = torch.randn(raw.shape, generator=generator, dtype=torch.float64, device=raw.device)
    out_meta = [m.replace(iso=s, iso_source="user") for m, s in zip(meta, isos, strict=True)]
    return (raw.double() + std * noise).to(raw.dtype), out_meta
