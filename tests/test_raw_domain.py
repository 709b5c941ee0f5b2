"""RAW-domain ops: each keeps the CFA phase, says what it does to the metadata, and undoes what it should."""

from __future__ import annotations

import math

import pytest
import torch

from core_isp.cameras.noise import NoiseModel
from core_isp.canonical import mosaic
from core_isp.cfa import BAYER_PATTERNS, cfa_batch
from core_isp.errors import BadInputError
from core_isp.metadata import CameraMetadata
from core_isp.raw_domain import (
    PLANE_NAMES,
    add_sensor_noise,
    average_frames,
    blur_planes,
    clip_to_white,
    dn_to_normalised,
    estimate_noise_fraction,
    noise_std,
    normalised_to_dn,
    pack_bayer,
    plane_sites,
    saturation_mask,
    scale_exposure,
    unpack_bayer,
    warp_planes,
)

PATTERNS = list(BAYER_PATTERNS)


def shot(pattern: str = "RGGB", **changes) -> CameraMetadata:
    """A 14-bit shot with uneven black levels, a saturation below white and a known exposure."""
    base = CameraMetadata(
        cfa_pattern=pattern,
        black_level_per_site=(512.0, 510.0, 514.5, 509.0),
        white_level=16383.0,
        saturation_level=15800.0,
        exposure_time_s=1 / 125,
        iso=200.0,
    )
    return base.replace(**changes)


def random_mosaic(batch: int, h: int = 12, w: int = 16, dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 1, h, w, generator=g, dtype=dtype) * 1.4 - 0.1  # below black and above white too


