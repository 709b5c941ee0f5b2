"""The demo's blur steps at a small size (synth-blur on the bundled photo or a clip, deblurring a true capture), and
the shipped deblurring weights they run."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from apps.dataset_synth import BlurSynthesizer, SynthSettings
from apps.deblur import Deblurrer, read_weights_info
from apps.deblur.deblur import WEIGHTS_DIR
from conftest import assert_tables_filled
from core_isp.cameras import get_camera
from core_isp.errors import MetadataWarning
from core_isp.image import downscaled
from core_isp.io import read_image
from core_isp.isp import InferenceOptions, canonical_isp, load_isp
from core_isp.metrics import psnr
from paramisp.demo.blur_step import (
    CAMERA,
    CLIP_WINDOW,
    INPUT,
    KEY_DEBLUR,
    KEY_SYNTH,
    MEAN,
    PHOTO,
    RAW_NET,
    ROUND_TRIP,
    SAMPLES,
    SRGB_NET,
    SYNTH,
    detail_energy,
    run_deblur,
    run_synth,
)
from paramisp.demo.context import DemoContext


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    ctx = DemoContext(out_dir=tmp_path_factory.mktemp("demo"), long_side_px=128, progress=False)
    return ctx, run_synth(ctx), run_deblur(ctx)


def _pixels(path: Path) -> torch.Tensor:
    """A written image's pixels ``(1, 3, H, W)`` (the demo's PNGs carry no EXIF, which is expected here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        return read_image(path).pixels


def _check_section(ctx: DemoContext, section, key: str) -> None:  # type: ignore[no-untyped-def]
    """Files written and non-empty, tables full of finite numbers, each figure's panels of one shape."""
    assert section.key == key and section.seconds == 0.0 and section.summary and section.measured_against
    paths = [ctx.out_dir / p for p in section.outputs]
    assert paths and all(p.is_file() and p.stat().st_size > 0 for p in paths)
    assert all(p.is_relative_to(ctx.out_dir / key) for p in paths)
    assert_tables_filled(section)
    for figure in section.figures:
        shapes = {p.image.shape for p in figure.panels}
        assert len(shapes) == 1 and len(figure.panels) >= 3 and figure.reference == 0
        h, w, c = shapes.pop()
        assert c == 3 and min(h, w) >= 32 and max(h, w) <= 128
        assert all(p.image.dtype == np.float32 and 0.0 <= p.image.min() <= p.image.max() <= 1.0 for p in figure.panels)


def _rows(section, title: str) -> dict[str, list]:  # type: ignore[no-untyped-def]
    table = next(t for t in section.tables if t.title == title)
    return {row[0]: row[1:] for row in table.rows}


def test_synth_step_outputs_and_tables(ran) -> None:  # type: ignore[no-untyped-def]
    ctx, synth, _ = ran
    _check_section(ctx, synth, KEY_SYNTH)
    folder = ctx.out_dir / KEY_SYNTH
    records = json.loads((folder / "samples" / "records.json").read_text())
    assert sorted(records) == [f"{PHOTO.stem}_{k}" for k in range(SAMPLES)]
    assert all(r["frames"] == SynthSettings().photo_subframes and r["shake_extent_px"] > 0 for r in records.values())
    sharp = _pixels(folder / "samples" / f"{PHOTO.stem}_0_sharp.png")
    assert max(sharp.shape[-2:]) == 128
    scores = _rows(synth, "Against the true blurry capture")
    assert {SYNTH, MEAN} <= set(scores)
    assert all(10.0 < psnr_db < 60.0 and 0.0 < ssim <= 1.0 for psnr_db, ssim, _ in scores.values())


def test_synth_blur_removes_detail_from_the_written_samples(ran) -> None:  # type: ignore[no-untyped-def]
    """Blur happened: both blurry PNGs keep clearly less fine detail than their sharp frames (the sRGB mean's is the
    photo itself)."""
    ctx, _, _ = ran
    folder = ctx.out_dir / KEY_SYNTH / "samples"
    photo = downscaled(read_image(PHOTO, to="sensor"), ctx.long_side_px).pixels
    for k in range(SAMPLES):
        image = {kind: _pixels(folder / f"{PHOTO.stem}_{k}_{kind}.png")
                 for kind in ("sharp", "synth_blur", "srgb_mean")}  # fmt: skip
        assert detail_energy(image["synth_blur"]) < 0.9 * detail_energy(image["sharp"])
        assert detail_energy(image["srgb_mean"]) < 0.9 * detail_energy(photo)


