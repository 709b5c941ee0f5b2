"""RAW file -> :class:`CameraImage` of its normalised Bayer mosaic in sensor orientation and :class:`CameraMetadata`.

LibRaw (rawpy) decodes the pixels and the sensor layout; the shot parameters come from
:mod:`core_isp.io.exif` (exifread, Canon CIFF records) with LibRaw as the last resort.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rawpy
import torch

from core_isp.cfa import cfa_from_rawpy, cfa_to_indices
from core_isp.colour import (
    ccm_from_xyz_to_cam,
    dng_xyz_to_cam_d65,
    neutral_from_wb_gains,
    wb_gains_from_neutral,
)
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.image import CameraImage
from core_isp.io.exif import ExifRecord, Reading, read_exif
from core_isp.metadata import CameraMetadata, plausible, source_field
from core_isp.orientation import libraw_flip_to_orientation
from core_isp.raw_domain.levels import dn_to_normalised

#: A decoded mosaic whose trailing rows, this share of them or more, hold one value throughout was cut off
#: (LibRaw fills what it could not decode with one value). A dark shot also piles sites on one value (its
#: black level, often 0) but scattered over the frame, with noise in every row.
_CONSTANT_TAIL_SHARE = 0.5
#: Real RAW codecs, lossy ones included, need well over 1 bit per site; a file with less is truncated
#: (LibRaw then leaves the missing rows uninitialised, so their content cannot be judged).
_MIN_FILE_BITS_PER_SITE = 1.0
#: The saturation pile-up must hold at least this share of sites within 2 % below the data maximum.
_PILEUP_SHARE = 1e-4


@contextlib.contextmanager
def _libraw_stderr_silenced() -> Iterator[None]:
    """LibRaw prints decoder complaints straight to file descriptor 2; the caller reports errors itself."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _open(path: Path) -> rawpy.RawPy:
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    try:
        with _libraw_stderr_silenced():
            raw = rawpy.imread(str(path))
            raw.unpack()  # rawpy unpacks lazily; decoding errors must surface here, not at first use
        return raw
    except rawpy.LibRawFileUnsupportedError as e:
        # A RAW cut short before its directory (Canon CIFF keeps it at the end) looks to LibRaw like no RAW at all.
        raise BadInputError(f"{path.name}: LibRaw does not recognise it: an unsupported camera, not a RAW file, or a "
                            f"RAW cut short before its header ({_libraw_msg(e)})") from None
    except rawpy.LibRawTooBigError:
        raise BadInputError(f"{path.name}: LibRaw refuses the image size (corrupt header or Foveon X3F)") from None
    except (rawpy.LibRawIOError, rawpy.LibRawDataError) as e:
        raise BadInputError(f"{path.name}: corrupt or truncated RAW file ({_libraw_msg(e)})") from None
    except rawpy.LibRawError as e:
        raise BadInputError(f"{path.name}: LibRaw cannot read the file ({_libraw_msg(e)})") from None


def _libraw_msg(e: Exception) -> str:
    msg = e.args[0] if e.args else str(e)
    return msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)


def _check_bayer(raw: rawpy.RawPy, path: Path) -> str:
    if raw.raw_type != rawpy.RawType.Flat:
        raise BadInputError(
            f"{path.name}: not a Bayer mosaic (LinearRaw DNG or Foveon: {raw.raw_type.name} data with "
            f"{raw.num_colors} colours per pixel)"
        )
    colours = np.asarray(raw.raw_colors_visible[:6, :6])
    pattern = np.asarray(raw.raw_pattern)
    if pattern is None or pattern.shape != (2, 2) or not np.array_equal(colours, np.tile(colours[:2, :2], (3, 3))):
        size = "x".join(map(str, pattern.shape)) if pattern is not None else "unknown"
        raise BadInputError(f"{path.name}: non-Bayer CFA (repeat {size}{', X-Trans' if size == '6x6' else ''})")
    return cfa_from_rawpy(colours[:2, :2], raw.color_desc)


def _black_per_site(raw: rawpy.RawPy) -> tuple[float, float, float, float]:
    per_colour = list(raw.black_level_per_channel)
    colours = np.asarray(raw.raw_colors_visible[:2, :2]).reshape(-1)
    return tuple(float(per_colour[int(c)]) for c in colours)  # type: ignore[return-value]