def ramp_rgb(h: int, w: int, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> torch.Tensor:
    """A linear image per colour ``(1, 3, h, w)``, sampled at positions ``x``, ``y`` (default: the pixel grid).

    Bilinear interpolation reproduces a linear function exactly, so warps of it have an exact answer.
    """
    if x is None or y is None:
        y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    return torch.stack([0.01 * x + 0.02 * y + 0.1, 0.03 * x - 0.01 * y + 0.5, -0.02 * x + 0.015 * y + 0.7])[None]


# -- levels -------------------------------------------------------------------------------------------


def test_normalised_to_dn_puts_each_site_at_its_own_black_and_the_white_level():
    meta = [shot("GRBG")]
    black_cell = torch.tensor([[512.0, 510.0], [514.5, 509.0]], dtype=torch.float64)
    black_map = black_cell.repeat(3, 4)[None, None, :5, :7]  # odd size keeps the top-left phase
    assert torch.equal(normalised_to_dn(torch.zeros(1, 1, 5, 7, dtype=torch.float64), meta), black_map)
    assert torch.equal(
        normalised_to_dn(torch.ones(1, 1, 5, 7, dtype=torch.float64), meta), torch.full_like(black_map, 16383.0)
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_normalised_to_dn_to_normalised_round_trip(dtype):
    meta = [shot(p) for p in PATTERNS[:3]]
    raw = random_mosaic(3, 9, 11, dtype)
    back = dn_to_normalised(normalised_to_dn(raw, meta), meta)
    assert back.dtype == dtype
    torch.testing.assert_close(back, raw, rtol=0, atol=1e-6 if dtype == torch.float32 else 1e-12)


def test_levels_need_black_and_white_and_one_metadata_per_sample():
    with pytest.raises(BadInputError, match="no black/white levels"):
        normalised_to_dn(torch.zeros(1, 1, 4, 4), [CameraMetadata(cfa_pattern="RGGB")])
    with pytest.raises(BadInputError, match="2 samples but 1 metadata"):
        dn_to_normalised(torch.zeros(2, 1, 4, 4), [shot()])
    with pytest.raises(ValueError, match=r"\(B,1,H,W\)"):
        dn_to_normalised(torch.zeros(1, 3, 4, 4), [shot()])


# -- Bayer planes ---------------------------------------------------------------------------------------

#: Where R, G on red rows, G on blue rows and B sit in the 2x2 cell, as (row, column).
SITES = {
    "RGGB": [(0, 0), (0, 1), (1, 0), (1, 1)],
    "GRBG": [(0, 1), (0, 0), (1, 1), (1, 0)],
    "GBRG": [(1, 0), (1, 1), (0, 0), (0, 1)],
    "BGGR": [(1, 1), (1, 0), (0, 1), (0, 0)],
}


def test_packed_channels_are_r_gr_gb_b_whatever_the_phase():
    assert PLANE_NAMES == ("R", "Gr", "Gb", "B")
    meta = [shot(p) for p in PATTERNS]
    assert plane_sites(meta).tolist() == [[list(s) for s in SITES[p]] for p in PATTERNS]
    raw = random_mosaic(4)
    planes = pack_bayer(raw, meta)
    assert planes.shape == (4, 4, 6, 8)
    for b, p in enumerate(PATTERNS):
        for c, (dy, dx) in enumerate(SITES[p]):
            assert torch.equal(planes[b, c], raw[b, 0, dy::2, dx::2])


def test_a_mosaic_of_a_flat_colour_packs_to_that_colour_in_every_phase():
    rgb = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1).expand(4, 3, 6, 8)
    planes = pack_bayer(mosaic(rgb, cfa_batch(PATTERNS)), [shot(p) for p in PATTERNS])
    assert torch.equal(planes, torch.tensor([0.2, 0.5, 0.5, 0.9]).view(1, 4, 1, 1).expand(4, 4, 3, 4))


@pytest.mark.parametrize("patterns", [[p] for p in PATTERNS] + [["GBRG", "RGGB", "BGGR"]])
def test_pack_unpack_round_trip_is_bit_exact(patterns):
    meta = [shot(p) for p in patterns]
    raw = random_mosaic(len(patterns), 10, 14, torch.float32)
    assert torch.equal(unpack_bayer(pack_bayer(raw, meta), meta), raw)
    planes = torch.randn(len(patterns), 4, 5, 7)
    assert torch.equal(pack_bayer(unpack_bayer(planes, meta), meta), planes)


def test_packing_refuses_odd_sizes_and_non_raw_metadata():
    with pytest.raises(ValueError, match="even height and width, got 5x8"):
        pack_bayer(torch.zeros(1, 1, 5, 8), [shot()])
    with pytest.raises(ValueError, match="even height and width, got 6x7"):
        pack_bayer(torch.zeros(1, 1, 6, 7), [shot()])
    with pytest.raises(BadInputError, match="no CFA pattern"):
        pack_bayer(torch.zeros(1, 1, 6, 8), [CameraMetadata()])
    with pytest.raises(ValueError, match=r"\(B,4,h,w\)"):
        unpack_bayer(torch.zeros(1, 3, 6, 8), [shot()])


# -- exposure -------------------------------------------------------------------------------------------


def test_plus_one_ev_then_minus_one_ev_is_the_identity():
    meta = [shot("RGGB"), shot("BGGR", exposure_time_s=None)]
    raw = random_mosaic(2, dtype=torch.float32)
    brighter, brighter_meta = scale_exposure(raw, meta, 1.0)
    assert torch.equal(brighter, 2 * raw)  # no clipping: values go past white
    assert brighter_meta[0].exposure_time_s == 2 / 125
    assert brighter_meta[1].exposure_time_s is None  # unknown stays unknown
    back, back_meta = scale_exposure(brighter, brighter_meta, -1.0)
    assert torch.equal(back, raw)
    assert back_meta == meta


def test_exposure_per_sample():
    raw = torch.ones(3, 1, 2, 2)
    out, meta = scale_exposure(raw, [shot()] * 3, torch.tensor([0.0, 1.0, -2.0]))
    assert out[:, 0, 0, 0].tolist() == [1.0, 2.0, 0.25]
    assert [m.exposure_time_s for m in meta] == [1 / 125, 2 / 125, 0.25 / 125]
    with pytest.raises(ValueError, match=r"\(3\)"):
        scale_exposure(raw, [shot()] * 3, [1.0, 2.0])


def test_exposure_gradients():
    raw = random_mosaic(2, 4, 4).requires_grad_()
    ev = torch.tensor([0.3, -1.2], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda r, e: scale_exposure(r, [shot(), shot()], e)[0], (raw, ev))


# -- noise ------------------------------------------------------------------------------------------------

NOISE = NoiseModel(shot_at_base_iso=2.4e-6, base_iso=100.0)


def test_noise_variance_follows_the_model_at_each_level_and_iso():
    levels = torch.tensor([0.0, 0.05, 0.3, 0.8], dtype=torch.float64)
    clean = levels.view(1, 1, 4, 1).expand(2, 1, 4, 2**16).reshape(2, 1, 512, 512).contiguous()
    isos = [100.0, 3200.0]
    noisy, meta = add_sensor_noise(clean, [shot(), shot()], NOISE, isos, torch.Generator().manual_seed(0))
    assert [m.iso for m in meta] == isos
    residual = (noisy - clean).view(2, 4, -1)  # one row of 2**16 samples per level
    for b, iso in enumerate(isos):
        model_variance = NOISE.read(iso) + NOISE.shot(iso) * levels
        assert torch.allclose(residual[b].var(dim=1) / model_variance, torch.ones(4, dtype=torch.float64), rtol=0.05)
        assert residual[b].mean(dim=1).abs().max() < 0.05 * model_variance.sqrt().max()
    std = noise_std(clean, [shot(), shot()], NOISE, isos)
    assert torch.equal(std.view(2, 4, -1)[:, :, 0] ** 2, torch.stack([NOISE.std(levels, iso) ** 2 for iso in isos]))


def test_noise_is_reproducible_from_the_generator_and_keeps_dtype_and_gradients():
    clean = random_mosaic(1, dtype=torch.float32).clamp(min=0).requires_grad_()
    a, _ = add_sensor_noise(clean, [shot()], NOISE, 800, torch.Generator().manual_seed(3))
    b, _ = add_sensor_noise(clean, [shot()], NOISE, 800, torch.Generator().manual_seed(3))
    assert a.dtype == torch.float32 and torch.equal(a, b)
    a.sum().backward()
    # Reparameterised: d(x + std(x) n)/dx = 1 + std'(x) n, with std' = shot / (2 std) and n = (a - x) / std.
    std = noise_std(clean.detach(), [shot()], NOISE, 800)
    expected = 1 + NOISE.shot(800) * (a.detach() - clean.detach()) / (2 * std**2)
    torch.testing.assert_close(clean.grad, expected, rtol=0, atol=1e-3)


def test_estimated_noise_fraction_recovers_the_share_of_the_model_noise_present():
    # A smooth scene with edges (a ramp and a step): the probe must see the noise, not the signal.
    axis = torch.linspace(0, 1, 256, dtype=torch.float64)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    clean = (0.05 + 0.4 * x + 0.3 * (y > 0.5))[None, None]
    assert float(estimate_noise_fraction(clean, [shot()], NOISE, 400)[0]) < 0.05
    for fraction in (0.3, 1.0, 2.0):
        full, _ = add_sensor_noise(clean, [shot()], NOISE, 400, torch.Generator().manual_seed(1))
        partial = clean + fraction * (full - clean)
        assert float(estimate_noise_fraction(partial, [shot()], NOISE, 400)[0]) == pytest.approx(fraction, rel=0.06)


# -- clipping -------------------------------------------------------------------------------------------


def test_saturation_mask_and_clipping_exactly_at_the_clip_level():
    meta = [shot(), shot(saturation_level=None)]
    clip = meta[0].clip_level
    assert clip == (15800.0 - 514.5) / (16383.0 - 514.5) and meta[1].clip_level == 1.0
    below = [math.nextafter(clip, 0.0), math.nextafter(1.0, 0.0)]
    at = [clip, 1.0]
    raw = torch.tensor([[-0.01, below[b], at[b], 1.5] for b in range(2)], dtype=torch.float64).view(2, 1, 2, 2)
    assert saturation_mask(raw, meta).view(2, 4).tolist() == [[False, False, True, True]] * 2
    clipped, clipped_meta = clip_to_white(raw, meta)
    expected = torch.tensor([[-0.01, below[b], at[b], at[b]] for b in range(2)], dtype=torch.float64)
    assert torch.equal(clipped.view(2, 4), expected)  # below black is kept, only highlights clip
    assert clipped_meta == meta
    assert saturation_mask(clipped, meta).equal(saturation_mask(raw, meta))


# -- motion ---------------------------------------------------------------------------------------------


def translation(dx_px: float, dy_px: float) -> torch.Tensor:
    return torch.tensor([[1.0, 0.0, dx_px], [0.0, 1.0, dy_px]], dtype=torch.float64)


def test_warp_by_whole_cells_is_a_roll_of_the_mosaic():
    meta = [shot(p) for p in PATTERNS]
    raw = random_mosaic(4, 16, 20)
    steps = [(2, 0), (0, -4), (-2, 6), (4, 2)]  # (dx, dy) in mosaic pixels, whole 2x2 cells
    warped, warped_meta = warp_planes(raw, meta, torch.stack([translation(dx, dy) for dx, dy in steps]))
    assert warped_meta == meta
    for b, (dx, dy) in enumerate(steps):
        rolled = torch.roll(raw[b], shifts=(dy, dx), dims=(-2, -1))
        inside = (..., slice(max(dy, 0), 16 + min(dy, 0)), slice(max(dx, 0), 20 + min(dx, 0)))
        torch.testing.assert_close(warped[b][inside], rolled[inside], rtol=0, atol=1e-12)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_warp_moves_every_colour_plane_with_the_scene(pattern):
    # A rotation and a sub-pixel shift: each plane must account for its own half-pixel offset.
    h, w = 24, 32
    angle = math.radians(7.0)
    affine = torch.tensor(
        [[math.cos(angle), -math.sin(angle), 1.3], [math.sin(angle), math.cos(angle), -0.7]], dtype=torch.float64
    )
    cfa = cfa_batch([pattern])
    warped, _ = warp_planes(mosaic(ramp_rgb(h, w), cfa), [shot(pattern)], affine[None])
    inverse = torch.linalg.inv(torch.cat([affine, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)]))
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    src_x = inverse[0, 0] * x + inverse[0, 1] * y + inverse[0, 2]
    src_y = inverse[1, 0] * x + inverse[1, 1] * y + inverse[1, 2]
    expected = mosaic(ramp_rgb(h, w, src_x, src_y), cfa)
    inside = (..., slice(4, -4), slice(4, -4))  # away from the zero padding
    torch.testing.assert_close(warped[inside], expected[inside], rtol=0, atol=1e-12)


