"""Canonical ISP operations: exact inverses, CFA handling, reference demosaicers, real-photo quality."""

from __future__ import annotations

import warnings

import colour_demosaicing
import numpy as np
import pytest
import torch

from conftest import D30, DATA
from core_isp.canonical import (
    CanonicalParams,
    apply_ccm,
    apply_wb,
    apply_wb_mosaic,
    demosaic,
    develop,
    grey_world_gains,
    invert_ccm,
    invert_wb,
    mosaic,
    srgb_decode,
    srgb_encode,
)
from core_isp.cfa import (
    BAYER_PATTERNS,
    cfa_batch,
    cfa_from_rawpy,
    cfa_to_indices,
    indices_to_cfa,
    phase_offset,
    shift_cfa,
)
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.io import read_image, read_raw

ALL_CFAS = cfa_batch(list(BAYER_PATTERNS))


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


# --- CFA conventions -------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", BAYER_PATTERNS)
def test_cfa_name_round_trip(pattern):
    assert indices_to_cfa(cfa_to_indices(pattern)) == pattern


def test_cfa_shift_and_phase():
    assert shift_cfa("RGGB", 0, 1) == "GRBG"
    assert shift_cfa("RGGB", 1, 0) == "GBRG"
    assert shift_cfa("RGGB", 1, 1) == "BGGR"
    for p in BAYER_PATTERNS:
        dy, dx = phase_offset(p, "RGGB")
        assert shift_cfa(p, dy, dx) == "RGGB"


def test_rawpy_second_green_index_is_green():
    # rawpy's raw_pattern indexes color_desc "RGBG": 3 is the second green, not blue.
    assert cfa_from_rawpy(np.array([[0, 1], [3, 2]]), b"RGBG") == "RGGB"
    assert cfa_from_rawpy(np.array([[2, 3], [1, 0]]), b"RGBG") == "BGGR"
    with pytest.raises(BadInputError, match="X-Trans"):
        cfa_from_rawpy(np.zeros((6, 6), dtype=int), b"RGBG")
    with pytest.raises(BadInputError):
        indices_to_cfa([[0, 0], [1, 2]])


# --- mosaic / demosaic -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["malvar", "bilinear"])
@pytest.mark.parametrize("size", [(1, 1), (2, 3), (5, 7), (16, 16), (33, 20)])
def test_demosaic_keeps_samples_and_size(method, size):
    g = torch.Generator().manual_seed(0)
    raw = torch.rand(4, 1, *size, generator=g, dtype=torch.float64)
    rgb = demosaic(raw, ALL_CFAS, method)
    assert rgb.shape == (4, 3, *size)
    torch.testing.assert_close(mosaic(rgb, ALL_CFAS), raw, rtol=0, atol=0)


def test_per_sample_cfa_equals_one_at_a_time():
    raw = torch.rand(4, 1, 12, 18, dtype=torch.float64)
    batched = demosaic(raw, ALL_CFAS)
    for i in range(4):
        torch.testing.assert_close(batched[i : i + 1], demosaic(raw[i : i + 1], ALL_CFAS[i : i + 1]))


@pytest.mark.parametrize("pattern", BAYER_PATTERNS)
def test_malvar_matches_colour_demosaicing(pattern):
    g = torch.Generator().manual_seed(1)
    rgb = torch.rand(1, 3, 37, 50, generator=g, dtype=torch.float64)
    cfa = cfa_batch([pattern])
    m = mosaic(rgb, cfa)
    ours = demosaic(m, cfa, "malvar")[0].permute(1, 2, 0).numpy()
    ref = colour_demosaicing.demosaicing_CFA_Bayer_Malvar2004(m[0, 0].numpy(), pattern)
    np.testing.assert_allclose(ours[2:-2, 2:-2], ref[2:-2, 2:-2], atol=1e-5)
    ref_bilinear = colour_demosaicing.demosaicing_CFA_Bayer_bilinear(m[0, 0].numpy(), pattern)
    ours_bilinear = demosaic(m, cfa, "bilinear")[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours_bilinear[2:-2, 2:-2], ref_bilinear[2:-2, 2:-2], atol=1e-5)


