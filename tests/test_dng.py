"""DNG writer: read back with read_raw, rawpy and exifread, checked by exiftool, rendered by dcraw_emu."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import colour
import exifread
import numpy as np
import pytest
import rawpy
import tifffile
import torch

from conftest import D30, DC50, EOS550D
from core_isp.canonical.develop import CanonicalParams, develop
from core_isp.cfa import BAYER_PATTERNS, cfa_from_rawpy, phase_offset, shift_cfa
from core_isp.colour import xyz_to_cam_from_ccm
from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.io import read_raw, writers
from core_isp.io.dng import exif_from_metadata, write_dng
from core_isp.io.writers import write_jpeg
from core_isp.metadata import CameraMetadata
from core_isp.orientation import to_display

SOURCES = {"d30": D30, "dc50": DC50, "550d": EOS550D}
IDENTITY = np.eye(3)
#: ColorMatrix1 is stored as rationals with denominators up to 1e7; the CCM comes back far closer.
CCM_ATOL = 1e-6


@functools.cache
def _source(name: str) -> CameraImage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sources' own missing-metadata warnings
        return read_raw(SOURCES[name])


def _read_quiet(path: Path) -> CameraImage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_raw(path)


def _crop(raw: CameraImage, top: int, left: int, h: int, w: int) -> tuple[np.ndarray, CameraMetadata]:
    """A window of a RAW with its metadata made to match (CFA and per-site black follow the phase)."""
    m = raw.meta
    b = np.asarray(m.black_level_per_site).reshape(2, 2)
    black = tuple(float(b[(top + i) % 2, (left + j) % 2]) for i in range(2) for j in range(2))
    meta = m.replace(
        cfa_pattern=shift_cfa(m.cfa_pattern, top, left),  # type: ignore[arg-type]
        black_level_per_site=black,
        image_size_hw=(h, w),
        default_crop_tlhw=None,
    )
    return raw.mosaic[top : top + h, left : left + w], meta


def _quantum(meta: CameraMetadata) -> float:
    """Half a DNG code value in normalised units: the round-trip precision of the mosaic."""
    return 0.5 / (meta.white_level - max(meta.black_level_per_site)) + 1e-6  # type: ignore[operator]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each full source RAW written once as DNG."""
    out = tmp_path_factory.mktemp("dng")
    return {name: write_dng(out / f"{name}.dng", _source(name).mosaic, _source(name).meta) for name in SOURCES}


# -- read back with the project's reader ---------------------------------------------------------


@pytest.mark.parametrize("name", list(SOURCES))
def test_round_trip_through_read_raw(written: dict[str, Path], name: str) -> None:
    src, back = _source(name), _read_quiet(written[name])
    m, b = src.meta, back.meta
    assert back.mosaic.shape == src.mosaic.shape
    assert np.abs(back.mosaic - src.mosaic).max() <= _quantum(m)
    assert (b.make, b.model, b.cfa_pattern, b.orientation) == (m.make, m.model, m.cfa_pattern, m.orientation)
    assert b.black_level_per_site == m.black_level_per_site
    assert (b.white_level, b.saturation_level, b.image_size_hw) == (m.white_level, m.saturation_level, m.image_size_hw)
    full = (0, 0, *m.image_size_hw)  # type: ignore[misc]
    assert (b.default_crop_tlhw or full) == (m.default_crop_tlhw or full)
    assert b.wb_gains == pytest.approx(m.wb_gains, rel=1e-9)
    assert b.wb_source == "as_shot"
    expected_ccm = IDENTITY if m.ccm_wb_cam_to_srgb is None else np.asarray(m.ccm_wb_cam_to_srgb)
    np.testing.assert_allclose(b.ccm_wb_cam_to_srgb, expected_ccm, atol=CCM_ATOL)
    for field in ("exposure_time_s", "f_number", "iso", "focal_length_mm"):
        want = getattr(m, field)
        assert getattr(b, field) == (None if want is None else pytest.approx(want, rel=1e-9)), field


# -- read back with LibRaw and exifread directly ---------------------------------------------------


