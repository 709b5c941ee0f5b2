"""The demo's HDR step at a small size, and the HDR metrics it and the benchmark share."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import assert_tables_filled
from core_isp.io.hdr_reader import read_hdr_image
from core_isp.metrics.hdr import hdr_scores, log2_luminance_error, log_fit_scale, pu21_encode, pu21_psnr
from paramisp.demo.context import DemoContext
from paramisp.demo.hdr_step import CANONICAL, EXPAND, KEY, MIDDLE, OURS, run


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    ctx = DemoContext(out_dir=tmp_path_factory.mktemp("demo"), long_side_px=128, progress=False)
    return ctx, run(ctx)


def _scores(section) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    table = section.tables[0]
    keys = ("log2_rmse", "pu21_psnr_y", "pu21_psnr_rgb")
    return {row[0]: dict(zip(keys, row[2:], strict=True)) for row in table.rows}


def test_outputs_written_and_readable(ran) -> None:  # type: ignore[no-untyped-def]
    ctx, section = ran
    assert section.key == KEY and section.seconds == 0.0
    paths = [ctx.out_dir / p for p in section.outputs]
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    merged = read_hdr_image(ctx.out_dir / KEY / "merged.exr").pixels
    assert merged.shape[:2] == (1, 3) and max(merged.shape[-2:]) == 128
    assert bool(merged.isfinite().all()) and float(merged.amax()) > 0
    with Image.open(ctx.out_dir / KEY / "merged_preview.png") as preview:
        assert preview.size == (merged.shape[-1], merged.shape[-2])


def test_written_merge_is_what_was_scored(ran) -> None:  # type: ignore[no-untyped-def]
    """The EXR on disk, scored against the written truth, gives the table's numbers (float32 files, lossless)."""
    ctx, section = ran
    merged = read_hdr_image(ctx.out_dir / KEY / "merged.exr").pixels[0].double().numpy()
    truth = read_hdr_image(ctx.out_dir / KEY / "scene_truth.exr").pixels[0].double().numpy()
    again = hdr_scores(merged, truth)
    table = _scores(section)[OURS]
    assert again["log2_rmse"] == pytest.approx(table["log2_rmse"], abs=1e-3)
    assert again["pu21_psnr_y"] == pytest.approx(table["pu21_psnr_y"], abs=1e-2)


def test_tables_figures_plot_consistent(ran) -> None:  # type: ignore[no-untyped-def]
    _, section = ran
    assert section.summary and section.measured_against
    assert_tables_filled(section)
    assert set(_scores(section)) == {OURS, CANONICAL, MIDDLE, EXPAND}
    for figure in section.figures:
        shapes = {p.image.shape for p in figure.panels}
        assert len(shapes) == 1 and next(iter(shapes))[2] == 3
        assert all(p.image.dtype == np.float32 and 0.0 <= p.image.min() <= p.image.max() <= 1.0 for p in figure.panels)
    for x, y in section.plots[0].series.values():
        assert len(x) == len(y) and np.all(np.diff(y) >= 0) and y[0] >= 0.0 and y[-1] <= 100.0


def test_merge_beats_the_middle_frame(ran) -> None:  # type: ignore[no-untyped-def]
    """Three frames 2 EV apart hold the highlights the middle JPEG clips and the shadows it quantises: the merge must
    be closer to the radiance than that frame decoded alone."""
    _, section = ran
    scores = _scores(section)
    assert scores[OURS]["log2_rmse"] < scores[MIDDLE]["log2_rmse"]
    assert scores[OURS]["pu21_psnr_y"] > scores[MIDDLE]["pu21_psnr_y"]


def _radiance(seed: int) -> np.ndarray:
    return np.exp(np.random.default_rng(seed).normal(0.0, 2.0, (3, 24, 32)))


def test_metrics_identical_and_rescaled() -> None:
    truth = _radiance(0)
    same = hdr_scores(truth, truth)
    assert same["log2_rmse"] == pytest.approx(0.0, abs=1e-9)
    assert same["pu21_psnr_y"] > 150.0 and same["pu21_psnr_rgb"] > 150.0
    doubled = hdr_scores(2.0 * truth, truth)  # an exposure scale is no error
    assert doubled["log2_rmse"] == pytest.approx(0.0, abs=1e-9)
    assert doubled["pu21_psnr_y"] > 150.0


def test_metrics_known_error() -> None:
    """Half the pixels one stop too bright: the fitted scale splits the difference, so every pixel is half a stop
    off (the luminance kept well above the 0.005 cd/m^2 floor so it does not interfere)."""
    truth = np.full((3, 10, 10), 1.0) * np.linspace(0.5, 2.0, 100).reshape(1, 10, 10)
    pred = truth.copy()
    pred[:, :5] *= 2.0
    assert hdr_scores(pred, truth)["log2_rmse"] == pytest.approx(0.5, abs=1e-9)
    assert np.abs(log2_luminance_error(pred, truth)) == pytest.approx(np.full((10, 10), 0.5), abs=1e-9)
    assert log_fit_scale(pred[0], truth[0], np.zeros((10, 10), bool)) == 1.0


def test_pu21_range_and_psnr() -> None:
    y = np.array([1e-4, 0.005, 1.0, 100.0, 1e4, 1e6])
    encoded = pu21_encode(y)
    assert encoded[0] == encoded[1] and encoded[-1] == encoded[-2]  # clamped to [0.005, 10000] cd/m^2
    assert np.all(np.diff(encoded[1:-1]) > 0)
    assert pu21_psnr(y, y * 1.1) < pu21_psnr(y, y * 1.01)
