"""apps.hdr: the merge in RAW against exact radiance (brackets rendered by the canonical ISP, whose inverse is exact),
weights, alignment, ghosts, outliers, highlight extension, the outputs, bad brackets, and the command line."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
import torch
from typer.testing import CliRunner

from apps.hdr import (
    DEFAULT_PAIR,
    HdrMaker,
    HighlightSettings,
    MergeSettings,
    parse_exposures,
    read_exposure_list,
    with_exposures,
)
from apps.hdr.align import estimate_shift, translate
from apps.hdr.highlights import extension_stops
from apps.hdr.merge import bracket_conditioned
from apps.hdr.output import (
    limited_demosaic,
    log_demosaic,
    preview_path,
    raw_to_linear,
    reinhard_preview,
    white_luminance_cd_m2,
    write_hdr,
)
from apps.hdr.raw_merge import ghost_sites, robust_mean
from apps.hdr.response import ResponseSettings, fit_response
from core_isp.cameras import DAYLIGHT_CCT_K, exposure_level, get_camera
from core_isp.canonical import CanonicalParams, develop, mosaic
from core_isp.cfa import cfa_batch
from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.io.hdr_reader import read_hdr_image
from core_isp.io.writers import REC709_D65_CHROMATICITIES, write_png
from core_isp.isp import canonical_isp, load_isp
from core_isp.metadata import CameraMetadata
from core_isp.simulation.scenes import luminance

CAMERA = get_camera("nikon-d7000")
GAINS, CCM = CAMERA.colour.white_balance(DAYLIGHT_CCT_K)
H, W = 64, 96
#: Normalised RAW level per unit of scene radiance at 1 s (the test scenes' own units).
SENSITIVITY = 0.2
MAKER = HdrMaker(CAMERA, canonical_isp(), MergeSettings(white_balance="daylight"))
#: The same without highlight extension: a single photo's clipped areas stay flat.
FLAT = HdrMaker(CAMERA, canonical_isp(), MergeSettings(white_balance="daylight",
                                                       highlights=HighlightSettings(max_stops=0.0)))  # fmt: skip


def gradient_scene(stops: float = 14.0) -> torch.Tensor:
    """Linear sRGB ``(3, H, W)``: radiance rising ``stops`` stops left to right, a texture, a cool tint."""
    x = torch.linspace(-stops / 2, stops / 2, W, dtype=torch.float64)
    scene = (2.0**x).view(1, 1, W).expand(3, H, W).clone()
    scene[0] *= 1.0 + 0.3 * torch.sin(torch.arange(H, dtype=torch.float64) / 5.0).view(H, 1)
    scene[2] *= 0.8
    return scene


def exif(t: float, iso: float = 100.0, make: str | None = None) -> CameraMetadata:
    return CameraMetadata(make=make or CAMERA.make, model=CAMERA.model, exposure_time_s=t, iso=iso, f_number=8.0)


def shot_raw(scene: torch.Tensor, t: float, iso: float = 100.0) -> torch.Tensor:
    """The noise-free mosaic ``(1, 1, H, W)`` of a scene, unclipped, as the camera's sensor would see it."""
    meta = CAMERA.raw_metadata(exif(t, iso), GAINS, "daylight")
    camera_rgb = torch.einsum("ij,jhw->ihw", torch.from_numpy(np.linalg.inv(CCM)), scene)
    camera_rgb = camera_rgb / torch.tensor(GAINS, dtype=torch.float64).view(3, 1, 1)
    level = t * CAMERA.sensor.analog_iso(iso) / 100.0 * SENSITIVITY
    return mosaic((camera_rgb * level)[None], cfa_batch([meta.cfa_pattern]))


def photo(scene: torch.Tensor, t: float, iso: float = 100.0, seed: int = 0, make: str | None = None) -> CameraImage:
    """The canonical camera's 8-bit sRGB photo of a scene (clipped at white, the sensor's noise at ``iso``)."""
    raw = shot_raw(scene, t, iso).clamp(max=1.0)
    generator = torch.Generator().manual_seed(seed)
    raw = raw + CAMERA.noise.std(raw, CAMERA.sensor.analog_iso(iso)) * torch.randn(raw.shape, generator=generator,
                                                                               dtype=torch.float64)  # fmt: skip
    meta = CAMERA.raw_metadata(exif(t, iso), GAINS, "daylight")
    srgb = torch.round(develop(raw.float(), CanonicalParams.from_metadata([meta])) * 255.0) / 255.0
    return CameraImage(srgb, (exif(t, iso, make),), "srgb")