PHOTOS = [
    "canon-ixus.jpg",
    "nikon-e950.jpg",
    "DSCN0010.jpg",
    "fujifilm-dx10.jpg",
    "sony-d700.jpg",
    "kodak-dc240.jpg",
]


def _demosaic_gain_db(rgb: torch.Tensor) -> float:
    """Kodak-style protocol: mosaic a full-colour photo, demosaic it again, compare away from borders."""
    cfa = cfa_batch(["RGGB"])
    m = mosaic(rgb, cfa)
    crop = (..., slice(4, -4), slice(4, -4))
    malvar = _psnr(demosaic(m, cfa, "malvar").clamp(0, 1)[crop], rgb[crop])
    bilinear = _psnr(demosaic(m, cfa, "bilinear").clamp(0, 1)[crop], rgb[crop])
    return malvar - bilinear


def test_malvar_beats_bilinear_on_real_photos():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        gains = [_demosaic_gain_db(read_image(DATA / "exif" / name).pixels) for name in PHOTOS]
    assert min(gains) > 0
    assert np.mean(gains) >= 2.0, gains


def test_malvar_beats_bilinear_on_shared_sharp_frames(shared_data):
    frames = sorted((shared_data / "blur" / "gopro_pairs").glob("*_sharp1.png"))
    gains = [_demosaic_gain_db(read_image(p).pixels) for p in frames]
    assert len(gains) == 2 and min(gains) >= 2.0, gains


def test_demosaic_is_differentiable():
    raw = torch.rand(2, 1, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda r: demosaic(r, ALL_CFAS[:2]), (raw,))


def test_demosaic_dtype_follows_input():
    raw = torch.rand(1, 1, 8, 8, dtype=torch.float32)
    assert demosaic(raw, ALL_CFAS[:1]).dtype == torch.float32
    assert demosaic(raw.to(torch.bfloat16), ALL_CFAS[:1]).dtype == torch.bfloat16


def test_shape_contract_errors_are_clear():
    with pytest.raises(ValueError, match=r"raw must have shape \(B,1,H,W\)"):
        demosaic(torch.rand(1, 3, 8, 8), ALL_CFAS[:1])


# --- white balance, colour matrix, tone --------------------------------------------------------------


