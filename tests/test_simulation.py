"""Simulated cameras against their own formulas: noise, vignetting, exposure, tone, determinism, files."""

from __future__ import annotations

import itertools
import json
import math
import warnings
from importlib import resources

import numpy as np
import pytest
import torch

from core_isp.errors import MetadataWarning
from core_isp.io import read_image_metadata, read_raw
from core_isp.io.checksums import file_sha256
from core_isp.simulation.bracket import bracket_photos, render_bracket
from core_isp.simulation.camera_pipeline import apply_tone, tone_params
from core_isp.simulation.capture_folder import read_capture_truth
from core_isp.simulation.exposure import ShotSettings, program_exposure
from core_isp.simulation.optics import radius_map, shading_correction_gain, vignetting_falloff
from core_isp.simulation.profiles import PROFILES, get_profile
from core_isp.simulation.render import render_shot
from core_isp.simulation.scenes import Scene, dead_leaves, load_manifest, scene_data_dir

D7000 = get_profile("nikon-d7000")


def flat_scene(h: int = 128, w: int = 192, luminance: float = 100.0) -> Scene:
    return Scene(torch.full((3, h, w), luminance), luminance, "flat")


def leaves_scene(h: int = 96, w: int = 128, luminance: float = 100.0, seed: int = 3) -> Scene:
    rgb = dead_leaves(h, w, seed)
    y = np.exp(np.log(np.maximum(np.tensordot([0.2126, 0.7152, 0.0722], rgb, 1), 1e-6)).mean())
    return Scene(torch.from_numpy(rgb * (luminance / y)), luminance, "leaves")


def manual(t: float, n: float, iso: float, f: float = 50.0) -> ShotSettings:
    return ShotSettings(exposure_time_s=t, f_number=n, iso=iso, focal_length_mm=f)


@pytest.mark.parametrize("iso", [100, 3200])
def test_noise_std_matches_the_model_on_flat_patches(iso):
    # Scene luminance chosen so the flat patch sits near 0.2 of white at each ISO.
    settings = manual(1 / 100, 8.0, iso, f=105.0)
    luminance = 0.2 / (settings.exposure_time_s * iso / 64.0 * D7000.mid_grey_raw / 12.5)
    shot = render_shot(D7000, flat_scene(256, 256, luminance), seed=5, settings=settings, illuminant_cct_k=6500)
    residual = (shot.noisy_raw - shot.clean_raw).double()
    centre = (..., slice(64, 192), slice(64, 192))  # vignetting is nearly flat here
    model = D7000.noise.std(shot.clean_raw[centre], iso)
    ratio = float(residual[centre].std() / model.mean())
    assert 0.9 <= ratio <= 1.1, ratio


def test_vignetting_corner_centre_ratio_before_and_after_correction():
    settings = manual(1 / 100, 3.5, 100, f=18.0)  # wide open at the wide end: strong falloff
    shot = render_shot(D7000, flat_scene(128, 192, 50.0), seed=1, settings=settings, illuminant_cct_k=6500)
    clean = shot.clean_raw[0, 0].double()
    r = radius_map(128, 192).double()
    falloff = vignetting_falloff(r, D7000.lens, 3.5, 18.0).double()
    # Same CFA colour at centre and corner: rows/cols with the same parity.
    cy, cx, ky, kx = 64, 96, 0, 0
    measured = float(clean[ky, kx] / clean[cy, cx])
    formula = float(falloff[ky, kx] / falloff[cy, cx])
    assert formula < 0.6  # the case is a meaningful one
    assert measured == pytest.approx(formula, rel=0.02)
    corrected = clean * shading_correction_gain(r, D7000.lens, 3.5, 18.0)
    after = float(corrected[ky, kx] / corrected[cy, cx])
    assert after == pytest.approx(formula ** (1 - D7000.lens.correction_strength), rel=0.02)
    assert measured < after < 1.0  # partial correction


