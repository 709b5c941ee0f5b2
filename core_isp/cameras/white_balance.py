"""The white balance of a photo that records none (a JPEG keeps no as-shot neutral), in a camera's own terms.

Estimate: the scene brightness EV100 from the photo's exposure time, f-number and ISO tells daylight (EV100 >= 12:
5500 K) from indoor light (EV100 <= 7: 3400 K), interpolated in mired between; without those three values the
camera's daylight preset. The estimate reads the photo's *recorded* exposure: a request to render "as if shot at
ISO 1600" changes the noise and tone the ISP produces, not the light the scene was lit by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core_isp.cameras.camera import DAYLIGHT_CCT_K, Camera
from core_isp.errors import BadInputError
from core_isp.metadata import CameraMetadata

INDOOR_CCT_K = 3400.0
_BRIGHT_EV100, _DIM_EV100 = 12.0, 7.0


@dataclass(frozen=True)
class WhiteBalance:
    """Gains (R, G, B) with G = 1, the illuminant they correspond to (None for user gains) and their source."""

    gains: tuple[float, float, float]
    cct_k: float | None
    source: str  # one of core_isp.metadata.WB_SOURCES

    def describe(self) -> str:
        """One phrase for logs and DNG descriptions, e.g. ``WB estimated (4700 K)``."""
        return f"WB {self.source}" + (f" ({self.cct_k:.0f} K)" if self.cct_k is not None else " gains")


def scene_ev100(photo: CameraMetadata) -> float | None:
    """Scene brightness ``log2(N^2 / t) - log2(ISO / 100)``, or None when a value is unknown."""
    if None in (photo.exposure_time_s, photo.f_number, photo.iso):
        return None
    return math.log2(photo.f_number**2 / photo.exposure_time_s) - math.log2(photo.iso / 100.0)  # type: ignore[operator]


def estimate_illuminant_cct(photo: CameraMetadata) -> float | None:
    """Illuminant temperature from scene brightness (see the module notes), or None without exposure EXIF."""
    ev = scene_ev100(photo)
    if ev is None:
        return None
    w = min(max((ev - _DIM_EV100) / (_BRIGHT_EV100 - _DIM_EV100), 0.0), 1.0)
    return 1.0 / (w / DAYLIGHT_CCT_K + (1.0 - w) / INDOOR_CCT_K)


def photo_white_balance(camera: Camera, photo: CameraMetadata, choice: str | None = None) -> WhiteBalance:
    """A photo's white balance for ``camera``: ``choice`` is ``None``/``"estimate"``, ``"daylight"``, a
    temperature like ``"3200K"``, or ``"R,G,B"`` gains. Bad choices are a one-line :class:`BadInputError`."""
    if choice in (None, "estimate"):
        cct = estimate_illuminant_cct(photo)
        if cct is not None:
            return WhiteBalance(camera.colour.white_balance(cct)[0], cct, "estimated")
        choice = "daylight"
    if choice == "daylight":
        return WhiteBalance(camera.colour.white_balance(DAYLIGHT_CCT_K)[0], DAYLIGHT_CCT_K, "daylight")
    text = choice.strip()
    if text.lower().endswith("k"):
        try:
            cct = float(text[:-1])
        except ValueError:
            raise BadInputError(f"--wb temperature must look like 3200K, got {choice!r}") from None
        if not 1500.0 <= cct <= 25000.0:
            raise BadInputError(f"--wb temperature must lie in 1500K..25000K, got {choice!r}")
        return WhiteBalance(camera.colour.white_balance(cct)[0], cct, "user")
    try:
        r, g, b = (float(v) for v in text.split(","))
    except ValueError:
        raise BadInputError(f"--wb: estimate, daylight, a temperature (3200K) or R,G,B, not {choice!r}") from None
    if not all(math.isfinite(v) and v > 0 for v in (r, g, b)):
        raise BadInputError(f"--wb gains must be positive, got {choice}")
    return WhiteBalance((r / g, 1.0, b / g), None, "user")