def log2_error(linear: torch.Tensor, scene: torch.Tensor) -> torch.Tensor:
    """Per-pixel log2 luminance error ``(H, W)`` after the best global scale (median of the ratio)."""
    ratio = torch.log2(luminance(linear[0].double()).clamp(min=1e-12) / luminance(scene))
    return ratio - ratio.median()


# -- the merge ------------------------------------------------------------------------------------------------------


def test_merge_recovers_radiance_beyond_any_single_frame() -> None:
    scene = gradient_scene()
    frames = [photo(scene, t, seed=k) for k, t in enumerate((0.25, 1.0, 4.0))]
    merged = MAKER.merge(frames)
    error = log2_error(merged.image.pixels, scene).abs()
    single = log2_error(FLAT.expand(frames[1]).image.pixels, scene).abs()
    # The bracket covers the scene up to where the shortest frame clips (column ~72 of 96: the red channel, with the
    # largest white-balance gain, reaches white first); the middle frame alone clips 2 stops earlier (column ~58) and
    # drowns the darkest columns in quantisation.
    covered = slice(4, 70)
    assert float(error[:, covered].mean()) < 0.03
    assert float(error[:, covered].max()) < 0.15
    assert float(single[:, covered].mean()) > 3 * float(error[:, covered].mean())
    assert float(single[:, 66:70].mean()) > 0.4
    # The merged RAW is at the reference's (middle frame's) exposure, in its units, where no frame clipped.
    truth = shot_raw(scene, 1.0)[..., covered]
    assert torch.allclose(merged.raw.pixels[..., covered].double(), truth.float().double(), rtol=0.05, atol=2e-4)
    record = merged.record
    assert record["reference"] == "frame 1" and record["units"].startswith("cd/m^2")
    assert record["dynamic_range_stops"] > 11  # the columns even the shortest frame clips stay at its level
    assert sum(f["weight_share"] for f in record["frames"]) == pytest.approx(1.0, abs=1e-3)


def test_weights_favour_the_longer_exposure_and_drop_clipped_frames() -> None:
    dark = gradient_scene(4.0) * 0.02  # everything dark: the long frame has the best signal
    frames = [photo(dark, t, seed=k) for k, t in enumerate((1.0, 4.0))]
    shares = [f["weight_share"] for f in MAKER.merge(frames).record["frames"]]
    assert shares[1] > 0.7
    bright = gradient_scene(2.0) * 20.0  # the long frame is blown everywhere
    frames = [photo(bright, t, seed=k) for k, t in enumerate((0.05, 4.0))]
    result = MAKER.merge(frames)
    assert [f["weight_share"] for f in result.record["frames"]] == [1.0, 0.0]
    assert result.record["blown_in_every_frame_share"] == 0.0


def test_a_light_blown_in_every_frame_stays_a_lower_bound_unless_extension_is_asked_for() -> None:
    yy, xx = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    lamp = 0.05 + 2000.0 * torch.exp(-((yy - 32) ** 2 + (xx - 48) ** 2) / (2 * 6.0**2))  # clips even at 1/4 s
    scene = lamp.expand(3, H, W).clone()
    frames = [photo(scene, t, seed=k) for k, t in enumerate((0.25, 1.0))]
    plain = MAKER.merge(frames)
    extending = HdrMaker(CAMERA, canonical_isp(), MergeSettings(white_balance="daylight", extend_blown=True))
    extended = extending.merge(frames)
    assert plain.record["blown_in_every_frame_share"] > 0.01
    raised = extended.raw.pixels > plain.raw.pixels * 1.01
    assert float(raised.double().mean()) > 0.01
    assert torch.equal(plain.raw.pixels[~raised], extended.raw.pixels[~raised])
    # Where the shortest frame clipped, the default keeps its level: below the truth (at the reference's exposure).
    truth = shot_raw(scene, 1.0)
    assert bool((plain.raw.pixels.double()[raised] <= truth[raised] * 1.05).all())


def test_exposure_levels_follow_the_analogue_iso() -> None:
    assert CAMERA.sensor.highlight_priority_iso == 800
    plain, held = exif(0.01, 400.0), exif(0.01, 1600.0)  # at 1600 the sensor runs at 800
    assert exposure_level(held, CAMERA.sensor) == pytest.approx(2 * exposure_level(plain, CAMERA.sensor))
    # A bracket by ISO instead of time merges just the same.
    scene = gradient_scene(8.0) * 0.2
    frames = [photo(scene, 0.5, iso, seed=k) for k, iso in enumerate((100.0, 400.0, 1600.0))]
    error = log2_error(MAKER.merge(frames).image.pixels, scene).abs()
    assert float(error[:, 8:-8].mean()) < 0.05