def test_wb_and_ccm_inverses():
    g = torch.Generator().manual_seed(2)
    rgb = torch.rand(3, 3, 9, 11, generator=g, dtype=torch.float64)
    wb = 0.5 + 2 * torch.rand(3, 3, generator=g, dtype=torch.float64)
    wb[:, 1] = 1
    ccm = torch.eye(3, dtype=torch.float64) + 0.3 * torch.randn(3, 3, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(invert_wb(apply_wb(rgb, wb), wb), rgb, atol=1e-6, rtol=0)
    torch.testing.assert_close(invert_ccm(apply_ccm(rgb, ccm), ccm), rgb, atol=1e-6, rtol=0)


def test_wb_on_mosaic_equals_wb_before_mosaicing():
    rgb = torch.rand(4, 3, 6, 9, dtype=torch.float64)
    wb = torch.tensor([[2.0, 1.0, 1.5]] * 4, dtype=torch.float64)
    torch.testing.assert_close(
        apply_wb_mosaic(mosaic(rgb, ALL_CFAS), wb, ALL_CFAS), mosaic(apply_wb(rgb, wb), ALL_CFAS)
    )


def test_srgb_round_trip():
    x = torch.linspace(0, 1, 1001, dtype=torch.float64).view(1, 1, 1, -1).expand(1, 3, 1, 1001)
    torch.testing.assert_close(srgb_decode(srgb_encode(x)), x, atol=1e-7, rtol=0)
    # The standard's anchor points: linear 0.18 encodes to ~0.4614, the linear segment below 0.0031308.
    torch.testing.assert_close(
        srgb_encode(torch.full((1, 3, 1, 1), 0.18)), torch.full((1, 3, 1, 1), 0.46135), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(
        srgb_encode(torch.full((1, 3, 1, 1), 0.001)), torch.full((1, 3, 1, 1), 0.01292), atol=1e-6, rtol=0
    )


def test_grey_world_recovers_the_illuminant():
    g = torch.Generator().manual_seed(3)
    # Constant over each 2x2 cell, so every colour samples the same greys.
    grey = (0.05 + 0.4 * torch.rand(1, 1, 32, 32, generator=g)).repeat_interleave(2, -1).repeat_interleave(2, -2)
    true_gains = torch.tensor([[2.2, 1.0, 1.4]])
    cfa = cfa_batch(["GBRG"])
    camera_rgb = grey.expand(1, 3, 64, 64) / true_gains[:, :, None, None]
    est = grey_world_gains(mosaic(camera_rgb, cfa), cfa)
    torch.testing.assert_close(est, true_gains, rtol=1e-4, atol=0)


# --- develop ---------------------------------------------------------------------------------------


def test_develop_real_raw_shape_range_and_neutral_highlights():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        raw = read_raw(D30)
    params = CanonicalParams.from_metadata([raw.meta])
    crop = raw.tensor()[..., 400:528, 1000:1130]
    out = develop(crop, params)
    assert out.shape == (1, 3, 128, 130)
    assert out.min() >= 0 and out.max() <= 1
    # A sensor-clipped patch (every site at the saturation level) develops to white, not pink.
    clipped = torch.full((1, 1, 8, 8), raw.meta.clip_level)
    torch.testing.assert_close(develop(clipped, params), torch.ones(1, 3, 8, 8), atol=1e-5, rtol=0)


def test_develop_is_differentiable():
    meta_params = CanonicalParams(
        cfa=ALL_CFAS[:2],
        wb_gains=torch.tensor([[2.0, 1.0, 1.5], [1.8, 1.0, 1.2]], dtype=torch.float64),
        ccm=torch.eye(3, dtype=torch.float64).expand(2, 3, 3).clone(),
        clip_level=torch.ones(2, dtype=torch.float64),
    )
    raw = (0.05 + 0.3 * torch.rand(2, 1, 6, 6, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda r: develop(r, meta_params), (raw,))


def test_undevelop_inverts_develop_on_unclipped_sites():
    params = CanonicalParams(
        cfa=ALL_CFAS,
        wb_gains=torch.tensor(
            [[2.0, 1.0, 1.5], [1.8, 1.0, 1.2], [1.1, 1.0, 2.4], [2.2, 1.0, 1.9]], dtype=torch.float64
        ),
        ccm=torch.eye(3, dtype=torch.float64).expand(4, 3, 3) * 0.8 + 0.2 / 3,
        clip_level=torch.ones(4, dtype=torch.float64),
    )
    rgb = 0.05 + 0.3 * torch.rand(4, 3, 8, 10, dtype=torch.float64)
    raw = mosaic(rgb, ALL_CFAS) / params.wb_gains.amax(1).view(-1, 1, 1, 1)  # keep every site unclipped
    # The canonical demosaic is not invertible, but on a flat field it is exact; use one per sample.
    flat = raw.mean(dim=(2, 3), keepdim=True).expand_as(raw).contiguous()
    from core_isp.canonical import undevelop

    torch.testing.assert_close(undevelop(develop(flat, params), params), flat, atol=1e-6, rtol=0)


def test_upi_unprocess_inverts_process_at_every_site():
    from core_isp.canonical.upi import inverse_smoothstep, smoothstep, upi_process, upi_unprocess

    x = torch.linspace(0, 1, 101, dtype=torch.float64)
    torch.testing.assert_close(inverse_smoothstep(smoothstep(x)), x, atol=1e-6, rtol=0)
    # With an identity matrix every step is per channel and the demosaic keeps each site's own sample,
    # so unprocess(process(x)) returns every unclipped site exactly.
    params = CanonicalParams(
        cfa=ALL_CFAS[:2],
        wb_gains=torch.tensor([[2.0, 1.0, 1.5], [1.8, 1.0, 1.2]], dtype=torch.float64),
        ccm=torch.eye(3, dtype=torch.float64).expand(2, 3, 3).clone(),
        clip_level=torch.ones(2, dtype=torch.float64),
    )
    raw = 0.02 + 0.4 * torch.rand(2, 1, 6, 8, dtype=torch.float64)
    torch.testing.assert_close(upi_unprocess(upi_process(raw, params), params), raw, atol=1e-6, rtol=0)
