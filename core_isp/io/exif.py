"""Read the shot parameters a file records, each with the place it came from.

Values are returned as recorded (plausibility is judged later, in :mod:`core_isp.metadata`).
Order of preference per parameter: the EXIF tag itself, then its APEX counterpart, then a maker
note (Canon, Nikon), then the CIFF records of a Canon CRW. A file exifread cannot parse
(CR3, RAF, MRW) is scanned for embedded TIFF/EXIF blocks.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import exifread

from core_isp.io.ciff import is_ciff, read_ciff

# exifread logs every unknown maker-note tag as a warning; those are not the user's concern.
logging.getLogger("exifread").setLevel(logging.ERROR)

_TIFF_MAGICS = (b"II*\x00", b"MM\x00*")
_SCAN_LIMIT_BYTES = 8 << 20
_ISO_UNKNOWN = 65535  # EXIF's "does not fit in 16 bits" marker


@dataclass(frozen=True)
class Reading:
    """One value and where it was read."""

    value: float
    source: str


@dataclass(frozen=True)
class DngColourTags:
    """The DNG tags that define a camera's colour (XYZ->camera matrices are row-major 3x3)."""

    color_matrix_1: tuple[float, ...] | None = None
    color_matrix_2: tuple[float, ...] | None = None
    calibration_illuminant_1: int | None = None
    calibration_illuminant_2: int | None = None
    as_shot_neutral: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class ExifRecord:
    """Everything :func:`read_exif` found; missing parameters are ``None``."""

    make: str | None = None
    model: str | None = None
    orientation: Reading | None = None
    exposure_time_s: Reading | None = None
    iso: Reading | None = None
    f_number: Reading | None = None
    focal_length_mm: Reading | None = None
    dng: DngColourTags = field(default_factory=DngColourTags)
    found_any: bool = False


def read_exif(path: str | Path) -> ExifRecord:
    """Read the metadata of an image or RAW file (never raises for unreadable metadata)."""
    data = Path(path).read_bytes()
    if is_ciff(data[:14]):
        return _from_ciff(data)
    tags = _process(data)
    if not tags:
        tags = _scan_embedded_tiffs(data)
    return _from_tags(tags)


def _process(data: bytes) -> dict[str, Any]:
    try:
        return dict(exifread.process_file(io.BytesIO(data), details=True) or {})
    except Exception:  # exifread raises many kinds on damaged files; metadata is best-effort
        return {}


def _scan_embedded_tiffs(data: bytes) -> dict[str, Any]:
    """Merge the tags of every TIFF block inside containers exifread does not know (CR3 boxes, RAF).

    A magic number can also occur by chance inside another block and parse into a few garbage
    tags, so richer blocks are merged first and win.
    """
    window = data[:_SCAN_LIMIT_BYTES]
    blocks: list[dict[str, Any]] = []
    for magic in _TIFF_MAGICS:
        start = window.find(magic)
        while start != -1:
            if tags := _process(window[start:]):
                blocks.append(tags)
            start = window.find(magic, start + 4)
    merged: dict[str, Any] = {}
    for tags in sorted(blocks, key=len, reverse=True):
        for k, v in tags.items():
            # A CR3 stores IFD0 and the Exif IFD as separate TIFF blocks; the Exif block's tags
            # come out under "Image".
            merged.setdefault(k, v)
            if k.startswith("Image "):
                merged.setdefault("EXIF " + k[6:], v)
    return merged


def _first(tags: dict[str, Any], *names: str) -> Any:
    for n in names:
        if n in tags:
            return tags[n]
    return None


def _ratio(v: Any) -> float | None:
    if isinstance(v, Fraction) or hasattr(v, "num"):
        num, den = (v.numerator, v.denominator) if isinstance(v, Fraction) else (v.num, v.den)
        return None if den == 0 else num / den
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _values(tag: Any) -> list[float]:
    if tag is None:
        return []
    vals = tag.values if hasattr(tag, "values") else tag
    if isinstance(vals, (bytes, str)):
        return []
    if not isinstance(vals, (list, tuple)):
        vals = [vals]
    out = [_ratio(v) for v in vals]
    return [v for v in out if v is not None and math.isfinite(v)]


def _text(tag: Any) -> str | None:
    if tag is None:
        return None
    s = str(tag.values if hasattr(tag, "values") else tag).replace("\x00", "").strip()
    return s or None


def _scalar(tags: dict[str, Any], prefix_names: tuple[str, ...]) -> tuple[float, str] | None:
    for name in prefix_names:
        for scope in ("EXIF", "Image"):
            vals = _values(tags.get(f"{scope} {name}"))
            if vals:
                return vals[0], name
    return None


def _from_tags(tags: dict[str, Any]) -> ExifRecord:
    if not tags:
        return ExifRecord()
    rec: dict[str, Any] = {
        "found_any": True,
        "make": _text(_first(tags, "Image Make", "EXIF Make")),
        "model": _text(_first(tags, "Image Model", "EXIF Model")),
    }
    orient = _values(_first(tags, "Image Orientation", "EXIF Orientation"))
    if orient:
        rec["orientation"] = Reading(orient[0], "EXIF Orientation")

    # The APEX tags are a fallback only where the direct tag is absent: writers that zero-fill
    # unknown values (Magic Lantern) also write Tv = Av = 0, which would read as 1 s and f/1.
    if (t := _scalar(tags, ("ExposureTime",))) is not None:
        rec["exposure_time_s"] = Reading(t[0], "EXIF ExposureTime")
    elif (tv := _scalar(tags, ("ShutterSpeedValue",))) and abs(tv[0]) < 64:
        rec["exposure_time_s"] = Reading(2.0 ** (-tv[0]), "EXIF ShutterSpeedValue (APEX)")

    if (n := _scalar(tags, ("FNumber",))) is not None:
        rec["f_number"] = Reading(n[0], "EXIF FNumber")
    elif (av := _scalar(tags, ("ApertureValue",))) and abs(av[0]) < 64:
        rec["f_number"] = Reading(2.0 ** (av[0] / 2.0), "EXIF ApertureValue (APEX)")

    if (f := _scalar(tags, ("FocalLength",))) is not None:
        rec["focal_length_mm"] = Reading(f[0], "EXIF FocalLength")

    rec["iso"] = _iso(tags)
    rec["dng"] = _dng_colour(tags)
    return ExifRecord(**rec)


