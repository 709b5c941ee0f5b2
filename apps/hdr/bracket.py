"""An exposure bracket as the merge needs it: frames of one size from one camera, each with its exposure.

A frame's RAW level for a given scene is proportional to ``t * S / N^2`` (exposure time, the analogue ISO the
sensor ran at, f-number): :func:`core_isp.cameras.exposure_level`. Values the files lack come from the command
line (``--exposures``
or an HDRShop-style ``image_list.txt``; ``--iso`` and ``--f-number`` for the whole bracket); a bracket whose frames
all lack ISO (or f-number) is taken as shot at one ISO (one aperture), which leaves the relative exposures exact
and only the absolute scale of the result assumed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core_isp.errors import BadInputError, MetadataWarning
from core_isp.image import CameraImage
from core_isp.metadata import CameraMetadata, source_field

#: f-number assumed for a bracket none of whose frames records one (it sets the absolute scale only).
ASSUMED_F_NUMBER = 8.0
#: Frames whose exposure levels agree within this relative tolerance count as the same exposure.
SAME_EXPOSURE_RTOL = 0.01


@dataclass(frozen=True)
class ListedExposure:
    """One line of an exposure list: the frame's exposure time and, when listed, its f-number."""

    exposure_time_s: float
    f_number: float | None = None


def parse_exposures(text: str) -> list[float]:
    """``"1/30,1/8,0.5"`` -> exposure times in seconds; anything else is a one-line :class:`BadInputError`."""
    values = []
    for item in text.split(","):
        num, _, den = item.strip().partition("/")
        try:
            value = float(num) / float(den) if den else float(num)
        except (ValueError, ZeroDivisionError):
            raise BadInputError(f"--exposures: {item.strip()!r} is not an exposure time like 1/30 or 0.5") from None
        if not (math.isfinite(value) and value > 0):
            raise BadInputError(f"--exposures: exposure times must be positive, got {item.strip()!r}")
        values.append(value)
    return values


