"""The simulated camera's JPEG engine against its definitions: ISO-dependent noise reduction, sharpening and
saturation (:mod:`core_isp.simulation.camera_pipeline`)."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch

from core_isp.simulation.camera_pipeline import RenderingStyle, denoise_and_sharpen, saturate
from core_isp.simulation.profiles import PROFILES, get_profile

STYLE = get_profile("nikon-d7000").style
#: Base ISO (no noise reduction) up to the ISO where every dependency has saturated (8 stops above 100).
ISO_LADDER = [100.0 * 2**k for k in range(9)]
LUMA = torch.tensor([0.2126, 0.7152, 0.0722]).view(1, 3, 1, 1)


def luma_and_chroma(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The engine's split of ``(1, 3, H, W)`` linear sRGB: luma ``(1, 1, H, W)`` and chroma ``rgb - luma``."""
    y = (rgb * LUMA).sum(dim=1, keepdim=True)
    return y, rgb - y


@pytest.fixture(scope="module")
def noisy_grey() -> torch.Tensor:
    """A flat mid-grey patch with independent noise per channel: luma and chroma noise, no structure."""
    return 0.4 + 0.02 * torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def noise_left(rgb: torch.Tensor) -> tuple[float, float]:
    """Luma and chroma standard deviation of a rendered flat patch: the noise left in it."""
    y, c = luma_and_chroma(rgb)
    return float(y.std()), float(c.std())


def test_noise_reduction_strengthens_with_every_iso_stop_then_saturates(noisy_grey):
    # Sharpening also weakens with ISO (less noise amplified); held fixed, the decrease is the reduction's alone.
    fixed_sharpening = dataclasses.replace(STYLE, sharpen_loss_per_iso_stop=0.0)
    for style in (STYLE, fixed_sharpening):
        left = [noise_left(denoise_and_sharpen(noisy_grey, iso, style)) for iso in ISO_LADDER]
        for channel in (0, 1):  # luma, chroma
            levels = [pair[channel] for pair in left]
            assert all(a > b for a, b in itertools.pairwise(levels)), (style, channel, levels)
    # Base ISO and below are left alone by the reduction; beyond 8 stops it holds its strongest setting.
    assert torch.equal(denoise_and_sharpen(noisy_grey, 50.0, STYLE), denoise_and_sharpen(noisy_grey, 100.0, STYLE))
    assert torch.equal(denoise_and_sharpen(noisy_grey, 51200.0, STYLE), denoise_and_sharpen(noisy_grey, 25600.0, STYLE))


@pytest.fixture(scope="module")
def grey_edge() -> torch.Tensor:
    """A clean vertical step from dark to light grey: sharpening's overshoot, without noise to confuse it."""
    edge = torch.full((1, 3, 32, 32), 0.2)
    edge[..., 16:] = 0.6
    return edge


def test_sharpening_at_base_iso_is_an_unsharp_mask_proportional_to_its_amount(grey_edge):
    added = {a: denoise_and_sharpen(grey_edge, 100.0, dataclasses.replace(STYLE, sharpen_amount=a)) - grey_edge
             for a in (0.3, 0.6)}  # fmt: skip
    assert float(added[0.6].max()) > 0.01  # the overshoot on the bright side
    torch.testing.assert_close(added[0.6], 2.0 * added[0.3], rtol=0.0, atol=1e-6)


def test_sharpening_amount_falls_per_iso_stop_to_a_floor_that_never_switches_it_off(grey_edge):
    # Without the luma smoothing, what the engine adds to the edge is the unsharp mask times the amount alone.
    sharpen_only = dataclasses.replace(STYLE, luma_denoise_per_iso_stop=0.0)
    at_base = denoise_and_sharpen(grey_edge, 100.0, sharpen_only) - grey_edge
    for stops, iso in enumerate(ISO_LADDER):
        amount = max(STYLE.sharpen_amount - STYLE.sharpen_loss_per_iso_stop * stops, 0.05)  # the engine's floor
        added = denoise_and_sharpen(grey_edge, iso, sharpen_only) - grey_edge
        torch.testing.assert_close(added, at_base * (amount / STYLE.sharpen_amount), rtol=0.0, atol=1e-6)
    assert STYLE.sharpen_amount - STYLE.sharpen_loss_per_iso_stop * 8 < 0.05  # the floor is reached on the ladder


def test_sharpening_acts_on_luma_only():
    colour_edge = torch.zeros(1, 3, 32, 32)
    colour_edge[:, 0, :, 16:], colour_edge[:, 2, :, :16] = 0.7, 0.5  # red right of blue
    out = denoise_and_sharpen(colour_edge, 100.0, STYLE)  # base ISO: no chroma blur either
    torch.testing.assert_close(luma_and_chroma(out)[1], luma_and_chroma(colour_edge)[1], rtol=0.0, atol=1e-6)


@pytest.mark.parametrize(
    ("iso", "stops_muted"), [(100.0, 0), (800.0, 0), (1600.0, 1), (3200.0, 2), (12800.0, 4), (51200.0, 4)]
)
def test_saturation_scales_chroma_about_the_luma_muted_per_stop_above_iso_800(iso: float, stops_muted: int):
    style = RenderingStyle(saturation=1.2, saturation_loss_per_iso_stop=0.05)
    colour = torch.tensor([0.5, 0.3, 0.1]).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    y_in, c_in = luma_and_chroma(colour)
    y_out, c_out = luma_and_chroma(saturate(colour, iso, style))
    torch.testing.assert_close(y_out, y_in)
    torch.testing.assert_close(c_out, (1.2 - 0.05 * stops_muted) * c_in)


def test_every_shipped_profile_boosts_colour_at_base_iso_and_mutes_it_at_high_iso():
    colour = torch.tensor([0.5, 0.3, 0.1]).view(1, 3, 1, 1)
    for name, profile in PROFILES.items():
        style = profile.style
        chroma = [float(luma_and_chroma(saturate(colour, iso, style))[1].abs().sum()) for iso in (100.0, 12800.0)]
        base = float(luma_and_chroma(colour)[1].abs().sum())
        assert chroma[0] > base and chroma[1] < chroma[0], (name, chroma, base)