def test_raw_level_scales_with_t_iso_over_n_squared():
    scene = flat_scene(64, 64, 20.0)
    r = radius_map(64, 64)
    levels = {}
    for t, n, iso in [(1 / 250, 4.0, 100), (1 / 125, 4.0, 100), (1 / 250, 5.6, 400), (1 / 60, 8.0, 200)]:
        shot = render_shot(D7000, scene, seed=0, settings=manual(t, n, iso), illuminant_cct_k=5000)
        # Vignetting depends on N too: divide its own formula out.
        levels[(t, n, iso)] = float((shot.clean_raw[0, 0] / vignetting_falloff(r, D7000.lens, n, 50.0)).mean())
    base = levels[(1 / 250, 4.0, 100)]
    for (t, n, iso), level in levels.items():
        expected = (t * iso / n**2) / (1 / 250 * 100 / 16.0)
        assert level / base == pytest.approx(expected, rel=1e-4)


def test_clipping_at_white_level():
    shot = render_shot(D7000, flat_scene(32, 32, 1e6), seed=0, settings=manual(1, 4.0, 100), illuminant_cct_k=5000)
    assert float(shot.clean_raw.max()) == 1.0
    assert float(shot.noisy_raw.max()) == 1.0


def test_tone_curve_differs_between_bright_short_and_dim_long_shots():
    fast = manual(1 / 1000, 4.0, 100)
    slow = manual(1 / 15, 4.0, 3200)
    t_fast = tone_params(fast, 0.0, D7000.mid_grey_raw, D7000.style)
    t_slow = tone_params(slow, 0.0, D7000.mid_grey_raw, D7000.style)
    ramp = torch.linspace(0.0, 1.0, 256).view(1, 1, 1, -1).expand(1, 3, 1, 256)
    diff = (apply_tone(ramp, t_fast) - apply_tone(ramp, t_slow)).abs()
    assert float(diff.max()) > 0.05
    assert t_slow.shadow_lift > t_fast.shadow_lift and t_slow.white_point > t_fast.white_point
    # And in rendered JPEGs of the same scene, exposed to the same RAW level:
    scene_fast, scene_slow = leaves_scene(luminance=800.0), leaves_scene(luminance=800.0)
    lum_scale = (1 / 1000 * 100) / (1 / 15 * 3200)
    scene_slow = Scene(scene_slow.linear_rgb * lum_scale, scene_slow.luminance_cd_m2 * lum_scale, "leaves")
    a = render_shot(D7000, scene_fast, seed=2, settings=fast, illuminant_cct_k=5000)
    b = render_shot(D7000, scene_slow, seed=2, settings=slow, illuminant_cct_k=5000)
    torch.testing.assert_close(a.clean_raw, b.clean_raw, rtol=1e-4, atol=1e-6)
    assert float((a.camera_srgb - b.camera_srgb).abs().mean()) > 0.02


def test_highlight_tone_priority_underexposes_raw_and_lifts_jpeg():
    scene = leaves_scene(luminance=30.0)
    iso = D7000.htp_min_iso
    on = ShotSettings(1 / 60, 4.0, iso, 50.0, highlight_tone_priority=True)
    off = ShotSettings(1 / 60, 4.0, iso, 50.0, highlight_tone_priority=False)
    a = render_shot(D7000, scene, seed=4, settings=on, illuminant_cct_k=5000)
    b = render_shot(D7000, scene, seed=4, settings=off, illuminant_cct_k=5000)
    unclipped = b.clean_raw < 0.99
    assert float(a.clean_raw[unclipped].sum() / b.clean_raw[unclipped].sum()) == pytest.approx(0.5, rel=1e-4)
    assert a.metadata.iso == b.metadata.iso  # EXIF cannot tell them apart by ISO alone
    assert abs(float(a.camera_srgb.mean() - b.camera_srgb.mean())) < 0.06  # the JPEG is lifted back


def test_program_ae_raises_iso_and_keeps_handheld_shutter():
    bright = program_exposure(5000.0, 50.0, 3.5, 16.0, 100, 6400)
    dim = program_exposure(2.0, 50.0, 3.5, 16.0, 100, 6400)
    assert bright.iso == 100 and bright.f_number >= 5.6
    assert dim.iso > 400 and dim.exposure_time_s <= 1 / 30 + 1e-9
    plus = program_exposure(200.0, 50.0, 3.5, 16.0, 100, 6400, exposure_compensation_ev=2.0)
    zero = program_exposure(200.0, 50.0, 3.5, 16.0, 100, 6400)
    assert plus.ev100 == pytest.approx(zero.ev100 - 2.0, abs=0.35)  # third-stop snapping