def _check_pixels(visible: np.ndarray, path: Path) -> None:
    bits_per_site = path.stat().st_size * 8 / max(visible.size, 1)
    if bits_per_site < _MIN_FILE_BITS_PER_SITE:
        raise BadInputError(
            f"{path.name}: no usable pixel data (the file has {bits_per_site:.2f} bits per sensor site: "
            "truncated or its image data stripped)"
        )
    if visible.min() == visible.max():
        raise BadInputError(
            f"{path.name}: no usable pixel data (every site holds {visible.flat[0]}; "
            "the file is truncated or its image data stripped)"
        )
    fill = visible[-1, 0]
    varying_rows = np.flatnonzero((visible != fill).any(axis=1))
    tail = visible.shape[0] - 1 - varying_rows[-1]
    if tail >= _CONSTANT_TAIL_SHARE * visible.shape[0]:
        raise BadInputError(
            f"{path.name}: no usable pixel data (the last {tail} of {visible.shape[0]} rows hold only the value "
            f"{fill}; the file is truncated or its image data stripped)"
        )


def _saturation_level(visible: np.ndarray, black: float, white: float) -> float:
    top = float(visible.max())
    if top >= white:
        return float(white)
    near_top = np.count_nonzero(visible >= black + 0.98 * (top - black))
    # A clipped sensor piles many sites just under its true maximum (the D30 tops out at 3868
    # of 4095 with a noisy ceiling); a merely dark image has a thin tail instead.
    return top if near_top >= _PILEUP_SHARE * visible.size else float(white)


def _wb(raw: rawpy.RawPy, exif: ExifRecord, mosaic: np.ndarray | None, cfa: str, clip: float, name: str):
    if exif.dng.as_shot_neutral is not None:
        return wb_gains_from_neutral(exif.dng.as_shot_neutral), "as_shot"
    cam = list(raw.camera_whitebalance)[:3]
    if min(cam) > 0 and not all(v == 1.0 for v in cam):
        return wb_gains_from_neutral([1.0 / v for v in cam]), "as_shot"
    day = list(raw.daylight_whitebalance)[:3]
    if min(day) > 0 and not all(v == 1.0 for v in day):
        warnings.warn(
            f"{name}: no as-shot white balance; using LibRaw's daylight multipliers",
            MetadataWarning,
            stacklevel=3,
        )
        return wb_gains_from_neutral([1.0 / v for v in day]), "daylight"
    if mosaic is None:
        warnings.warn(f"{name}: no white balance recorded and no pixels to estimate it", MetadataWarning, stacklevel=3)
        return None, None
    from core_isp.canonical.colour_ops import grey_world_gains

    gains = grey_world_gains(torch.from_numpy(mosaic)[None, None], cfa_to_indices(cfa)[None], clip)[0]
    warnings.warn(
        f"{name}: no as-shot or daylight white balance; estimated by grey world",
        MetadataWarning,
        stacklevel=3,
    )
    return (float(gains[0]), 1.0, float(gains[2])), "estimated"


def _ccm(raw: rawpy.RawPy, exif: ExifRecord, wb: tuple[float, float, float] | None, name: str):
    dng = exif.dng
    if dng.color_matrix_1 is not None:
        neutral = dng.as_shot_neutral or (neutral_from_wb_gains(wb) if wb else (1.0, 1.0, 1.0))
        xyz_to_cam, cct = dng_xyz_to_cam_d65(
            dng.color_matrix_1,
            neutral,
            dng.color_matrix_2,
            dng.calibration_illuminant_1,
            dng.calibration_illuminant_2,
        )
        used = "ColorMatrix1/2" if dng.color_matrix_2 is not None else "ColorMatrix1"
        return ccm_from_xyz_to_cam(xyz_to_cam), f"DNG {used} (white {cct:.0f} K, adapted to D65)"
    m = np.asarray(raw.rgb_xyz_matrix)[:3]
    if np.any(m != 0):
        return ccm_from_xyz_to_cam(m), "LibRaw rgb_xyz_matrix"
    warnings.warn(f"{name}: no colour matrix known for this camera", MetadataWarning, stacklevel=3)
    return None, None


def _optics(exif: ExifRecord, libraw_other: object | None) -> dict[str, object]:
    """The four optical values with their sources, checked for plausibility."""
    out: dict[str, object] = {}
    for name, libraw_name in (
        ("exposure_time_s", "shutter_speed"),
        ("iso", "iso_speed"),
        ("f_number", "aperture"),
        ("focal_length_mm", "focal_length"),
    ):
        reading: Reading | None = getattr(exif, name)
        fallback = float(getattr(libraw_other, libraw_name, 0.0) or 0.0)
        if reading is None and not exif.found_any and fallback > 0:
            # Only when the container has no readable EXIF at all: LibRaw guesses values (an ISO
            # of 84 for the Kodak DC50, which records none) that EXIF readers would not report.
            reading = Reading(fallback, "LibRaw")
        value, source = plausible(name, reading.value if reading else None, reading.source if reading else None)
        out[name] = value
        out[source_field(name)] = source
    return out