def test_rawpy_sees_the_camera_data_and_the_exif_ifd(written: dict[str, Path]) -> None:
    meta = _source("d30").meta
    with rawpy.imread(str(D30)) as original, rawpy.imread(str(written["d30"])) as raw:
        np.testing.assert_array_equal(raw.raw_image_visible, original.raw_image_visible)  # the camera's codes
        assert cfa_from_rawpy(raw.raw_pattern, raw.color_desc) == "RGGB"
        colours = np.asarray(raw.raw_colors_visible[:2, :2]).ravel()
        assert [raw.black_level_per_channel[c] for c in colours] == [127, 128, 128, 128]
        assert raw.white_level == 4095
        cam = np.asarray(raw.camera_whitebalance[:3])
        np.testing.assert_allclose(cam / cam[1], meta.wb_gains, rtol=1e-6)
        # LibRaw derives rgb_cam from the file's ColorMatrix1 with its own sRGB constants.
        np.testing.assert_allclose(np.asarray(raw.color_matrix)[:, :3], meta.ccm_wb_cam_to_srgb, atol=3e-4)
        s = raw.sizes
        assert (s.flip, s.crop_top_margin, s.crop_left_margin, s.crop_height, s.crop_width) == (0, 6, 8, 1440, 2160)
        other = raw.other  # LibRaw reads ISO only from a separate Exif IFD
        assert other.iso_speed == 100.0
        assert other.shutter_speed == pytest.approx(meta.exposure_time_s, rel=1e-6)
        assert other.aperture == pytest.approx(meta.f_number, rel=1e-6)
        assert other.focal_length == pytest.approx(meta.focal_length_mm, rel=1e-6)


def _ratios(tag: object) -> np.ndarray:
    return np.array([float(v.num) / float(v.den) if hasattr(v, "num") else float(v) for v in tag.values])  # type: ignore[attr-defined]


def test_exifread_sees_dng_and_exif_tags(written: dict[str, Path]) -> None:
    meta = _source("d30").meta
    with open(written["d30"], "rb") as f:
        tags = exifread.process_file(f, details=False)
    assert [t for t in tags if t.endswith(("ISOSpeedRatings", "ExposureTime", "FNumber", "FocalLength"))] == [
        "EXIF ExposureTime",
        "EXIF FNumber",
        "EXIF ISOSpeedRatings",
        "EXIF FocalLength",
    ]  # all four in the Exif IFD, none in IFD0
    assert _ratios(tags["EXIF ExposureTime"])[0] == pytest.approx(meta.exposure_time_s, rel=1e-9)
    assert tags["EXIF ISOSpeedRatings"].values == [100]
    assert tags["Image Tag 0xC612"].values == [1, 4, 0, 0]  # DNGVersion
    assert tags["Image CFAPattern"].values == [0, 1, 1, 2]
    assert tags["Image BlackLevel"].values == [127, 128, 128, 128]
    assert tags["Image Tag 0xC61D"].values == [4095]  # WhiteLevel
    assert tags["Image Tag 0xC61F"].values == [8, 6]  # DefaultCropOrigin (x, y)
    assert tags["Image Tag 0xC620"].values == [2160, 1440]  # DefaultCropSize (w, h)
    assert tags["Image Tag 0xC65A"].values == [21]  # D65
    cm1 = xyz_to_cam_from_ccm(np.asarray(meta.ccm_wb_cam_to_srgb), meta.wb_gains)  # type: ignore[arg-type]
    np.testing.assert_allclose(_ratios(tags["Image Tag 0xC621"]), cm1.ravel(), atol=1e-6)
    np.testing.assert_allclose(_ratios(tags["Image Tag 0xC628"]), 1.0 / np.asarray(meta.wb_gains), rtol=1e-9)


# -- layouts and values --------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", BAYER_PATTERNS)
def test_every_bayer_pattern_with_per_site_black(tmp_path: Path, pattern: str) -> None:
    top, left = phase_offset("RGGB", pattern)
    mosaic, meta = _crop(_source("d30"), 400 + top, 600 + left, 64, 96)
    assert meta.cfa_pattern == pattern
    back = _read_quiet(write_dng(tmp_path / "x.dng", mosaic, meta))
    assert back.meta.cfa_pattern == pattern
    assert back.meta.black_level_per_site == meta.black_level_per_site  # D30: unequal (127, 128, 128, 128)
    assert np.abs(back.mosaic - mosaic).max() <= _quantum(meta)
    with rawpy.imread(str(tmp_path / "x.dng")) as raw:
        assert cfa_from_rawpy(raw.raw_pattern, raw.color_desc) == pattern


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_tag(tmp_path: Path, orientation: int) -> None:
    mosaic, meta = _crop(_source("dc50"), 0, 0, 32, 48)
    path = write_dng(tmp_path / "x.dng", mosaic, meta.replace(orientation=orientation))
    assert _read_quiet(path).meta.orientation == orientation