def test_alignment_recovers_a_global_shift() -> None:
    texture = torch.rand(1, 1, H // 8, W // 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    texture = torch.nn.functional.interpolate(texture, size=(H, W), mode="bicubic", align_corners=False)
    scene = (2.0 ** (6.0 * texture[0])).expand(3, H, W).clone() * 0.05
    meta = [CAMERA.raw_metadata(exif(1.0), GAINS, "daylight")]
    raw = shot_raw(scene, 1.0)
    for dx, dy in ((4.0, -2.0), (3.0, 1.0), (-1.5, 2.5)):
        moved, covered = translate(raw, meta, dx, dy)
        found = estimate_shift(raw, moved, meta, clip_level=1.0)
        # The estimate carries the moved frame back onto the reference.
        assert found == pytest.approx((-dx, -dy), abs=0.1)
        assert not bool(covered.all()) and bool(covered[..., 8:-8, 8:-8].all())
    shifted = photo(scene, 4.0, seed=1)  # the longer frame (of two, the shorter is the reference), moved
    shifted = shifted.with_pixels(torch.roll(shifted.pixels, shifts=(2, 4), dims=(-2, -1)))
    frames = [photo(scene, 1.0, seed=0), shifted]
    aligned = HdrMaker(CAMERA, canonical_isp(), MergeSettings(white_balance="daylight", align=True)).merge(frames)
    shift = next(f["shift_px"] for f in aligned.record["frames"] if "shift_px" in f)
    assert shift == pytest.approx([-4.0, -2.0], abs=0.3)
    inner = (slice(8, -8), slice(8, -8))
    assert float(log2_error(aligned.image.pixels, scene).abs()[inner].mean()) < 0.05
    assert float(log2_error(MAKER.merge(frames).image.pixels, scene).abs()[inner].mean()) > 0.1


def test_deghosting_keeps_the_reference_where_something_moved() -> None:
    scene = gradient_scene(6.0) * 0.1
    moving = scene.clone()
    moving[:, 20:36, 30:50] *= 0.1  # a dark object in the long frame only
    frames = [photo(scene, 1.0, seed=0), photo(moving, 2.0, seed=1)]
    settings = MergeSettings(white_balance="daylight", deghost=True, outlier_stops=None)
    clean = HdrMaker(CAMERA, canonical_isp(), settings).merge(frames)
    ghosted = HdrMaker(CAMERA, canonical_isp(), MergeSettings(white_balance="daylight", outlier_stops=None))
    area = (slice(22, 34), slice(32, 48))
    assert float(log2_error(clean.image.pixels, scene).abs()[area].mean()) < 0.1
    assert float(log2_error(ghosted.merge(frames).image.pixels, scene).abs()[area].mean()) > 0.5
    assert 0.02 < clean.record["frames"][1]["ghost_share"] < 0.3


@dataclass(frozen=True)
class _ShadowLiftingInverse:
    """The canonical ISP, except that its inverse overshoots dark codes (by up to 0.8 stops at code 0): a response
    error shared by every frame, as a learned inverse's, which the merge's response correction fits away."""

    name: str = "shadow-lifting"

    def forward(self, raw, meta, options=None):  # type: ignore[no-untyped-def]
        return canonical_isp().forward(raw, meta, options)

    def inverse(self, srgb, meta, options=None):  # type: ignore[no-untyped-def]
        codes = mosaic(srgb.double(), cfa_batch([m.cfa_pattern for m in meta]))
        return canonical_isp().inverse(srgb, meta, options) * torch.exp2(0.8 * (1.0 - codes))


def test_deghosting_does_not_take_a_response_error_for_motion() -> None:
    scene = gradient_scene(8.0) * 0.1
    frames = [photo(scene, t, seed=k) for k, t in enumerate((0.25, 1.0, 4.0))]
    settings = MergeSettings(white_balance="daylight", deghost=True)
    merged = HdrMaker(CAMERA, _ShadowLiftingInverse(), settings).merge(frames)
    # Nothing moved: compared after the response correction, the frames agree within their errors.
    assert max(f.get("ghost_share", 0.0) for f in merged.record["frames"]) < 0.06
    plain = HdrMaker(CAMERA, _ShadowLiftingInverse(), MergeSettings(white_balance="daylight")).merge(frames)
    inner = (slice(8, -8), slice(8, -8))
    error = float(log2_error(merged.image.pixels, scene).abs()[inner].mean())
    assert error < float(log2_error(plain.image.pixels, scene).abs()[inner].mean()) + 0.02


def test_a_resampled_edge_is_not_a_ghost_but_a_moved_object_still_is() -> None:
    meta = [CAMERA.raw_metadata(exif(1.0), GAINS, "daylight")]
    columns = torch.arange(W, dtype=torch.float64)
    reference = (0.05 + 0.4 * torch.sigmoid((columns - 48.0) / 1.5)).view(1, 1, 1, W).expand(1, 1, H, W)
    resampled = (0.05 + 0.4 * torch.sigmoid((columns - 48.3) / 1.5)).view(1, 1, 1, W).expand(1, 1, H, W).clone()
    variance = (0.01 * reference) ** 2
    trust = torch.ones_like(reference)

    def ghosts(level: torch.Tensor, registration_px: float) -> torch.Tensor:
        return ghost_sites(level, variance, reference, variance, trust, meta, 4.0, registration_px)

    # A third of a pixel off at a sharp edge: motion to a test that knows only the noise, not to one that allows
    # half a pixel of misregistration.
    assert bool(ghosts(resampled, 0.0).any())
    assert not bool(ghosts(resampled, 0.5).any())
    resampled[..., 20:36, 10:30] *= 2.0  # something that moved, on the flat part
    assert bool(ghosts(resampled, 0.5)[..., 24:32, 14:26].all())


def test_an_outlier_frame_is_dropped_where_it_fails() -> None:
    truth = torch.full((1, 1, 4, 4), 0.01)
    failed = truth.clone()
    failed[..., :2, :] = 0.0  # an inverse that returned black for a dim colour
    weights = [torch.ones_like(truth)] * 3
    mean, total, dropped = robust_mean([truth * 1.1, truth * 0.9, failed], weights, outlier_stops=1.0)
    assert torch.allclose(mean, truth)
    assert bool(dropped[2][..., :2, :].all()) and not bool(dropped[2][..., 2:, :].any())
    assert not any(bool(d.any()) for d in dropped[:2])
    assert torch.allclose(total[..., :2, :], torch.full((1, 1, 2, 4), 2.0))
    naive, _, nothing = robust_mean([truth * 1.1, truth * 0.9, failed], weights, outlier_stops=None)
    assert float(naive[..., 0, 0]) == pytest.approx(0.02 / 3) and not any(bool(d.any()) for d in nothing)
    # An outlier holding most of the weight pulls the first mean too far for the others to stay: all are kept.
    heavy = [torch.ones_like(truth), torch.ones_like(truth), torch.full_like(truth, 4.0)]
    kept, _, none = robust_mean([truth * 1.1, truth * 0.9, failed], heavy, outlier_stops=1.0)
    assert float(kept[..., 0, 0]) == pytest.approx(0.02 / 6) and not any(bool(d.any()) for d in none)


def test_a_response_error_common_to_all_frames_is_fitted_away() -> None:
    generator = torch.Generator().manual_seed(5)
    radiance = 2.0 ** (8.0 * torch.rand(1, 1, 64, 96, generator=generator, dtype=torch.float64) - 6.0)
    colours = cfa_batch(["RGGB"]).repeat(1, 32, 48)[:, None]  # the colour index of every site
    levels, codes, errors, trusts = [], [], [], []
    for exposure in (0.25, 1.0, 4.0):
        code = (radiance * exposure).clamp(max=1.0) ** (1 / 2.2)
        bias = 0.6 * (1.0 - code) * (1.0 + 0.2 * colours)  # the inverse overshoots the shadows, more in G and B
        levels.append(radiance * 2.0**bias)  # at the reference exposure: the truth, times the bias
        codes.append(code)
        errors.append(torch.full_like(code, 0.05))
        trusts.append((code < 0.95).double())
    correction = fit_response(levels, errors, trusts, codes, colours, reference=1, settings=ResponseSettings())
    assert correction is not None and correction.sites > 1000
    fixed = [y * torch.exp2(-correction.at(s, colours)) for y, s in zip(levels, codes, strict=True)]
    shared = (trusts[0] > 0) & (trusts[1] > 0) & (codes[0] > 0.05)
    before = torch.log2(levels[0] / levels[1])[shared].abs().mean()
    after = torch.log2(fixed[0] / fixed[1])[shared].abs().mean()
    assert float(after) < 0.2 * float(before)
    for c in range(3):  # the shape of the bias per colour (its constant is the reference's)
        shape = np.interp(0.3, correction.knots, correction.stops[c]) - np.interp(0.8, correction.knots,
                                                                                    correction.stops[c])  # fmt: skip
        assert shape == pytest.approx(0.6 * 0.5 * (1.0 + 0.2 * c), abs=0.05)
    # An exact inverse needs no correction: the canonical merge of a rendered bracket fits a flat one.
    result = MAKER.merge([photo(gradient_scene(), t, seed=k) for k, t in enumerate((0.25, 1.0, 4.0))])
    fitted = result.record["frames"][1]["response_correction_stops"]
    assert max(abs(v) for c in "RGB" for v in fitted[c]) < 0.1


@dataclass(frozen=True)
class _BracketConditionedInverse(_ShadowLiftingInverse):
    """The same response error from an inverse that says it is conditioned for brackets."""

    bracket_conditioned: bool = True


def test_no_response_correction_is_fitted_for_an_inverse_conditioned_for_brackets() -> None:
    frames = [photo(gradient_scene(8.0) * 0.1, t, seed=k) for k, t in enumerate((0.25, 1.0, 4.0))]
    plain = MergeSettings(white_balance="daylight")
    corrected = HdrMaker(CAMERA, _ShadowLiftingInverse(), plain).merge(frames)
    conditioned = HdrMaker(CAMERA, _BracketConditionedInverse(), plain).merge(frames)
    uncorrected = HdrMaker(CAMERA, _ShadowLiftingInverse(), dataclasses.replace(plain, response=None)).merge(frames)
    assert "response_correction_stops" in corrected.record["frames"][1]
    assert "response_correction_stops" not in conditioned.record["frames"][1]
    assert torch.equal(conditioned.image.pixels, uncorrected.image.pixels)
    assert not torch.equal(conditioned.image.pixels, corrected.image.pixels)
    assert bracket_conditioned(load_isp("nikon-d7000", directions=("inverse",), pair=DEFAULT_PAIR))


@dataclass(frozen=True)
class _BlackPatchInverse:
    """The canonical ISP, except that its inverse returns no light in one patch (as a learned one can, on dark regions
    unlike its training data)."""

    name: str = "black-patch"

    def forward(self, raw, meta, options=None):  # type: ignore[no-untyped-def]
        return canonical_isp().forward(raw, meta, options)

    def inverse(self, srgb, meta, options=None):  # type: ignore[no-untyped-def]
        raw = canonical_isp().inverse(srgb, meta, options).clone()
        raw[..., 16:32, 16:40] = 0.0
        return raw


def test_where_the_inverse_returns_black_the_photo_stands() -> None:
    scene = gradient_scene(8.0) * 0.1
    failing = HdrMaker(CAMERA, _BlackPatchInverse(), MergeSettings(white_balance="daylight"))
    single = failing.expand(photo(scene, 1.0))
    assert single.record["inverse_failure_share"] == pytest.approx(16 * 24 / (H * W), abs=0.01)
    patch = (slice(17, 31), slice(17, 39))
    assert float(log2_error(single.image.pixels, scene)[patch].abs().mean()) < 0.5  # not black: the plain decoding
    # In a bracket each frame's failed sites are repaired alike (and weighted as known within a stop).
    bracket = [photo(scene, t, seed=k) for k, t in enumerate((0.5, 2.0))]
    merged = failing.merge(bracket)
    assert float(log2_error(merged.image.pixels, scene)[patch].abs().mean()) < 0.5
    assert all(f["inverse_failure_share"] > 0.05 for f in merged.record["frames"])


# -- expand ---------------------------------------------------------------------------------------------------------


def test_expand_raises_clipped_areas_smoothly_and_leaves_the_rest() -> None:
    yy, xx = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    blob = 0.05 + 20.0 * torch.exp(-((yy - 32) ** 2 + (xx - 48) ** 2) / (2 * 8.0**2))  # a lamp on a wall
    scene = blob.expand(3, H, W).clone()
    shot = photo(scene, 1.0)
    plain, extended = FLAT.expand(shot), MAKER.expand(shot)
    clipped = shot.pixels.amax(dim=1)[0] >= HighlightSettings.clipped_code
    assert 0.02 < float(clipped.double().mean()) < 0.2
    # Whole 2x2 Bayer cells are raised: those with any clipped pixel.
    cells = torch.nn.functional.max_pool2d(clipped[None].double(), 2).repeat_interleave(2, -1).repeat_interleave(2, -2)
    untouched = cells[0] == 0
    assert torch.equal(plain.raw.pixels[0, 0][untouched], extended.raw.pixels[0, 0][untouched])
    gain = (extended.raw.pixels / plain.raw.pixels.clamp(min=1e-9))[0, 0]
    row = gain[32, 48:].double()  # from the centre outwards
    assert float(row[0]) > 2.0 and extended.record["largest_extension_stops"] <= HighlightSettings.max_stops
    assert bool((row[:-1] >= row[1:] - 1e-6).all())  # it grows towards the middle, never jumps
    edge = clipped[32].nonzero().max()
    assert float(gain[32, edge]) < 1.6  # continuous at the edge of the clipped area
    # The extension brings the lamp (20x white at its peak) closer to the truth than the flat plateau.
    flat_error, extended_error = (log2_error(r.image.pixels, scene)[clipped].abs().mean() for r in (plain, extended))
    assert float(flat_error) > 0.8 and float(extended_error) < 0.4


def test_extension_follows_the_rise_around_each_area() -> None:
    luma = np.full((20, 40), 0.1)
    clipped = np.zeros((20, 40), dtype=bool)
    clipped[5:15, 3:13] = True  # rose steeply from 0.1: a light source
    clipped[5:15, 25:35] = True
    luma[clipped] = 1.0
    luma[2:18, 22:38] = np.where(clipped[2:18, 22:38], 1.0, 0.8)  # rose barely: a hazy sky
    stops = extension_stops(luma, clipped, HighlightSettings())
    assert stops[10, 8] > 2.0 * stops[10, 30] > 0
    assert (stops[~clipped] == 0).all() and stops.max() <= HighlightSettings.max_stops


# -- outputs --------------------------------------------------------------------------------------------------------


def test_demosaic_in_stops_keeps_a_lamp_out_of_its_dark_neighbours() -> None:
    # A grey wall 10 stops under a lamp, the edge between two columns; every colour sees the same level.
    scene = torch.full((1, 1, 16, 16), 2.0**-10, dtype=torch.float64)
    scene[..., 8:] = 1.0
    cfa = cfa_batch(["RGGB"])
    stops = {f.__name__: torch.log2(f(scene, cfa) / scene).abs() for f in (log_demosaic, limited_demosaic)}
    # In light, the wall's pixels at the edge get most of the lamp's light in their missing colours (8 stops too
    # bright); in stops a fraction of it, and the worst pixel on either side is far closer.
    assert stops["limited_demosaic"][..., :8].amax() > 6.0
    assert stops["log_demosaic"][..., :8].amax() < 4.0
    assert stops["log_demosaic"].amax() < 0.5 * stops["limited_demosaic"].amax()
    # Away from the edge, and at every site's own colour, nothing moves; a site at 0 keeps its 0.
    assert torch.allclose(stops["log_demosaic"][..., :5], torch.zeros(1, 3, 16, 5, dtype=torch.float64), atol=1e-12)
    dark = scene.clone()
    dark[..., 3, 3] = 0.0  # a blue site of RGGB
    assert log_demosaic(dark, cfa)[0, 2, 3, 3] == 0.0


def test_linear_output_units_and_files(tmp_path: Path) -> None:
    meta = CAMERA.raw_metadata(exif(0.01), GAINS, "daylight")
    # ISO 12232: white at f/8, 1/100 s, ISO 100 is 78 / 0.65 * 64 / 1 cd/m^2.
    assert white_luminance_cd_m2(meta, CAMERA.sensor) == pytest.approx(78 / 0.65 * 64 / (0.01 * 100))
    assert white_luminance_cd_m2(meta.replace(iso=None), CAMERA.sensor) is None
    neutral = mosaic(0.25 / torch.tensor(GAINS).view(1, 3, 1, 1).expand(1, 3, 8, 8), cfa_batch([meta.cfa_pattern]))
    linear = raw_to_linear(neutral, [meta])
    assert torch.allclose(linear, torch.full_like(linear, 0.25), rtol=1e-4)  # white-balanced grey stays grey
    scene = gradient_scene(10.0)
    result = MAKER.merge([photo(scene, t, seed=k) for k, t in enumerate((0.25, 1.0, 4.0))])
    written = write_hdr(tmp_path / "out.exr", result.image)
    assert written == [tmp_path / "out.exr", preview_path(tmp_path / "out.exr")]
    header = OpenEXR.File(str(tmp_path / "out.exr")).header()
    assert header["chromaticities"] == pytest.approx(REC709_D65_CHROMATICITIES, abs=1e-6)
    back = read_hdr_image(tmp_path / "out.exr").pixels
    assert torch.equal(back, result.image.pixels)
    write_hdr(tmp_path / "out.hdr", result.image, preview=False)
    rgbe = read_hdr_image(tmp_path / "out.hdr").pixels
    positive = result.image.pixels.clamp(min=0)
    # RGBE keeps each channel to within 0.4 % of its pixel's largest channel.
    assert bool(((rgbe - positive).abs() <= 0.004 * positive.amax(dim=1, keepdim=True) + 1e-12).all())
    with pytest.raises(BadInputError, match="already exists"):
        write_hdr(tmp_path / "out.exr", result.image)
    with pytest.raises(BadInputError, match=r"\.exr or \.hdr"):
        write_hdr(tmp_path / "out.png", result.image)


def test_reinhard_preview_is_monotone_and_keeps_colour() -> None:
    ramp = torch.logspace(-3, 4, 256, dtype=torch.float64).view(1, 1, 1, 256)
    linear = torch.cat([ramp, 0.5 * ramp, 0.25 * ramp], dim=1)
    shown = reinhard_preview(linear)
    assert float(shown.min()) >= 0 and float(shown.max()) <= 1
    green = shown[0, 1, 0]
    assert bool((green[1:] >= green[:-1]).all()) and float(green[0]) < 0.05
    assert float(shown.max()) > 0.95  # the brightest pixels reach white
    middle = shown[0, :, 0, 100]
    assert float(middle[0]) > float(middle[1]) > float(middle[2])  # channel order (hue) kept


# -- bad input ------------------------------------------------------------------------------------------------------


def _bracket(times: tuple[float, ...] = (0.25, 1.0)) -> list[CameraImage]:
    return [photo(gradient_scene(6.0) * 0.1, t, seed=k) for k, t in enumerate(times)]


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (lambda: _bracket((1.0,)), "at least 2 frames"),
        (lambda: [_bracket()[0], _bracket()[1].with_pixels(_bracket()[1].pixels[..., :32, :])], "differ in size"),
        (lambda: [f.with_pixels(f.pixels, metadata=[f.meta.replace(exposure_time_s=None)]) for f in _bracket()],
         "no exposure time"),
        (lambda: _bracket((1.0, 1.0, 1.0)), "same exposure"),
        (lambda: [f.with_pixels(torch.ones_like(f.pixels)) for f in _bracket()], "clipped .* at every pixel"),
        (lambda: [_bracket()[0], photo(gradient_scene(6.0) * 0.1, 1.0, make="Canon")], "from 2 cameras"),
        (lambda: [_bracket()[0], _bracket()[1].with_pixels(_bracket()[1].pixels, metadata=[exif(1.0, None)])],
         "no iso in its EXIF while other frames have one"),
    ],
)  # fmt: skip
def test_bad_brackets_are_refused_in_one_line(frames, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadInputError, match=message) as caught:
        MAKER.merge(frames())
    assert "\n" not in str(caught.value)


