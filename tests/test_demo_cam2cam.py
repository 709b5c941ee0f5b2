"""The demo's camera-to-camera step at a small size, and the scoring helpers it shares with the benchmark."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2lab

from apps.cam2cam.evaluation import lab_statistics, reinhard
from conftest import assert_tables_filled
from core_isp.metrics import psnr
from paramisp.demo.cam2cam_step import CEILING, D30_TARGETS, FILES, KEY, OURS, OURS_TRUE_LIGHT, SEES, run
from paramisp.demo.context import DemoContext

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    ctx = DemoContext(out_dir=tmp_path_factory.mktemp("demo"), long_side_px=128, progress=False)
    return ctx, run(ctx)


def _scores(section) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    keys = ("psnr", "ssim", "de00", "stlpips")
    return {row[0]: dict(zip(keys, row[2:], strict=True)) for row in section.tables[0].rows}


def _read(path) -> np.ndarray:  # type: ignore[no-untyped-def]
    """An 8-bit RGB file as ``(H, W, 3)`` float64 in [0, 1]."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0


def _lightness(path) -> np.ndarray:  # type: ignore[no-untyped-def]
    return rgb2lab(_read(path))[..., 0]


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x.ravel(), y.ravel())[0, 1])


def test_outputs_written_and_readable(ran) -> None:  # type: ignore[no-untyped-def]
    ctx, section = ran
    assert section.key == KEY and section.seconds == 0.0
    paths = [ctx.out_dir / p for p in section.outputs]
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    names = {p.name for p in paths}
    assert {"a_camera.jpg", "b_truth.png", "d30_camera_jpeg.png", *FILES.values()} <= names
    assert {f"d30_as_{name}.png" for name in D30_TARGETS} <= names
    # 3:2 at the working long side, both sides even (the transfer samples through a 2 x 2 CFA).
    assert {_read(p).shape for p in paths} == {(86, 128, 3)}


def test_written_output_is_what_was_scored(ran) -> None:  # type: ignore[no-untyped-def]
    """cam2cam's PNG against B's truth on disk gives the table's PSNR: the scores are of 8-bit outputs, as written."""
    ctx, section = ran
    ours, truth = (torch.from_numpy(_read(ctx.out_dir / KEY / n)).permute(2, 0, 1)[None].float()
                   for n in (FILES[OURS], "b_truth.png"))  # fmt: skip
    assert float(psnr(ours, truth)) == pytest.approx(_scores(section)[OURS]["psnr"], abs=0.01)


def test_tables_and_figures_consistent(ran) -> None:  # type: ignore[no-untyped-def]
    _, section = ran
    assert section.summary and section.measured_against
    assert set(_scores(section)) == set(SEES)
    assert_tables_filled(section)
    assert [row[0] for row in section.tables[1].rows] == list(D30_TARGETS)
    for figure in section.figures:
        shapes = {p.image.shape for p in figure.panels}
        assert len(shapes) == 1 and next(iter(shapes))[2] == 3
        assert all(p.image.dtype == np.float32 and 0.0 <= p.image.min() < p.image.max() <= 1.0 for p in figure.panels)
    assert section.figures[0].reference == 0 and section.figures[1].reference is None


def test_only_noise_separates_b_from_itself(ran) -> None:  # type: ignore[no-untyped-def]
    """B re-shooting the scene differs from the truth only by its noise: no method working from A's photo may come
    as close, or the truth would not be B's camera's."""
    _, section = ran
    scores = _scores(section)
    for method in set(scores) - {CEILING}:
        assert scores[CEILING]["psnr"] > scores[method]["psnr"] + 3.0
        assert scores[CEILING]["de00"] < scores[method]["de00"]


def test_transfer_keeps_the_scene_and_its_exposure(ran) -> None:  # type: ignore[no-untyped-def]
    """Same light, same metered exposure: cam2cam's picture must be B's scene (lightness correlated, orientation
    kept) at B's brightness (a stop off would move mean L* by ~15); the D30's transfers must keep its picture."""
    ctx, _ = ran
    folder = ctx.out_dir / KEY
    truth, ours = _lightness(folder / "b_truth.png"), _lightness(folder / FILES[OURS])
    assert _correlation(ours, truth) > 0.95
    assert _correlation(ours, truth) > _correlation(ours, truth[:, ::-1]) + 0.3
    assert abs(float(ours.mean() - truth.mean())) < 3.0
    d30 = _lightness(folder / "d30_camera_jpeg.png")
    for name in D30_TARGETS:
        assert _correlation(_lightness(folder / f"d30_as_{name}.png"), d30) > 0.9


def test_true_light_helps_when_the_estimate_misses(ran) -> None:  # type: ignore[no-untyped-def]
    """At seed 0 the scene is lit at ~2750 K and the EXIF estimate (a bright scene: daylight) says 5500 K: told the
    true light, the transfer's white balance is right and its colours come closer to B's."""
    _, section = ran
    assert "2748 K" in section.tables[0].note and "estimated 5500 K" in section.tables[0].note
    scores = _scores(section)
    assert scores[OURS_TRUE_LIGHT]["de00"] < scores[OURS]["de00"]
    assert scores[OURS_TRUE_LIGHT]["psnr"] > scores[OURS]["psnr"]


def test_reinhard_to_its_own_statistics_is_the_identity() -> None:
    rng = np.random.default_rng(0)
    photo = torch.from_numpy(rng.uniform(0.1, 0.9, (1, 3, 16, 24))).float()
    again = reinhard(photo, lab_statistics([photo]), lab_statistics([photo]))
    assert torch.allclose(again, photo, atol=1e-4)
    # The photo's own statistics are the default source.
    assert torch.equal(reinhard(photo, None, lab_statistics([photo])), again)