def read_exposure_list(path: str | Path) -> dict[str, ListedExposure]:
    """An HDRShop/Debevec ``image_list.txt``: per line ``file  exposure  1/shutter_speed  f/stop  gain(dB)  ND``.

    The exposure time is ``1 / (1/shutter_speed)`` and the f-number the ``f/stop`` column; lines starting with
    ``#`` are comments. A gain or ND filter other than 0 is refused (their meaning differs between tools).
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such exposure list")
    entries = {}
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        try:
            name, inverse_shutter, f_stop = fields[0], float(fields[2]), float(fields[3])
            extra = [float(v) for v in fields[4:6]]
        except (IndexError, ValueError):
            raise BadInputError(f"{path.name}:{number}: expected 'file exposure 1/shutter f/stop [gain ND]'") from None
        if inverse_shutter <= 0 or f_stop <= 0:
            raise BadInputError(f"{path.name}:{number}: shutter and f-stop must be positive")
        if any(v != 0 for v in extra):
            raise BadInputError(f"{path.name}:{number}: gain and ND filters other than 0 are not supported")
        entries[name] = ListedExposure(1.0 / inverse_shutter, f_stop)
    if not entries:
        raise BadInputError(f"{path.name}: no frames listed")
    return entries


def with_exposures(
    frames: Sequence[CameraImage],
    names: Sequence[str] | None = None,
    exposures_s: Sequence[float] | None = None,
    listed: dict[str, ListedExposure] | None = None,
    iso: float | None = None,
    f_number: float | None = None,
) -> list[CameraImage]:
    """Frames with exposure values from the user replacing their EXIF ones.

    ``exposures_s`` gives one time per frame in order; ``listed`` (from :func:`read_exposure_list`) gives times
    and f-numbers by file name (``names``); ``iso`` and ``f_number`` hold for every frame. Implausible values
    are refused (:meth:`CameraMetadata.with_exif`).
    """
    if exposures_s is not None and len(exposures_s) != len(frames):
        raise BadInputError(f"--exposures lists {len(exposures_s)} times for {len(frames)} frames")
    out = []
    for k, frame in enumerate(frames):
        entry = None
        if listed is not None:
            name = names[k] if names is not None else None
            entry = listed.get(name) if name is not None else None
            if entry is None:
                raise BadInputError(f"the exposure list has no line for {name or f'frame {k}'}")
        time_s = exposures_s[k] if exposures_s is not None else entry.exposure_time_s if entry else None
        aperture = f_number if f_number is not None else entry.f_number if entry else None
        meta = frame.meta.with_exif(exposure_time_s=time_s, iso=iso, f_number=aperture)
        out.append(frame.with_pixels(frame.pixels, metadata=[meta]))
    return out


def check_bracket(frames: Sequence[CameraImage], names: Sequence[str], base_iso: float) -> list[CameraMetadata]:
    """Refuse what cannot be merged; return each frame's metadata with ISO and f-number completed.

    Refused, each with a one-line :class:`BadInputError`: fewer than two frames, frames of different sizes or
    from two cameras (by make and model, where recorded), a frame without exposure time, a bracket where some
    frames record an ISO or f-number and others do not, and a bracket whose frames all have the same exposure.
    Where no frame records an ISO the camera's base ISO is assumed, and :data:`ASSUMED_F_NUMBER` where none
    records an f-number, each with a :class:`MetadataWarning`.
    """
    if len(frames) < 2:
        raise BadInputError(
            f"an HDR merge needs at least 2 frames, got {len(frames)} (for one photo use 'paramisp hdr expand')"
        )
    sizes = {f.size_hw for f in frames}
    if len(sizes) > 1:
        raise BadInputError(f"the frames differ in size: {', '.join(f'{h}x{w}' for h, w in sorted(sizes))}")
    bodies = {(m.make.strip(), (m.model or "").strip()) for m in (f.meta for f in frames) if m.make}
    if len(bodies) > 1:
        raise BadInputError(f"the frames come from {len(bodies)} cameras: {', '.join(' '.join(b) for b in bodies)}")
    metas = [f.meta for f in frames]
    for name, meta in zip(names, metas, strict=True):
        if meta.exposure_time_s is None:
            raise BadInputError(f"{name}: no exposure time in its EXIF; give them with --exposures (e.g. 1/30,1/8,1/2)")
    metas = _complete(metas, names, "iso", base_iso, "--iso")
    metas = _complete(metas, names, "f_number", ASSUMED_F_NUMBER, "--f-number")
    return metas


def check_exposures_differ(levels: Sequence[float]) -> None:
    """Refuse a bracket whose frames all have the same exposure level (nothing to extend the range with)."""
    if max(levels) <= min(levels) * (1.0 + SAME_EXPOSURE_RTOL):
        raise BadInputError(
            f"all {len(levels)} frames have the same exposure (t x ISO / N^2): not a bracket; "
            "give each frame's exposure with --exposures if the EXIF is wrong"
        )


def reference_index(levels: Sequence[float]) -> int:
    """The frame of middle exposure (the lower of the two middle ones for an even count)."""
    order = sorted(range(len(levels)), key=lambda k: levels[k])
    return order[(len(order) - 1) // 2]


def _complete(
    metas: list[CameraMetadata], names: Sequence[str], field: str, assumed: float, flag: str
) -> list[CameraMetadata]:
    known = [getattr(m, field) is not None for m in metas]
    if all(known):
        return metas
    if any(known):
        missing = names[known.index(False)]
        label = field.replace("_", "-")
        raise BadInputError(f"{missing}: no {label} in its EXIF while other frames have one; give {flag}")
    warnings.warn(
        f"no frame records its {field.replace('_', '-')}: assuming {assumed:g} for all (the relative exposures do "
        f"not depend on it, the absolute scale does; give {flag})",
        MetadataWarning,
        stacklevel=3,
    )
    return [m.replace(**{field: float(assumed), source_field(field): "assumed"}) for m in metas]
