"""One shot's camera metadata as a single explicit, JSON-serialisable dataclass.

Conventions (see also :mod:`core_isp.cfa`):

* ``cfa_pattern`` and ``black_level_per_site`` are relative to the top-left pixel of the mosaic
  the reader returns (sensor orientation), ``black_level_per_site`` row-major over the 2x2 cell.
* ``wb_gains`` are multipliers for (R, G, B) with G = 1, applied to camera RGB.
* ``ccm_wb_cam_to_srgb`` maps *white-balanced* camera RGB to linear sRGB (D65); its rows sum to 1,
  so a white-balanced neutral stays neutral (the dcraw/LibRaw ``rgb_cam`` convention).
* Optical values carry units in their names; a missing value is ``None``, never 0. Each has a
  ``*_source`` naming where it was read (EXIF tag, APEX value, maker note, LibRaw, user).
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from dataclasses import dataclass
from typing import Any

from core_isp.cfa import validate_cfa
from core_isp.errors import BadInputError, MetadataWarning

WB_SOURCES = ("as_shot", "daylight", "estimated", "user")

#: Plausible ranges; a value outside becomes ``None`` with a warning.
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "iso": (25.0, 409600.0),
    "exposure_time_s": (1e-6, 3600.0),
    "f_number": (0.7, 128.0),
    "focal_length_mm": (1.0, 2000.0),
}
OPTICAL_FIELDS = tuple(PLAUSIBLE_RANGES)

Matrix3 = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]


def gain_held_at(iso: float, highlight_priority_iso: float | None) -> bool:
    """Whether a body that holds its sensor's gain a stop low from recorded ISO ``highlight_priority_iso`` (None:
    never) does so at recorded ``iso``."""
    return highlight_priority_iso is not None and iso >= highlight_priority_iso


@dataclass(frozen=True)
class CameraMetadata:
    """Metadata of one shot (a RAW file, a rendered photo, or a simulated capture)."""

    make: str | None = None
    model: str | None = None

    # Sensor layout; None for a rendered (sRGB) image.
    cfa_pattern: str | None = None
    black_level_per_site: tuple[float, float, float, float] | None = None
    white_level: float | None = None
    #: The level where the data really clips, when lower than ``white_level``.
    saturation_level: float | None = None
    #: The body's gain rule: from this recorded ISO up it holds the sensor's gain a stop lower and lifts the JPEG
    #: (highlight-tone priority, Active D-Lighting). None: never, or not known. A rule rather than a per-shot flag, so
    #: a shot moved to another ISO never carries a stale one.
    highlight_priority_iso: float | None = None
    #: (height, width) of the image as returned by the reader, in sensor orientation.
    image_size_hw: tuple[int, int] | None = None
    #: The camera's own crop of the returned image: (top, left, height, width).
    default_crop_tlhw: tuple[int, int, int, int] | None = None

    # Colour.
    wb_gains: tuple[float, float, float] | None = None
    wb_source: str | None = None
    ccm_wb_cam_to_srgb: Matrix3 | None = None
    ccm_source: str | None = None

    # Optics and exposure.
    exposure_time_s: float | None = None
    exposure_time_source: str | None = None
    iso: float | None = None
    iso_source: str | None = None
    f_number: float | None = None
    f_number_source: str | None = None
    focal_length_mm: float | None = None
    focal_length_source: str | None = None
    #: EXIF orientation code 1..8 that turns sensor orientation into display orientation.
    orientation: int = 1
    orientation_source: str | None = None

    def __post_init__(self) -> None:
        if self.cfa_pattern is not None:
            object.__setattr__(self, "cfa_pattern", validate_cfa(self.cfa_pattern))
        if self.wb_source is not None and self.wb_source not in WB_SOURCES:
            raise BadInputError(f"wb_source must be one of {WB_SOURCES}, got {self.wb_source!r}")
        if self.wb_gains is not None:
            if len(self.wb_gains) != 3 or not all(math.isfinite(g) and g > 0 for g in self.wb_gains):
                raise BadInputError(f"white-balance gains must be 3 positive numbers, got {self.wb_gains}")
            if abs(self.wb_gains[1] - 1.0) > 1e-6:
                raise BadInputError(f"white-balance gains must have G = 1, got {self.wb_gains}")
        if self.ccm_wb_cam_to_srgb is not None:
            m = self.ccm_wb_cam_to_srgb
            if len(m) != 3 or any(len(r) != 3 for r in m):
                raise BadInputError("ccm_wb_cam_to_srgb must be 3x3")
        if self.black_level_per_site is not None and len(self.black_level_per_site) != 4:
            raise BadInputError("black_level_per_site needs 4 values (row-major 2x2)")
        if not 1 <= int(self.orientation) <= 8:
            raise BadInputError(f"EXIF orientation must be 1..8, got {self.orientation}")

    # -- derived values ---------------------------------------------------------------------------

    @property
    def gain_held(self) -> bool:
        """Whether the sensor's gain was held a stop below the recorded ISO (:attr:`highlight_priority_iso`)."""
        return self.iso is not None and gain_held_at(self.iso, self.highlight_priority_iso)

    @property
    def is_raw(self) -> bool:
        """True when the metadata describes a Bayer mosaic."""
        return self.cfa_pattern is not None

    @property
    def clip_level(self) -> float:
        """Normalised level (after black subtraction and division by white - black) where data clips."""
        if self.white_level is None or self.black_level_per_site is None:
            return 1.0
        sat = self.saturation_level if self.saturation_level is not None else self.white_level
        black = max(self.black_level_per_site)
        return (sat - black) / (self.white_level - black)

    def with_exif(self, **values: float | None) -> CameraMetadata:
        """Copy with optical values set by the user (``iso=1600``: "as if shot at ISO 1600"); ``None`` keeps the
        recorded value. An implausible value is a one-line :class:`BadInputError`."""
        changes: dict[str, Any] = {}
        for name, value in values.items():
            if name not in OPTICAL_FIELDS:
                raise BadInputError(f"{name} is not an EXIF value ({', '.join(OPTICAL_FIELDS)})")
            if value is None:
                continue
            lo, hi = PLAUSIBLE_RANGES[name]
            if not (math.isfinite(value) and lo <= value <= hi):
                raise BadInputError(f"--{name.replace('_', '-')} {value:g} is not plausible (range {lo:g}..{hi:g})")
            changes[name] = float(value)
            changes[source_field(name)] = "user"
        return self.replace(**changes) if changes else self

    def missing_optics(self) -> list[str]:
        """Names of the optical parameters that are unknown."""
        return [f for f in OPTICAL_FIELDS if getattr(self, f) is None]

    # -- edits --------------------------------------------------------------------------------------

    def replace(self, **changes: Any) -> CameraMetadata:
        """Copy with fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # -- JSON ---------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of JSON types (tuples become lists)."""
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text; :meth:`from_json` restores an equal object."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CameraMetadata:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a misspelt field must not vanish)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise BadInputError(f"unknown metadata fields: {sorted(unknown)}")
        kw: dict[str, Any] = {}
        for k, v in d.items():
            if isinstance(v, list):
                v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
            kw[k] = v
        return cls(**kw)

    @classmethod
    def from_json(cls, text: str) -> CameraMetadata:
        """Parse :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))


def source_field(name: str) -> str:
    """``exposure_time_s`` -> ``exposure_time_source`` (units dropped)."""
    return name.removesuffix("_s").removesuffix("_mm") + "_source"


def plausible(name: str, value: float | None, source: str | None) -> tuple[float | None, str | None]:
    """Return ``(value, source)``, or ``(None, None)`` with a :class:`MetadataWarning` when implausible."""
    if value is None:
        return None, None
    lo, hi = PLAUSIBLE_RANGES[name]
    if not (math.isfinite(value) and lo <= value <= hi):
        warnings.warn(
            f"{name}={value:g} from {source} is outside the plausible range [{lo:g}, {hi:g}]; treated as unknown",
            MetadataWarning,
            stacklevel=2,
        )
        return None, None
    return float(value), source
