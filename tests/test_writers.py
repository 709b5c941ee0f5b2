"""Image writers: exact round trips, the image convention, overwrite refusal and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import OpenEXR
import png
import pytest
import tifffile
import torch
from PIL import Image

from core_isp.errors import BadInputError
from core_isp.io import read_image, read_image_metadata, writers
from core_isp.io.dng import exif_from_metadata
from core_isp.io.writers import atomic_write, write_exr, write_image, write_jpeg, write_png, write_tiff
from core_isp.metadata import CameraMetadata

_MAGIC = {".png": b"\x89PNG", ".jpg": b"\xff\xd8\xff", ".tif": b"II*\x00", ".exr": b"v/1\x01"}


@pytest.fixture
def image() -> np.ndarray:
    """``(H, W, 3)`` float32 in [0, 1] with exact code values, mid-points and out-of-range values."""
    rng = np.random.default_rng(0)
    img = rng.random((17, 23, 3), dtype=np.float32)
    img[0, :4, 0] = [-0.25, 0.0, 1.0, 1.5]
    return img


def _expected(img: np.ndarray, bits: int) -> np.ndarray:
    top = (1 << bits) - 1
    return np.rint(np.clip(img.astype(np.float64), 0, 1) * top).astype(np.uint16)


def _dir_listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def test_png8_round_trip_and_both_conventions(tmp_path: Path, image: np.ndarray) -> None:
    write_png(tmp_path / "a.png", image)
    write_png(tmp_path / "b.png", torch.from_numpy(image).permute(2, 0, 1))
    with Image.open(tmp_path / "a.png") as im:
        assert im.mode == "RGB"
        data = np.asarray(im)
    np.testing.assert_array_equal(data, _expected(image, 8))
    assert data[0, 0, 0] == 0 and data[0, 3, 0] == 255  # clipped, not wrapped
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


@pytest.mark.filterwarnings("ignore::core_isp.errors.MetadataWarning")  # a PNG without EXIF
def test_png16_round_trip(tmp_path: Path, image: np.ndarray) -> None:
    path = write_png(tmp_path / "a.png", image, bit_depth=16)
    w, h, rows, info = png.Reader(filename=str(path)).asDirect()
    assert info["bitdepth"] == 16 and info["planes"] == 3
    data = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(h, w, 3)
    np.testing.assert_array_equal(data, _expected(image, 16))
    back = read_image(path).pixels  # the project's reader sees all 16 bits
    assert back.shape == (1, 3, 17, 23)
    np.testing.assert_allclose(back[0].permute(1, 2, 0).numpy(), np.clip(image, 0, 1), atol=0.5 / 65535 + 1e-7)


def test_tiff16_round_trip(tmp_path: Path, image: np.ndarray) -> None:
    path = write_tiff(tmp_path / "a.tif", torch.from_numpy(image).permute(2, 0, 1)[None])
    data = tifffile.imread(path)
    assert data.dtype == np.uint16 and data.shape == (17, 23, 3)
    np.testing.assert_array_equal(data, _expected(image, 16))


def test_exr_is_real_exr_and_bit_exact(tmp_path: Path, image: np.ndarray) -> None:
    hdr = image * 40.0 - 3.0  # negative and far above 1: EXR keeps scene-linear values as they are
    hdr[1, 1] = [1e-30, 6.5e4, 3.4e38]
    path = write_exr(tmp_path / "a.exr", hdr)
    assert path.read_bytes()[:4] == b"v/1\x01"
    assert OpenEXR.isOpenExrFile(str(path))
    with OpenEXR.File(str(path)) as f:
        rgb = f.channels()["RGB"].pixels
    assert rgb.dtype == np.float32
    np.testing.assert_array_equal(rgb.view(np.uint32), hdr.view(np.uint32))


def test_jpeg_quality_and_exif_from_metadata(tmp_path: Path, image: np.ndarray) -> None:
    meta = CameraMetadata(
        make="Canon",
        model="Canon EOS D30",
        orientation=6,
        exposure_time_s=1 / 250,
        f_number=5.6,
        iso=400.0,
        focal_length_mm=31.0,
    )
    smooth = np.broadcast_to(np.linspace(0, 1, 64, dtype=np.float32)[None, :, None], (48, 64, 3)).copy()
    hi = write_jpeg(tmp_path / "hi.jpg", smooth, quality=95, exif=exif_from_metadata(meta, (48, 64)))
    lo = write_jpeg(tmp_path / "lo.jpg", image, quality=10)
    assert lo.stat().st_size < write_jpeg(tmp_path / "lo95.jpg", image, quality=95).stat().st_size
    with Image.open(hi) as im:
        assert im.size == (64, 48)
        assert np.abs(np.asarray(im) / 255.0 - smooth).max() < 3 / 255
    back = read_image_metadata(hi)
    assert (back.make, back.model, back.orientation) == ("Canon", "Canon EOS D30", 6)
    assert back.exposure_time_s == pytest.approx(1 / 250)
    assert back.f_number == pytest.approx(5.6)
    assert back.iso == 400.0
    assert back.focal_length_mm == pytest.approx(31.0)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".exr"])
def test_write_image_dispatches_on_suffix(tmp_path: Path, image: np.ndarray, suffix: str) -> None:
    path = write_image(tmp_path / f"x{suffix.upper()}", image)
    assert path.read_bytes()[: len(_MAGIC[suffix])] == _MAGIC[suffix]


def test_write_image_rejects_unknown_suffix_and_options(tmp_path: Path, image: np.ndarray) -> None:
    with pytest.raises(BadInputError, match="unknown image suffix"):
        write_image(tmp_path / "x.bmp", image)
    with pytest.raises(BadInputError, match="no option quality"):
        write_image(tmp_path / "x.png", image, quality=90)
    assert _dir_listing(tmp_path) == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.rand(8, 9, 3), r"\(3, H, W\)"),  # torch is channels-first
        (np.random.rand(3, 8, 9), r"\(H, W, 3\)"),  # numpy is channels-last
        (np.zeros((8, 9, 3), dtype=np.int32), "int32 code values"),
        (np.full((8, 9, 3), np.nan, dtype=np.float32), "NaN"),
    ],
)
def test_bad_images_are_refused(tmp_path: Path, bad: object, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        write_png(tmp_path / "x.png", bad)  # type: ignore[arg-type]
    assert _dir_listing(tmp_path) == []


def test_bad_options_are_refused(tmp_path: Path, image: np.ndarray) -> None:
    with pytest.raises(BadInputError, match="bit depth"):
        write_png(tmp_path / "x.png", image, bit_depth=12)
    with pytest.raises(BadInputError, match="quality"):
        write_jpeg(tmp_path / "x.jpg", image, quality=0)
    with pytest.raises(BadInputError, match="Exif"):
        write_jpeg(tmp_path / "x.jpg", image, exif=b"II*\x00")
    with pytest.raises(BadInputError, match="no such directory"):
        write_png(tmp_path / "missing" / "x.png", image)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".exr"])
def test_existing_file_is_refused_unless_overwrite(tmp_path: Path, image: np.ndarray, suffix: str) -> None:
    target = tmp_path / f"x{suffix}"
    target.write_bytes(b"precious")
    with pytest.raises(BadInputError, match="already exists"):
        write_image(target, image)
    assert target.read_bytes() == b"precious"
    write_image(target, image, overwrite=True)
    assert target.read_bytes()[: len(_MAGIC[suffix])] == _MAGIC[suffix]
    assert _dir_listing(tmp_path) == [target.name]


def _partial_then_fail(path: object) -> None:
    Path(str(path)).write_bytes(b"half an image")
    raise OSError("disk full")


class _FailingExr:
    def __init__(self, *args: object) -> None:
        pass

    def write(self, path: str) -> None:
        _partial_then_fail(path)


@pytest.mark.parametrize(
    ("suffix", "options", "patch"),
    [
        (".png", {}, (Image.Image, "save", lambda self, fp, *a, **k: _partial_then_fail(fp))),
        (".jpg", {}, (Image.Image, "save", lambda self, fp, *a, **k: _partial_then_fail(fp))),
        (".png", {"bit_depth": 16}, (png.Writer, "write", lambda self, f, rows: _partial_then_fail(f.name))),
        (".tif", {}, (writers.tifffile, "imwrite", lambda p, *a, **k: _partial_then_fail(p))),
        (".exr", {}, (writers.OpenEXR, "File", _FailingExr)),
    ],
)
def test_failed_encoder_leaves_target_and_no_temp(
    tmp_path: Path, image: np.ndarray, monkeypatch: pytest.MonkeyPatch, suffix: str, options: dict, patch: tuple
) -> None:
    target = tmp_path / f"x{suffix}"
    target.write_bytes(b"precious")
    monkeypatch.setattr(*patch)
    with pytest.raises(OSError, match="disk full"):
        write_image(target, image, overwrite=True, **options)
    assert target.read_bytes() == b"precious"
    assert _dir_listing(tmp_path) == [target.name]


def test_atomic_write_renames_within_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    renames: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src: Path, dst: Path) -> None:
        renames.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(writers.os, "replace", spy)
    with atomic_write(tmp_path / "x.bin") as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".bin" and tmp.name.startswith(".")
        tmp.write_bytes(b"data")
        assert not (tmp_path / "x.bin").exists()  # invisible until complete
    assert renames == [(tmp, tmp_path / "x.bin")]
    assert (tmp_path / "x.bin").read_bytes() == b"data"


def test_atomic_write_interrupted_after_encoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.bin"
    target.write_bytes(b"precious")

    def no_fsync(fd: int) -> None:
        raise OSError("I/O error")

    monkeypatch.setattr(writers.os, "fsync", no_fsync)
    with pytest.raises(OSError, match="I/O error"), atomic_write(target, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"precious"
    assert _dir_listing(tmp_path) == ["x.bin"]