def test_torch_mosaic_writes_the_same_file(tmp_path: Path) -> None:
    mosaic, meta = _crop(_source("dc50"), 0, 0, 32, 48)
    a = write_dng(tmp_path / "a.dng", mosaic, meta)
    b = write_dng(tmp_path / "b.dng", torch.from_numpy(mosaic)[None, None], meta)
    assert a.read_bytes() == b.read_bytes()


def test_unknown_values_use_documented_defaults(tmp_path: Path) -> None:
    mosaic, _ = _crop(_source("dc50"), 0, 0, 32, 48)
    meta = CameraMetadata(cfa_pattern="GRBG")  # no make, levels, white balance, colour matrix or optics
    path = write_dng(tmp_path / "x.dng", mosaic, meta)
    with open(path, "rb") as f:
        tags = exifread.process_file(f, details=False)
    assert "Image Make" not in tags and "Image Tag 0xC628" not in tags  # no Make, no AsShotNeutral
    assert str(tags["Image Tag 0xC614"]) == "Unknown camera"
    assert [t for t in tags if t.startswith("EXIF ")] == ["EXIF ExifVersion"]
    back = _read_quiet(path)
    b = back.meta
    assert (b.white_level, b.black_level_per_site) == (65535.0, (0.0, 0.0, 0.0, 0.0))
    assert np.abs(back.mosaic - np.clip(mosaic, 0, 1)).max() <= 0.5 / 65535 + 1e-6
    # No AsShotNeutral: LibRaw derives daylight multipliers from the matrix (in float32), and the
    # matrix was built for a D65 neutral of (1, 1, 1).
    assert b.wb_source == "daylight"
    np.testing.assert_allclose(b.wb_gains, (1.0, 1.0, 1.0), atol=1e-3)
    np.testing.assert_allclose(b.ccm_wb_cam_to_srgb, IDENTITY, atol=1e-4)
    assert b.missing_optics() == ["iso", "exposure_time_s", "f_number", "focal_length_mm"]


def test_fractional_black_levels_are_stored_as_rationals(tmp_path: Path) -> None:
    mosaic, meta = _crop(_source("dc50"), 0, 0, 32, 48)
    meta = meta.replace(black_level_per_site=(100.5, 100.25, 99.75, 100.0))
    path = write_dng(tmp_path / "x.dng", mosaic, meta)
    with open(path, "rb") as f:
        tags = exifread.process_file(f, details=False)
    np.testing.assert_array_equal(_ratios(tags["Image BlackLevel"]), [100.5, 100.25, 99.75, 100.0])
    # LibRaw truncates DNG black levels to integers; the file itself is exact.
    assert _read_quiet(path).meta.black_level_per_site == (100.0, 100.0, 99.0, 100.0)