def test_frames_without_iso_or_aperture_are_assumed_alike() -> None:
    frames = [f.with_pixels(f.pixels, metadata=[f.meta.replace(iso=None, f_number=None)]) for f in _bracket()]
    with pytest.warns(UserWarning, match="assuming"):
        result = MAKER.merge(frames)
    assert {(f["iso"], f["f_number"]) for f in result.record["frames"]} == {(CAMERA.noise.base_iso, 8.0)}


def test_exposures_from_the_command_line_and_an_exposure_list(tmp_path: Path) -> None:
    assert parse_exposures("1/30, 1/8,0.5") == pytest.approx([1 / 30, 1 / 8, 0.5])
    for bad in ("1/0", "fast", "-1", "1/30,,1/8"):
        with pytest.raises(BadInputError, match="--exposures"):
            parse_exposures(bad)
    listing = tmp_path / "image_list.txt"
    listing.write_text("# Filename  exposure 1/shutter_speed f/stop gain(db) ND_filters\n"
                       "a.png  32  0.03125 8 0 0\nb.png 1 1 5.6 0 0\n")  # fmt: skip
    listed = read_exposure_list(listing)
    assert listed["a.png"].exposure_time_s == 32.0 and listed["b.png"].f_number == 5.6
    frames = [f.with_pixels(f.pixels, metadata=[CameraMetadata()]) for f in _bracket()]
    filled = with_exposures(frames, ["a.png", "b.png"], listed=listed, iso=200.0)
    assert [(f.meta.exposure_time_s, f.meta.f_number, f.meta.iso) for f in filled] == [(32.0, 8.0, 200.0),
                                                                                        (1.0, 5.6, 200.0)]  # fmt: skip
    assert filled[0].meta.exposure_time_source == "user"
    with pytest.raises(BadInputError, match="2 times for 3 frames"):
        with_exposures([*frames, frames[0]], exposures_s=[1.0, 2.0])
    with pytest.raises(BadInputError, match=r"no line for c\.png"):
        with_exposures(frames, ["a.png", "c.png"], listed=listed)
    listing.write_text("a.png 1 1 8 3 0\n")
    with pytest.raises(BadInputError, match="gain and ND"):
        read_exposure_list(listing)