def _metadata(
    raw: rawpy.RawPy,
    path: Path,
    exif: ExifRecord,
    cfa: str,
    mosaic: np.ndarray | None,
    visible: np.ndarray | None,
) -> CameraMetadata:
    black = _black_per_site(raw)
    white = float(raw.white_level)
    sat = _saturation_level(visible, max(black), white) if visible is not None else white
    clip = (sat - max(black)) / (white - max(black))
    wb, wb_source = _wb(raw, exif, mosaic, cfa, clip, path.name)
    ccm, ccm_source = _ccm(raw, exif, wb, path.name)
    s = raw.sizes
    crop = None
    if s.crop_width > 0 and s.crop_height > 0:
        top, left = s.crop_top_margin - s.top_margin, s.crop_left_margin - s.left_margin
        if top >= 0 and left >= 0 and top + s.crop_height <= s.height and left + s.crop_width <= s.width:
            crop = (top, left, s.crop_height, s.crop_width)
    return CameraMetadata(
        make=exif.make,
        model=exif.model,
        cfa_pattern=cfa,
        black_level_per_site=black,
        white_level=white,
        saturation_level=sat,
        image_size_hw=(s.height, s.width),
        default_crop_tlhw=crop,
        wb_gains=wb,
        wb_source=wb_source,
        ccm_wb_cam_to_srgb=None if ccm is None else tuple(tuple(float(v) for v in row) for row in ccm),  # type: ignore[arg-type]
        ccm_source=ccm_source,
        orientation=libraw_flip_to_orientation(s.flip),
        orientation_source="LibRaw flip",
        **_optics(exif, raw.other),  # type: ignore[arg-type]
    )


def _normalise(visible: np.ndarray, raw: rawpy.RawPy) -> np.ndarray:
    levels = CameraMetadata(black_level_per_site=_black_per_site(raw), white_level=float(raw.white_level))
    dn = torch.from_numpy(visible.astype(np.float32))[None, None]
    return dn_to_normalised(dn, [levels])[0, 0].numpy()


def read_raw(path: str | Path) -> CameraImage:
    """Decode a Bayer RAW file into a ``raw`` image of one: the mosaic float32, black-subtracted per site and
    divided by ``white - black`` (not clipped: values below 0 are kept), in sensor orientation.

    :class:`BadInputError` for anything that is not a Bayer RAW with pixels.
    """
    path = Path(path)
    exif = read_exif(path)
    with _open(path) as raw:
        cfa = _check_bayer(raw, path)
        visible = np.array(raw.raw_image_visible)
        _check_pixels(visible, path)
        mosaic = _normalise(visible, raw)
        meta = _metadata(raw, path, exif, cfa, mosaic, visible)
    return CameraImage.raw(mosaic, meta)


def read_raw_metadata(path: str | Path) -> CameraMetadata:
    """Metadata of a RAW file, also when its pixels cannot be used (then with a warning).

    Without pixels only what the tags hold is returned: no saturation analysis and no white-balance
    estimate; a file LibRaw cannot open at all gives the EXIF/CIFF tags only.
    """
    path = Path(path)
    exif = read_exif(path)
    try:
        raw_ctx = _open(path)
    except BadInputError as e:
        if not exif.found_any:
            raise BadInputError(f"{e}; and the file holds no EXIF or CIFF metadata either") from None
        warnings.warn(f"{e}; metadata from the EXIF/CIFF tags only", MetadataWarning, stacklevel=2)
        return _tags_only(exif)
    with raw_ctx as raw:
        try:
            cfa = _check_bayer(raw, path)
        except BadInputError as e:
            warnings.warn(f"{e}; metadata from the EXIF tags only", MetadataWarning, stacklevel=2)
            return _tags_only(exif)
        visible: np.ndarray | None = np.array(raw.raw_image_visible)
        mosaic = None
        try:
            _check_pixels(visible, path)
            mosaic = _normalise(visible, raw)
        except BadInputError as e:
            warnings.warn(str(e), MetadataWarning, stacklevel=2)
            visible = None
        return _metadata(raw, path, exif, cfa, mosaic, visible)


def _tags_only(exif: ExifRecord) -> CameraMetadata:
    orientation = exif.orientation
    return CameraMetadata(
        make=exif.make,
        model=exif.model,
        orientation=int(orientation.value) if orientation and 1 <= orientation.value <= 8 else 1,
        orientation_source=orientation.source if orientation else None,
        **_optics(exif, None),  # type: ignore[arg-type]
    )