def test_iso_above_16_bits_goes_to_iso_speed(tmp_path: Path) -> None:
    mosaic, meta = _crop(_source("dc50"), 0, 0, 32, 48)
    path = write_dng(tmp_path / "x.dng", mosaic, meta.replace(iso=204800.0))
    with open(path, "rb") as f:
        tags = exifread.process_file(f, details=False)
    assert tags["EXIF ISOSpeedRatings"].values == [65535]
    b = _read_quiet(path).meta
    assert (b.iso, b.iso_source) == (204800.0, "EXIF ISOSpeed")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cfa_pattern": None}, "no CFA pattern"),
        ({"image_size_hw": (10, 10)}, "mosaic is"),
        ({"default_crop_tlhw": (0, 0, 33, 48)}, "does not fit"),
        ({"white_level": 70000.0}, "white level"),
        ({"black_level_per_site": (0.0, 0.0, 0.0, 16383.0)}, "black levels"),
    ],
)
def test_inconsistent_metadata_is_refused(tmp_path: Path, change: dict, message: str) -> None:
    mosaic, meta = _crop(_source("dc50"), 0, 0, 32, 48)
    with pytest.raises(BadInputError, match=message):
        write_dng(tmp_path / "x.dng", mosaic, meta.replace(**change))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("mosaic", "message"),
    [(np.zeros((2, 32, 48)), r"\(H, W\)"), (np.full((32, 48), np.nan), "NaN")],
)
def test_bad_mosaics_are_refused(tmp_path: Path, mosaic: np.ndarray, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        write_dng(tmp_path / "x.dng", mosaic, CameraMetadata(cfa_pattern="RGGB"))


def test_overwrite_refused_and_failed_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mosaic, meta = _crop(_source("dc50"), 0, 0, 32, 48)
    target = tmp_path / "x.dng"
    target.write_bytes(b"precious")
    with pytest.raises(BadInputError, match="already exists"):
        write_dng(target, mosaic, meta)

    def failing_fsync(fd: int) -> None:
        raise OSError("I/O error")

    monkeypatch.setattr(writers.os, "fsync", failing_fsync)  # the whole file is written, the commit fails
    with pytest.raises(OSError, match="I/O error"):
        write_dng(target, mosaic, meta, overwrite=True)
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["x.dng"]
    monkeypatch.undo()
    write_dng(target, mosaic, meta, overwrite=True)
    assert target.read_bytes()[:4] == b"II*\x00"


# -- external tools ------------------------------------------------------------------------------


def require_tool(name: str) -> str:
    """Path of an external tool; a missing one skips the test, or fails it under PARAMISP_REQUIRE_TOOLS=1."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (Debian: apt-get install libimage-exiftool-perl libraw-bin)"
        if os.environ.get("PARAMISP_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{reason}, and PARAMISP_REQUIRE_TOOLS=1 requires it")
        pytest.skip(reason)
    return path


def test_missing_tool_skips_or_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("PARAMISP_REQUIRE_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="exiftool is not installed"):
        require_tool("exiftool")
    monkeypatch.setenv("PARAMISP_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="PARAMISP_REQUIRE_TOOLS=1 requires it"):
        require_tool("exiftool")


def test_exiftool_validate_reports_no_errors(written: dict[str, Path]) -> None:
    exiftool = require_tool("exiftool")
    paths = [str(p) for p in written.values()]
    out = subprocess.run(
        [exiftool, "-validate", "-warning", "-error", "-a", "-s", *paths], capture_output=True, text=True, check=False
    ).stdout
    # One "Validate" line per file ("OK", or e.g. "1 Error, 2 Warnings (1 minor)"), then the messages.
    lines = out.splitlines()
    verdicts = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Validate")]
    assert len(verdicts) == len(paths), out
    assert not [line for line in lines if line.startswith("Error")], out
    # exiftool reports a broken layout (offsets past the end, overlapping values) as plain warnings;
    # only its "[minor]" style remarks are acceptable.
    assert not [line for line in lines if line.startswith("Warning") and "[minor]" not in line.lower()], out


def test_exif_block_for_jpeg_is_valid_exif(tmp_path: Path) -> None:
    exiftool = require_tool("exiftool")
    meta = _source("d30").meta.replace(orientation=8)
    path = write_jpeg(tmp_path / "x.jpg", np.full((30, 40, 3), 0.5), exif=exif_from_metadata(meta, (30, 40)))
    out = subprocess.run(
        [
            exiftool,
            "-validate",
            "-warning",
            "-error",
            "-a",
            "-s",
            "-ExifImageWidth",
            "-ISO",
            "-Orientation#",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines())
    assert {k.strip(): v.strip() for k, v in fields.items()} == {
        "Validate": "OK",
        "ExifImageWidth": "40",
        "ISO": "100",
        "Orientation": "8",
    }, out


def _dcraw_render(dcraw: str, path: Path, meta: CameraMetadata, quality: int) -> np.ndarray:
    """dcraw_emu's sRGB rendering with the file's as-shot WB and matrix: ``(H, W, 3)`` in [0, 1]."""
    out = path.with_name(f"{path.stem}-q{quality}.tiff")
    # -w as-shot WB, -o 1 sRGB, -q demosaicer, -W no auto-brightening, -6 -g 2.4 12.92 16-bit sRGB curve.
    # LibRaw's adjust_maximum (default -c 0.75) rescales by the data maximum whenever that lies above
    # 75 % of white, a heuristic develop() does not share: it is turned off, and the clip point
    # read_raw found is given with -S (which LibRaw counts above black).
    saturation = meta.saturation_level - max(meta.black_level_per_site)  # type: ignore[operator]
    args = ["-w", "-o", "1", "-q", str(quality), "-W", "-6", "-g", "2.4", "12.92", "-T", "-c", "0"]
    subprocess.run(
        [dcraw, *args, "-S", f"{saturation:.0f}", "-Z", str(out), str(path)], check=True, capture_output=True
    )
    return tifffile.imread(out).astype(np.float64) / 65535.0


def _mean_ciede2000(srgb_a: np.ndarray, srgb_b: np.ndarray, border: int = 4) -> float:
    """Mean CIEDE2000 of two ``(H, W, 3)`` sRGB images, leaving out a border where demosaicers differ."""
    a, b = (np.clip(x[border:-border, border:-border], 0, 1) for x in (srgb_a, srgb_b))
    lab_a, lab_b = (colour.XYZ_to_Lab(colour.sRGB_to_XYZ(x)) for x in (a, b))
    return float(colour.delta_E(lab_a, lab_b, method="CIE 2000").mean())


@pytest.mark.parametrize(
    ("name", "window", "orientation"),
    [
        ("d30", (400, 600, 480, 640), None),  # RGGB, unequal per-site blacks, clipped highlights
        ("dc50", (0, 0, 512, 768), 6),  # GRBG, no colour matrix, turned by the Orientation tag
        ("550d", (338, 546, 480, 640), None),  # a DNG source, colour chart
    ],
)
def test_dcraw_emu_rendering_matches_develop(
    tmp_path: Path, name: str, window: tuple[int, int, int, int], orientation: int | None
) -> None:
    dcraw = require_tool("dcraw_emu")
    mosaic, meta = _crop(_source(name), *window)
    if orientation is not None:
        meta = meta.replace(orientation=orientation)
    path = write_dng(tmp_path / "x.dng", mosaic, meta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DC50: "no colour matrix known"
        params = CanonicalParams.from_metadata([meta])
    raw = torch.from_numpy(np.ascontiguousarray(mosaic))[None, None]

    def ours(method: str) -> np.ndarray:
        return to_display(develop(raw, params, method)[0], meta.orientation).permute(1, 2, 0).double().numpy()

    canonical, theirs = ours("malvar"), _dcraw_render(dcraw, path, meta, quality=3)
    assert canonical.shape == theirs.shape  # LibRaw ignores DefaultCrop; both keep the whole mosaic
    de = _mean_ciede2000(theirs, canonical)  # Malvar against AHD
    assert de <= 3.0, f"mean CIEDE2000 {de:.2f}"
    # With the same (bilinear) demosaicer the renderings agree almost exactly: what remains is only
    # where dcraw clips before demosaicing and develop() after.
    de = _mean_ciede2000(_dcraw_render(dcraw, path, meta, quality=0), ours("bilinear"))
    assert de <= 0.5, f"mean CIEDE2000 with bilinear demosaicing on both sides {de:.2f}"


def _dark_mosaic(seed: int = 0) -> np.ndarray:
    """A night shot with black level 0: two thirds of the sites read exactly 0, the rest faint noise."""
    rng = np.random.default_rng(seed)
    mosaic = rng.exponential(0.002, (64, 96)) * (rng.random((64, 96)) > 0.67)
    return np.round(mosaic * 4095) / 4095


def test_a_dark_shot_with_black_level_zero_is_read(tmp_path: Path) -> None:
    mosaic = _dark_mosaic()
    meta = CameraMetadata(cfa_pattern="GBRG", black_level_per_site=(0.0,) * 4, white_level=4095.0)
    path = write_dng(tmp_path / "night.dng", mosaic, meta)
    assert np.mean(mosaic == 0) > 0.6
    np.testing.assert_allclose(read_raw(path).mosaic, mosaic, atol=1e-6)


def test_a_mosaic_cut_off_part_way_is_refused(tmp_path: Path) -> None:
    mosaic = np.clip(_dark_mosaic() * 50 + 0.1, 0, 1)
    mosaic[24:] = 0.0  # what LibRaw leaves where a truncated file's rows are missing
    meta = CameraMetadata(cfa_pattern="RGGB", black_level_per_site=(0.0,) * 4, white_level=4095.0)
    path = write_dng(tmp_path / "cut.dng", mosaic, meta)
    with pytest.raises(BadInputError, match="last 40 of 64 rows"):
        read_raw(path)
