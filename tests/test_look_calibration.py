"""The look statistics of ``benchmarks.look_calibration`` on images whose answers are known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmarks.look_calibration import (
    at_analysis_scale,
    chroma_and_warmth,
    contrast_stops,
    exposure_ev100,
    local_linear,
    look_of,
    mean_luma,
)
from core_isp.canonical.tone import srgb_encode
from core_isp.metadata import CameraMetadata


def flat(rgb: tuple[float, float, float], size_hw: tuple[int, int] = (32, 48)) -> torch.Tensor:
    """A ``(1, 3, H, W)`` sRGB image of one colour."""
    return torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, *size_hw).clone()


def test_flat_grey_has_no_contrast_and_no_chroma() -> None:
    look = look_of(flat((0.5, 0.5, 0.5)))
    assert look.contrast == 0.0
    assert look.chroma == pytest.approx(0.0, abs=0.05)
    assert look.warmth == pytest.approx(0.0, abs=0.05)
    assert look.luma == pytest.approx(0.5, abs=1e-6)


def test_brighter_image_has_higher_mean_luma() -> None:
    assert mean_luma(flat((0.6, 0.6, 0.6))) > mean_luma(flat((0.3, 0.3, 0.3)))
    # Rec. 709 weights: green counts most, blue least.
    assert mean_luma(flat((0, 1, 0))) > mean_luma(flat((1, 0, 0))) > mean_luma(flat((0, 0, 1)))


def test_saturated_red_has_more_chroma_than_grey() -> None:
    red, _ = chroma_and_warmth(flat((0.9, 0.1, 0.1)))
    grey, _ = chroma_and_warmth(flat((0.4, 0.4, 0.4)))
    assert red > 40.0 > grey


def test_warmth_is_positive_for_yellow_and_negative_for_blue() -> None:
    assert chroma_and_warmth(flat((0.8, 0.7, 0.3)))[1] > 0 > chroma_and_warmth(flat((0.3, 0.4, 0.8)))[1]


def test_contrast_of_two_levels_two_stops_apart() -> None:
    linear = torch.full((1, 3, 32, 48), 0.5)
    linear[..., :, :24] = 0.125
    assert contrast_stops(srgb_encode(linear)) == pytest.approx(2.0, abs=1e-3)


def test_ev100_of_known_exposures() -> None:
    sunny = CameraMetadata(exposure_time_s=1 / 125, f_number=8.0, iso=100.0)
    assert exposure_ev100(sunny) == pytest.approx(math.log2(64 * 125))
    # Four times the ISO is two stops less light for the same settings.
    assert exposure_ev100(CameraMetadata(exposure_time_s=1 / 125, f_number=8.0, iso=400.0)) == pytest.approx(
        math.log2(64 * 125) - 2
    )
    assert exposure_ev100(CameraMetadata(exposure_time_s=1 / 125, f_number=8.0)) is None


def test_analysis_scale_shrinks_keeps_the_mean_and_never_enlarges() -> None:
    image = torch.rand(1, 3, 96, 144, generator=torch.Generator().manual_seed(0))
    small = at_analysis_scale(image, 48)
    assert small.shape[-2:] == (48, 72)
    assert float(small.mean()) == pytest.approx(float(image.mean()), abs=1e-5)
    tiny = torch.rand(1, 3, 20, 30)
    assert at_analysis_scale(tiny, 48) is tiny


def test_local_linear_follows_a_line() -> None:
    x = np.linspace(0, 10, 50)
    assert local_linear(x, 2 * x + 1, np.array([0.0, 5.0, 10.0])) == pytest.approx([1.0, 11.0, 21.0])
