"""The demo's ISP step at a small size: the Canon EOS D30 both ways beside the canonical ISP, a photo to a DNG."""

from __future__ import annotations

import exifread
import numpy as np
import pytest
import rawpy
import torch
from PIL import Image

from conftest import assert_tables_filled
from core_isp.io.exif import EXPOSURE_TAGS
from core_isp.metrics import brightness_matched, psnr
from paramisp.demo.context import DemoContext
from paramisp.demo.isp_step import CANONICAL, FLAT, KEY, LEARNED, PHOTO, run

pytestmark = pytest.mark.slow

#: The D30 crop at a long side of 128: the registered JPEG's footprint is 1439 x 2159 RAW pixels (3:2, even sides).
D30_HW = (84, 128)
#: DSCN0010.jpg is 640 x 480, landscape, orientation 1.
PHOTO_HW = (96, 128)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    ctx = DemoContext(out_dir=tmp_path_factory.mktemp("demo"), long_side_px=128, progress=False)
    return ctx, run(ctx)


def _read(path) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """An 8-bit RGB file as ``(1, 3, H, W)`` float32 in [0, 1]."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(pixels).permute(2, 0, 1)[None]


def _rows(section, index: int) -> dict[str, list]:  # type: ignore[no-untyped-def]
    return {row[0]: row[1:] for row in section.tables[index].rows}


def _matched_psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    return float(psnr(brightness_matched(pred, target), target))


def test_outputs_written_and_readable(ran) -> None:  # type: ignore[no-untyped-def]
    ctx, section = ran
    assert section.key == KEY and section.seconds == 0.0
    paths = {(ctx.out_dir / p).name: ctx.out_dir / p for p in section.outputs}
    assert all(p.is_file() and p.stat().st_size > 0 and p.parent == ctx.out_dir / KEY for p in paths.values())
    for name in ("d30_camera_jpeg.png", "d30_learned.png", "d30_canonical.png"):
        assert _read(paths[name]).shape[-2:] == D30_HW
    for name in (f"{PHOTO.stem}_photo.png", f"{PHOTO.stem}_libraw.png"):
        assert _read(paths[name]).shape[-2:] == PHOTO_HW
    for name in ("d30_learned_inverse.dng", "d30_canonical_inverse.dng"):
        with rawpy.imread(str(paths[name])) as dng:
            assert dng.raw_image_visible.shape == D30_HW
            assert "".join(chr(dng.color_desc[i]) for i in dng.raw_pattern.flatten()) == "RGGB"  # the D30's


def test_tables_and_figures_consistent(ran) -> None:  # type: ignore[no-untyped-def]
    _, section = ran
    assert section.summary and section.measured_against
    assert_tables_filled(section)
    assert set(_rows(section, 0)) == set(_rows(section, 1)) == {LEARNED, CANONICAL, FLAT}
    expected = [D30_HW, D30_HW, PHOTO_HW]
    for figure, size_hw in zip(section.figures, expected, strict=True):
        assert figure.reference == 0
        assert {p.image.shape for p in figure.panels} == {(*size_hw, 3)}
        assert all(p.image.dtype == np.float32 and 0.0 <= p.image.min() < p.image.max() <= 1.0 for p in figure.panels)


def test_renders_follow_the_registered_camera_jpeg(ran) -> None:  # type: ignore[no-untyped-def]
    """After one gain, both renders carry the camera JPEG's structure, not only its level: above the flat straw in
    SSIM, and closer to the JPEG as registered than to the JPEG moved by 4 px (the crop pairs the same pixels)."""
    ctx, section = ran
    forward = _rows(section, 0)
    jpeg = _read(ctx.out_dir / KEY / "d30_camera_jpeg.png")
    for label, name in ((LEARNED, "d30_learned.png"), (CANONICAL, "d30_canonical.png")):
        assert forward[label][3] > forward[FLAT][3] + 0.05, forward
        render = _read(ctx.out_dir / KEY / name)[..., 4:]
        assert _matched_psnr(render, jpeg[..., 4:]) > _matched_psnr(render, jpeg[..., :-4]) + 0.5


def test_canonical_inverse_recovers_the_mosaic_beyond_its_level(ran) -> None:  # type: ignore[no-untyped-def]
    """The canonical inverse of the camera JPEG, given the true RAW's metadata (CFA phase, white balance, matrix),
    after one gain beats a flat mosaic at the true mean: it puts the right colour on the right sites."""
    _, section = ran
    inverse = _rows(section, 1)
    assert inverse[CANONICAL][1] > inverse[FLAT][1] + 1.0, inverse


def test_photo_dng_reads_back_as_the_photo(ran) -> None:  # type: ignore[no-untyped-def]
    """rawpy opens the DNG at the working size, exifread finds the photo's exposure EXIF in it, and LibRaw's own
    rendering of it resembles the photo (after one gain) far more than the photo mirrored."""
    ctx, section = ran
    dng = ctx.out_dir / KEY / f"{PHOTO.stem}.dng"
    with rawpy.imread(str(dng)) as raw:
        assert raw.raw_image_visible.shape == PHOTO_HW
    with open(PHOTO, "rb") as f, open(dng, "rb") as g:
        before, after = exifread.process_file(f, details=False), exifread.process_file(g, details=False)
    assert all(str(after[tag]) == str(before[tag]) for tag in EXPOSURE_TAGS)
    checks = _rows(section, 2)
    assert all(row[-1] == "yes" for name, row in checks.items() if not name.startswith("LibRaw's render vs"))
    photo, libraw = (_read(ctx.out_dir / KEY / f"{PHOTO.stem}_{n}.png") for n in ("photo", "libraw"))
    assert _matched_psnr(libraw, photo) > _matched_psnr(libraw, photo.flip(-1)) + 3.0