def test_identity_warp_and_delta_blur_are_identities():
    meta = [shot(p) for p in PATTERNS]
    raw = random_mosaic(4, 10, 12)
    warped, _ = warp_planes(raw, meta, translation(0, 0).expand(4, 2, 3))
    torch.testing.assert_close(warped, raw, rtol=0, atol=1e-12)
    delta = torch.zeros(4, 3, 5, dtype=torch.float64)
    delta[:, 1, 2] = 1.0
    blurred, blurred_meta = blur_planes(raw, meta, delta)
    assert torch.equal(blurred, raw) and blurred_meta == meta


def test_blur_kernels_are_in_plane_pixels_and_convolve():
    meta = [shot(p) for p in PATTERNS]
    raw = random_mosaic(4, 10, 12)
    right = torch.zeros(4, 1, 3, dtype=torch.float64)
    right[:, 0, 2] = 1.0  # all mass one plane pixel right of the centre
    moved, _ = blur_planes(raw, meta, right)
    assert torch.equal(moved[..., 2:], raw[..., :-2])  # one plane pixel = two mosaic pixels, to the right
    box = torch.full((4, 3, 3), 1 / 9, dtype=torch.float64)
    flat = mosaic(
        torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64).view(1, 3, 1, 1).expand(4, 3, 10, 12), cfa_batch(PATTERNS)
    )
    torch.testing.assert_close(blur_planes(flat, meta, box)[0], flat)  # colours do not mix
    with pytest.raises(ValueError, match="odd sizes"):
        blur_planes(raw, meta, torch.ones(4, 2, 3))