def test_same_seed_same_bits_other_seed_differs():
    scene = leaves_scene()
    a = render_shot(D7000, scene, seed=11)
    b = render_shot(D7000, scene, seed=11)
    c = render_shot(D7000, scene, seed=12)
    assert torch.equal(a.noisy_raw, b.noisy_raw) and torch.equal(a.camera_srgb, b.camera_srgb)
    assert a.camera_jpeg == b.camera_jpeg and a.metadata == b.metadata
    assert not torch.equal(a.noisy_raw, c.noisy_raw)
    assert np.array_equal(dead_leaves(64, 64, 7), dead_leaves(64, 64, 7))
    assert not np.array_equal(dead_leaves(64, 64, 7), dead_leaves(64, 64, 8))


def test_profiles_are_pinned_by_version():
    lock = json.loads((resources.files("core_isp.simulation") / "profile_lock.json").read_text())
    for p in PROFILES.values():
        assert lock.get(p.profile_id) == p.parameter_hash(), f"{p.profile_id} changed without a version bump"
    assert sum(p.held_out for p in PROFILES.values()) == 1
    assert sum(not p.held_out for p in PROFILES.values()) >= 4


def test_manifest_splits_by_source_and_files_match():
    sources = load_manifest()
    ids = [s.source_id for s in sources]
    assert len(ids) == len(set(ids))
    assert {s.split for s in sources} == {"train", "val", "test"}
    for s in sources:
        if s.file:
            assert file_sha256(scene_data_dir() / s.file) == s.sha256, s.source_id
    ranges = sorted(s.seed_range for s in sources if s.seed_range)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ranges))  # disjoint seed ranges


def test_every_bundled_scene_file_is_in_a_split_and_test_is_not_mostly_dead_leaves():
    """No bundled real scene sits unused; the evaluation's stratified draw (one source per shot, in turn) keeps
    procedural dead leaves to at most a quarter of the test shots, and covers each real kind."""
    from benchmarks.eval_isp import test_shots

    sources = load_manifest()
    bundled = {str(p.relative_to(scene_data_dir())) for p in scene_data_dir().rglob("*") if p.suffix != ".md"
               and p.is_file() and p.name != "manifest.json"}  # fmt: skip
    assert bundled == {s.file for s in sources if s.file}
    test = [s for s in sources if s.split == "test"]
    assert {s.kind for s in test} >= {"hdr", "raw", "photo", "deadleaves"}
    shots = test_shots("nikon-d7000", 2 * len(test))
    assert [s.source for s in shots] == [s.source_id for s in test] * 2
    assert sum(s.source.startswith("deadleaves") for s in shots) <= len(shots) / 4


def test_raw_scene_sources_are_linear_real_light():
    """The RAW-derived scenes (real sensors, developed without a tone curve) read as linear EXR, non-negative and
    unclipped below their own sensor's clip level, with a colour chart's range of chroma."""
    from core_isp.simulation.scenes import load_source_image

    raws = [s for s in load_manifest() if s.kind == "raw"]
    assert {s.source_id for s in raws} == {"raw:canon_eos_d30", "raw:canon_550d_colorchart"}
    for source in raws:
        rgb = load_source_image(source)
        assert rgb.shape[0] == 3 and min(rgb.shape[1:]) >= 500 and rgb.min() >= 0
        y = np.tensordot([0.2126, 0.7152, 0.0722], rgb, axes=(0, 0))
        assert np.percentile(y, 99.9) / max(np.percentile(y, 1), 1e-4) > 8  # a real scene's range, not flat