# -- command line ---------------------------------------------------------------------------------------------------


def _invoke(*args: str | Path):  # type: ignore[no-untyped-def]
    from apps.hdr import cli  # noqa: F401  (registers the commands)
    from paramisp.cli.main import app

    return CliRunner().invoke(app, ["hdr", *map(str, args)])


def _write_bracket(folder: Path, times: tuple[float, ...] = (0.25, 1.0, 4.0)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, t in enumerate(times):
        paths.append(write_png(folder / f"frame{k}.png", photo(gradient_scene(10.0), t, seed=k).pixels[0]))
    return paths


def test_cli_merge_expand_and_folders_of_brackets(tmp_path: Path) -> None:
    # Two frames a bracket: each frame is a pass of the learned inverse ISP, about a second even this small.
    paths = _write_bracket(tmp_path / "a", (0.5, 2.0))
    res = _invoke("merge", *paths, "-o", tmp_path / "merged.exr", "--exposures", "1/2,2", "--iso", "100",
                  "--f-number", "8", "--camera", "nikon-d7000", "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout[res.stdout.index("[") :])[0]
    assert record["ok"] and record["reference"] == "frame0.png" and record["camera"] == "nikon-d7000"
    assert (tmp_path / "merged.exr").is_file() and (tmp_path / "merged_preview.png").is_file()
    merged = read_hdr_image(tmp_path / "merged.exr").pixels
    assert merged.shape == (1, 3, H, W) and float(luminance(merged[0]).median()) > 0
    # Folders of brackets: one output each, named by the folder, as Radiance files.
    _write_bracket(tmp_path / "b", (0.5, 2.0))
    res = _invoke("merge", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "sets", "--exposures", "1/2,2",
                  "--camera", "nikon-d7000", "--format", "hdr", "--no-preview")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "sets").iterdir()) == ["a.hdr", "b.hdr"]
    res = _invoke("expand", paths[1], "-o", tmp_path / "one.exr", "--camera", "nikon-d7000", "--exposure-time",
                  "1", "--iso", "100", "--f-number", "8")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert read_hdr_image(tmp_path / "one.exr").pixels.shape == (1, 3, H, W)


def test_cli_bad_brackets_exit_2_with_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    paths = _write_bracket(tmp_path / "a", (0.25, 1.0))
    write_png(tmp_path / "small.png", photo(gradient_scene(), 1.0).pixels[0, :, :32, :48])
    cases = [
        ([*paths, "-o", tmp_path / "x.exr"], "no exposure time"),
        ([paths[0], tmp_path / "small.png", "-o", tmp_path / "x.exr", "--exposures", "1,2"], "differ in size"),
        ([paths[0], "-o", tmp_path / "x.exr", "--exposures", "1"], "at least 2 frames"),
        ([*paths, "-o", tmp_path / "x.exr", "--exposures", "1,1"], "same exposure"),
        ([*paths, "-o", tmp_path / "x.exr", "--exposures", "1,1/0"], "--exposures"),
        ([tmp_path / "a", paths[0], "-o", tmp_path / "x.exr"], "not both"),
    ]
    for args, message in cases:
        caplog.clear()
        res = _invoke("merge", *args, "--camera", "nikon-d7000")
        assert res.exit_code == 2, (args, res.output)
        errors = [r.getMessage() for r in caplog.records if "paramisp: error:" in r.getMessage()]
        assert len(errors) == 1 and message in errors[0] and "\n" not in errors[0], errors
    assert not (tmp_path / "x.exr").exists()


def test_exposure_list_of_the_memorial_set_reads(shared_data: Path) -> None:
    listed = read_exposure_list(shared_data / "brackets" / "memorial" / "image_list.txt")
    assert len(listed) == 16
    assert listed["memorial0061.png"].exposure_time_s == 32.0
    assert listed["memorial0076.png"].exposure_time_s == pytest.approx(1 / 1024)
    assert math.isclose(listed["memorial0066.png"].f_number, 8.0)