def test_warp_and_blur_gradients():
    meta = [shot("GRBG"), shot("BGGR")]
    raw = random_mosaic(2, 6, 8).requires_grad_()
    jitter = torch.randn(2, 2, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    affine = (translation(0.7, -0.4)[None] + 0.05 * jitter).requires_grad_()
    assert torch.autograd.gradcheck(lambda r, m: warp_planes(r, meta, m)[0], (raw, affine), fast_mode=True)
    kernels = torch.rand(2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda r, k: blur_planes(r, meta, k)[0], (raw, kernels), fast_mode=True)


def test_averaging_copies_of_a_mosaic_returns_it():
    meta = [shot("GBRG"), shot("RGGB", iso=800.0)]
    raw = random_mosaic(2)
    frames = raw[:, None].expand(2, 5, 1, 12, 16)
    mean, mean_meta = average_frames(frames, [[m] * 5 for m in meta])
    torch.testing.assert_close(mean, raw, rtol=1e-15, atol=0)
    assert mean_meta == meta  # the exposure of one frame, not the sum


def test_averaging_refuses_frames_of_another_layout_or_exposure():
    frames = torch.zeros(1, 2, 1, 4, 4)
    with pytest.raises(BadInputError, match="CFA pattern or other levels"):
        average_frames(frames, [[shot(), shot("BGGR")]])
    with pytest.raises(BadInputError, match="CFA pattern or other levels"):
        average_frames(frames, [[shot(), shot(white_level=4095.0)]])
    with pytest.raises(BadInputError, match="scale_exposure"):
        average_frames(frames, [[shot(), shot(exposure_time_s=1 / 125 * (1 + 2e-6))]])
    with pytest.raises(BadInputError, match="scale_exposure"):
        average_frames(frames, [[shot(), shot(exposure_time_s=None)]])
    with pytest.raises(BadInputError, match="lists of 2"):
        average_frames(frames, [[shot()]])
    _, meta = average_frames(frames, [[shot(), shot(exposure_time_s=1 / 125 * (1 + 5e-7))]])
    assert meta[0].exposure_time_s == 1 / 125