def test_simulate_writes_a_camera_folder_that_reads_back_exactly(tmp_path):
    from typer.testing import CliRunner

    from paramisp.cli import simulate  # noqa: F401  (registers the command)
    from paramisp.cli.main import app

    args = ["simulate", "-o", str(tmp_path), "-p", "nikon-d90", "-n", "2", "--size", "64x96", "--seed", "3"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    profile = get_profile("nikon-d90")
    for stem in ("SIM_0001", "SIM_0002"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MetadataWarning)
            raw = read_raw(tmp_path / f"{stem}.DNG")
            jpeg_meta = read_image_metadata(tmp_path / f"{stem}.JPG")
        clean, scene, meta, record = read_capture_truth(tmp_path, stem)
        m = raw.meta
        assert (m.cfa_pattern, m.white_level) == (profile.cfa_pattern, profile.white_level)
        assert m.black_level_per_site == tuple(float(b) for b in profile.black_level_per_site)
        assert (m.make, m.model) == (profile.make, profile.model)
        np.testing.assert_allclose(m.wb_gains, meta.wb_gains, rtol=1e-9)
        np.testing.assert_allclose(m.ccm_wb_cam_to_srgb, meta.ccm_wb_cam_to_srgb, atol=1e-9)
        for field in ("exposure_time_s", "iso", "f_number", "focal_length_mm"):
            assert getattr(m, field) == pytest.approx(getattr(meta, field), rel=1e-6), field
            assert getattr(jpeg_meta, field) == pytest.approx(getattr(meta, field), rel=1e-6), field
        assert record["profile"] == "nikon-d90@v1" and record["split"] == "test"
        # The DNG holds the noisy mosaic; the clean one differs by noise of the right size only.
        assert clean.shape == (1, 1, 64, 96) and scene.shape == (1, 3, 64, 96)
        assert 0 < float((raw.tensor() - clean).abs().mean()) < 0.05
    # Resumable: a second run with more shots keeps the complete ones and adds the rest.
    before = (tmp_path / "SIM_0001.DNG").read_bytes()
    (tmp_path / "SIM_0002.json").unlink()  # an interrupted shot
    res = CliRunner().invoke(app, [*args[:6], "3", *args[7:], "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout[res.stdout.index("{") :])
    assert summary["written"] == ["SIM_0002", "SIM_0003"] and summary["kept"] == 1
    assert (tmp_path / "SIM_0001.DNG").read_bytes() == before


def test_every_profile_renders_plausibly():
    scene = leaves_scene(64, 96, luminance=300.0)
    for p in PROFILES.values():
        shot = render_shot(p, scene, seed=1)
        assert 0.05 < float(shot.camera_srgb.mean()) < 0.95, p.name
        assert shot.metadata.cfa_pattern == p.cfa_pattern
        assert math.isfinite(float(shot.noisy_raw.sum()))



def test_a_bracket_frame_can_see_its_own_scene() -> None:
    """``render_bracket(frame_scenes=...)``: a hand-held frame sees a moved view; the others and the metering do not."""
    scene = leaves_scene()
    evs = [-2.0, 0.0, 2.0]
    plain = bracket_photos(render_bracket("nikon-d7000", scene, 100.0, evs, seed=5))
    moved = Scene(torch.roll(scene.linear_rgb, shifts=4, dims=-1), scene.luminance_cd_m2, "leaves")
    held = bracket_photos(render_bracket("nikon-d7000", scene, 100.0, evs, seed=5, frame_scenes={-2.0: moved}))
    for ev in (0.0, 2.0):
        assert torch.equal(held[ev].pixels, plain[ev].pixels)
    # The moved frame is the moved view as that frame shoots it (same exposure, its own noise seed).
    assert held[-2.0].meta.exposure_time_s == plain[-2.0].meta.exposure_time_s
    inner = (..., slice(8, -8))
    assert float((held[-2.0].pixels - plain[-2.0].pixels)[inner].abs().mean()) > 0.02
    assert float((held[-2.0].pixels - torch.roll(plain[-2.0].pixels, 4, dims=-1))[inner].abs().mean()) < 0.02
    # What a frame sees does not change the metering: a brighter view in one frame is recorded brighter.
    bright = Scene(scene.linear_rgb * 2.0, scene.luminance_cd_m2, "leaves")
    lit = bracket_photos(render_bracket("nikon-d7000", scene, 100.0, evs, seed=5, frame_scenes={-2.0: bright}))
    assert lit[-2.0].meta.exposure_time_s == plain[-2.0].meta.exposure_time_s
    assert float(lit[-2.0].pixels.mean()) > float(plain[-2.0].pixels.mean()) + 0.05