def test_true_capture_files_are_what_was_scored(ran) -> None:  # type: ignore[no-untyped-def]
    """The written synth-blur PNG against the written true JPEG gives the table's PSNR."""
    ctx, synth, _ = ran
    folder = ctx.out_dir / KEY_SYNTH / "true_capture"
    truth = _pixels(folder / "true_blurry.jpg")
    ours = _pixels(folder / "synth_blur.png")
    assert float(psnr(ours, truth)[0]) == pytest.approx(_rows(synth, "Against the true blurry capture")[SYNTH][0],
                                                        abs=0.02)  # fmt: skip


def test_deblur_step_outputs_and_scores(ran) -> None:  # type: ignore[no-untyped-def]
    ctx, _, deblur = ran
    _check_section(ctx, deblur, KEY_DEBLUR)
    scores = _rows(deblur, "Against the sharp target")
    assert set(scores) == {INPUT, SRGB_NET, RAW_NET, ROUND_TRIP}
    assert scores[INPUT][1] == 0.0
    # The blur is measurable: the blurry input sits far below the sharp target.
    assert scores[INPUT][0] < 30.0
    folder = ctx.out_dir / KEY_DEBLUR
    target = _pixels(folder / "sharp_target.png")
    blurry = _pixels(folder / "blurry_input.jpg")
    assert detail_energy(blurry) < 0.8 * detail_energy(target)
    for name, file in ((RAW_NET, "deblurred_raw_path.png"), (SRGB_NET, "deblurred_srgb_net.png")):
        written = _pixels(folder / file)
        assert written.shape == target.shape
        assert float(psnr(written, target)[0]) == pytest.approx(scores[name][0], abs=0.02)


def test_photo_samples_equal_from_photo() -> None:
    """Sharing the inverse pass and level fit across samples changes nothing: each sample is from_photo's, bit for
    bit."""
    camera = get_camera(CAMERA)
    isp = load_isp(camera)
    synth = BlurSynthesizer(camera, isp, isp, SynthSettings(), InferenceOptions(tile=None))
    photo = downscaled(read_image(PHOTO, to="sensor"), 64)
    shared = synth.photo_samples(photo, [7, 8])
    for seed, sample in zip((7, 8), shared, strict=True):
        alone = synth.from_photo(photo, seed)
        assert torch.equal(sample.blurry_raw.pixels, alone.blurry_raw.pixels)
        assert torch.equal(sample.blurry.pixels, alone.blurry.pixels)
        assert sample.record == alone.record
    assert not torch.equal(shared[0].blurry_raw.pixels, shared[1].blurry_raw.pixels)


def test_deblurrer_loads_the_shipped_weights_without_arguments() -> None:
    deblurrer = Deblurrer.load(isp=canonical_isp())
    assert deblurrer.domain == "raw" and deblurrer.weights.parent == WEIGHTS_DIR
    assert Deblurrer.load(domain="srgb").domain == "srgb"
    for path in sorted(WEIGHTS_DIR.glob("*.safetensors")):
        training = json.loads(read_weights_info(path).training)
        assert training["steps"] == 8000 and training["held_out_l1"] < training["held_out_input_l1"]
    photo = downscaled(read_image(PHOTO, to="sensor"), 64)
    out = deblurrer.deblur(photo)
    assert out.srgb.pixels.shape == photo.pixels.shape and out.raw is not None
    assert bool(out.srgb.pixels.isfinite().all())


@pytest.mark.shared_data
def test_synth_uses_the_clip_when_given(shared_data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    clip = shared_data / "video" / "imageio_realshort.mp4"
    ctx = DemoContext(out_dir=tmp_path, long_side_px=128, clip=clip, progress=False)
    section = run_synth(ctx)
    _check_section(ctx, section, KEY_SYNTH)
    records = json.loads((tmp_path / KEY_SYNTH / "samples" / "records.json").read_text())
    assert len(records) == SAMPLES and all(name.startswith(clip.stem) for name in records)
    assert all(r["frames"] == CLIP_WINDOW for r in records.values())
    assert clip.name in section.summary
    for name in records:
        sharp = _pixels(tmp_path / KEY_SYNTH / "samples" / f"{name}_sharp.png")
        blurry = _pixels(tmp_path / KEY_SYNTH / "samples" / f"{name}_synth_blur.png")
        assert detail_energy(blurry) < 0.9 * detail_energy(sharp)
