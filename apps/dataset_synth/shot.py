"""The blurry shot's parameters: given, drawn from ranges, or derived from the sharp frames as a camera would.

A frame or photo without EXIF gets :class:`FrameDefaults` (documented values, not guesses per file), so the inverse
ISP always sees a complete shot and the manifest records what was assumed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from core_isp.cameras import Camera, exposure_level
from core_isp.errors import BadInputError
from core_isp.metadata import CameraMetadata, source_field

#: Auto ISO stops at this value (the simulated cameras' highest auto ISO).
MAX_AUTO_ISO = 25600.0
#: Auto exposure stops the lens down no further than this.
MAX_AUTO_F_NUMBER = 22.0
#: Metadata source recorded for the blurry shot's parameters.
SYNTHESISED = "synthesised"

#: One value, a ``(low, high)`` range drawn log-uniformly, or None (derived).
Choice = float | tuple[float, float] | None


@dataclass(frozen=True)
class FrameDefaults:
    """Parameters assumed for frames whose files record none (video frames, PNGs, stripped JPEGs).

    A video frame's exposure defaults to the full frame interval (``1 / fps``, a 360-degree shutter), so
    consecutive frames tile time without gaps and their sum is the clip's duration; frames read from a folder and
    photos default to ``exposure_time_s``.
    """

    exposure_time_s: float = 1.0 / 240.0
    iso: float = 200.0
    f_number: float = 4.0
    focal_length_mm: float = 24.0

    def fill(self, meta: CameraMetadata, exposure_time_s: float | None = None) -> CameraMetadata:
        """``meta`` with every missing shot parameter set from the defaults (``exposure_time_s`` overriding)."""
        values = {
            "exposure_time_s": exposure_time_s or self.exposure_time_s,
            "iso": self.iso,
            "f_number": self.f_number,
            "focal_length_mm": self.focal_length_mm,
        }
        missing = {k: v for k, v in values.items() if getattr(meta, k) is None}
        return meta.replace(**missing, **{source_field(k): "default" for k in missing})


@dataclass(frozen=True)
class BlurShotSpec:
    """How the blurry shot's exposure time (s), ISO, f-number and focal length (mm) are chosen.

    ``None`` derives a parameter from the sharp frames: the exposure time is their summed exposure (a photo's
    own exposure for a photo shaken into sub-frames), the f-number and focal length the centre frame's, and the
    ISO what auto-exposure picks to keep the frames' brightness at the longer exposure, in third stops. Where that
    would fall below the camera's base ISO the lens is stopped down instead (an unset f-number only, up to f/22);
    beyond that the blurry shot comes out brighter and clips more, as a real one would.
    """

    exposure_time_s: Choice = None
    iso: Choice = None
    f_number: Choice = None
    focal_length_mm: Choice = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def draw(
        self, frames: Sequence[CameraMetadata], camera: Camera, rng: np.random.Generator, summed_exposure: bool
    ) -> CameraMetadata:
        """The blurry shot's metadata: the centre frame's record with the chosen parameters.

        ``frames`` must be complete (see :meth:`FrameDefaults.fill`); ``summed_exposure`` says whether the
        frames tile the exposure in time (video frames) or each show the whole of it (a photo's sub-frames).
        """
        centre = frames[len(frames) // 2]
        values = {name: _draw(getattr(self, name), rng) for name in ("exposure_time_s", "f_number", "focal_length_mm")}
        if values["exposure_time_s"] is None:
            summed = sum(m.exposure_time_s for m in frames)
            values["exposure_time_s"] = summed if summed_exposure else centre.exposure_time_s
        values["f_number"] = values["f_number"] or centre.f_number
        values["focal_length_mm"] = values["focal_length_mm"] or centre.focal_length_mm
        iso = _draw(self.iso, rng)
        if iso is None:
            brightness = float(np.mean([exposure_level(m) for m in frames]))
            iso = brightness * values["f_number"] ** 2 / values["exposure_time_s"]
            if iso < camera.noise.base_iso and self.f_number is None:
                # Below base ISO a program line stops the lens down instead (to f/22 at most).
                stop_down = min(math.sqrt(camera.noise.base_iso / iso), MAX_AUTO_F_NUMBER / values["f_number"])
                values["f_number"] = max(values["f_number"], _third_stop_f(values["f_number"] * stop_down))
                iso = brightness * values["f_number"] ** 2 / values["exposure_time_s"]
            iso = min(max(camera.noise.base_iso, _third_stop(iso)), MAX_AUTO_ISO)
        values["iso"] = iso
        return centre.replace(**values, **{source_field(k): SYNTHESISED for k in values})


def _draw(choice: Choice, rng: np.random.Generator) -> float | None:
    if choice is None or isinstance(choice, int | float):
        return None if choice is None else float(choice)
    lo, hi = choice
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _third_stop_f(f_number: float) -> float:
    """Nearest third-stop f-number below ``f_number`` (third stops are powers of 2^(1/6))."""
    return 2.0 ** (math.floor(6.0 * math.log2(f_number) + 1e-9) / 6.0)


def _third_stop(iso: float) -> float:
    return 100.0 * 2.0 ** (round(3.0 * math.log2(iso / 100.0)) / 3.0)


def parse_choice(text: str | None, name: str) -> Choice:
    """``"0.02"`` -> 0.02, ``"0.01:0.1"`` -> (0.01, 0.1), None -> None; ``1/60`` fractions allowed."""
    if text is None:
        return None

    def number(s: str) -> float:
        try:
            num, _, den = s.partition("/")
            value = float(num) / float(den) if den else float(num)
        except (ValueError, ZeroDivisionError):
            raise BadInputError(f"{name}: not a number or low:high range: {text!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise BadInputError(f"{name} must be positive, got {text!r}")
        return value

    if ":" in text:
        lo, hi = (number(s) for s in text.split(":", 1))
        if lo > hi:
            raise BadInputError(f"{name}: range low {lo:g} is above high {hi:g}")
        return (lo, hi)
    return number(text)