def _iso(tags: dict[str, Any]) -> Reading | None:
    ratings = [v for v in _values(_first(tags, "EXIF ISOSpeedRatings", "Image ISOSpeedRatings")) if v > 0]
    if ratings and ratings[0] != _ISO_UNKNOWN:
        return Reading(ratings[0], "EXIF ISOSpeedRatings")
    for name in ("RecommendedExposureIndex", "ISOSpeed", "StandardOutputSensitivity"):
        if (v := _scalar(tags, (name,))) and v[0] > 0:
            return Reading(v[0], f"EXIF {name}")
    if ratings:  # only the 65535 marker: keep it so the plausibility check can report it
        return Reading(ratings[0], "EXIF ISOSpeedRatings")
    return _maker_note_iso(tags)


def _maker_note_iso(tags: dict[str, Any]) -> Reading | None:
    nikon = _values(tags.get("MakerNote ISOSetting"))
    if nikon:
        # Nikon stores the ISO as the last element of a (0, iso) pair.
        return Reading(nikon[-1], "Nikon MakerNote ISOSetting")
    canon_iso = _values(tags.get("MakerNote ISO"))
    if canon_iso and canon_iso[0] > 0:
        return Reading(canon_iso[0], "Canon MakerNote ISO")
    make = (_text(tags.get("Image Make")) or "").lower()
    rw2_iso = _values(tags.get("Image Tag 0x0017"))
    if rw2_iso and rw2_iso[0] > 0 and ("panasonic" in make or "leica" in make):
        # Panasonic's RW2 IFD0 keeps the ISO in its private tag 0x0017.
        return Reading(rw2_iso[0], "Panasonic RW2 ISO tag")
    base = _values(tags.get("MakerNote BaseISO"))
    if base and base[0] > 0:
        # Canon's shot-info codes are 1/32-EV steps: BaseISO = 100 * 2^(v/32 - 5); AutoISO scales it.
        auto = _values(tags.get("MakerNote AutoISO"))
        auto_factor = 2.0 ** (auto[0] / 32.0) if auto else 1.0
        return Reading(100.0 * 2.0 ** (base[0] / 32.0 - 5.0) * auto_factor, "Canon MakerNote BaseISO")
    return None


def _dng_colour(tags: dict[str, Any]) -> DngColourTags:
    def matrix(tag_id: int) -> tuple[float, ...] | None:
        v = _values(tags.get(f"Image Tag 0x{tag_id:04X}"))
        return tuple(v) if len(v) == 9 else None

    def integer(tag_id: int) -> int | None:
        v = _values(tags.get(f"Image Tag 0x{tag_id:04X}"))
        return int(v[0]) if v else None

    neutral = _values(tags.get("Image Tag 0xC628"))
    return DngColourTags(
        color_matrix_1=matrix(0xC621),
        color_matrix_2=matrix(0xC622),
        calibration_illuminant_1=integer(0xC65A),
        calibration_illuminant_2=integer(0xC65B),
        as_shot_neutral=tuple(neutral[:3]) if len(neutral) >= 3 and min(neutral[:3]) > 0 else None,  # type: ignore[arg-type]
    )


def _from_ciff(data: bytes) -> ExifRecord:
    shot = read_ciff(data)
    src = "CIFF ShotInfo (APEX)"
    rot_to_orientation = {0: 1, 90: 6, 180: 3, 270: 8}
    return ExifRecord(
        make=shot.make,
        model=shot.model,
        orientation=None
        if shot.rotation_deg is None
        else Reading(rot_to_orientation[shot.rotation_deg], "CIFF ImageInfo rotation"),
        exposure_time_s=None if shot.exposure_time_s is None else Reading(shot.exposure_time_s, src),
        iso=None if shot.iso is None else Reading(shot.iso, "CIFF ShotInfo BaseISO"),
        f_number=None if shot.f_number is None else Reading(shot.f_number, src),
        focal_length_mm=None if shot.focal_length_mm is None else Reading(shot.focal_length_mm, "CIFF FocalLength"),
        found_any=shot.make is not None or shot.exposure_time_s is not None,
    )


#: The exposure tags as exifread names them, for checks that a written file kept a photo's exposure EXIF.
EXPOSURE_TAGS = ("EXIF ExposureTime", "EXIF ISOSpeedRatings", "EXIF FNumber", "EXIF FocalLength")


def exposure_tag_text(path: str | Path) -> dict[str, str]:
    """:data:`EXPOSURE_TAGS` of a file as exifread prints them (absent tags left out): the raw tags, not
    :func:`read_exif`'s interpretation, so a check on a written file does not lean on this package's own reader."""
    with open(path, "rb") as f:
        tags = exifread.process_file(f, details=False)
    return {tag: str(tags[tag]) for tag in EXPOSURE_TAGS if tag in tags}

