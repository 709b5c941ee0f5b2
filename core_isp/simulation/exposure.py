"""Radiometric exposure and a simulated auto-exposure (program) mode.

RAW level (normalised to white - black) = scene luminance [cd/m^2] x t [s] x gain-ISO / N^2 x k,
clipped at the white level, where k is the profile's sensitivity constant. k is set so that a
scene metered "correctly" (reflected-light meter equation L t S / N^2 = K, K = 12.5 cd s/m^2,
ISO 2720) puts its mean at the profile's ``mid_grey_raw`` level, a few stops below clipping, as
real cameras leave highlight headroom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core_isp.metadata import gain_held_at

METER_CALIBRATION_K = 12.5  # cd s / m^2, reflected-light meters (ISO 2720)

# The nominal third-stop values cameras use and record in EXIF (the simulation exposes with them).
_ISO_STOPS = [
    25,
    32,
    40,
    50,
    64,
    80,
    100,
    125,
    160,
    200,
    250,
    320,
    400,
    500,
    640,
    800,
    1000,
    1250,
    1600,
    2000,
    2500,
    3200,
    4000,
    5000,
    6400,
    8000,
    10000,
    12800,
    16000,
    20000,
    25600,
    32000,
    40000,
    51200,
]
_N_STOPS = [
    1.0,
    1.1,
    1.2,
    1.4,
    1.6,
    1.7,
    1.8,
    2.0,
    2.2,
    2.5,
    2.8,
    3.2,
    3.5,
    4.0,
    4.5,
    5.0,
    5.6,
    6.3,
    7.1,
    8.0,
    9.0,
    10.0,
    11.0,
    13.0,
    14.0,
    16.0,
    18.0,
    20.0,
    22.0,
]
_T_DENOMINATORS = [
    16000,
    12800,
    10000,
    8000,
    6400,
    5000,
    4000,
    3200,
    2500,
    2000,
    1600,
    1250,
    1000,
    800,
    640,
    500,
    400,
    320,
    250,
    200,
    160,
    125,
    100,
    80,
    60,
    50,
    40,
    30,
    25,
    20,
    15,
    13,
    10,
    8,
    6,
    5,
    4,
    3,
]
_T_STOPS = [1.0 / d for d in _T_DENOMINATORS] + [0.4, 0.5, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0, 2.5, 3.2, 4.0, 5.0, 6.0,
                                                  8.0, 10.0, 13.0, 15.0, 20.0, 25.0, 30.0]  # fmt: skip


@dataclass(frozen=True)
class ShotSettings:
    """What the camera did for one shot (what EXIF records, plus what it does not)."""

    exposure_time_s: float
    f_number: float
    iso: float
    focal_length_mm: float
    exposure_compensation_ev: float = 0.0
    #: Highlight-tone priority: the sensor runs one stop below the recorded ISO and the JPEG is lifted.
    highlight_tone_priority: bool = False

    @property
    def analog_iso(self) -> float:
        """The ISO the sensor really ran at (a stop below the recorded one under highlight-tone priority)."""
        return self.iso / (2.0 if self.highlight_tone_priority else 1.0)

    @property
    def ev100(self) -> float:
        """Exposure value at ISO 100 implied by the settings (log2 N^2/t - log2 ISO/100)."""
        return math.log2(self.f_number**2 / self.exposure_time_s) - math.log2(self.iso / 100.0)


def raw_scale(settings: ShotSettings, mid_grey_raw: float) -> float:
    """Normalised RAW level per cd/m^2 of scene luminance for these settings.

    The profile constant k = ``mid_grey_raw`` / K puts a correctly metered mean at ``mid_grey_raw``.
    """
    sensitivity = mid_grey_raw / METER_CALIBRATION_K
    return settings.exposure_time_s * settings.analog_iso / settings.f_number**2 * sensitivity


def _snap(value: float, scale: list[float]) -> float:
    return min(scale, key=lambda s: abs(math.log2(s / value)))


def snap_iso(iso: float) -> float:
    """The nearest ISO on the cameras' third-stop scale."""
    return _snap(iso, _ISO_STOPS)


def program_exposure(
    metered_luminance_cd_m2: float,
    focal_length_mm: float,
    open_f_number: float,
    max_f_number: float,
    base_iso: float,
    max_auto_iso: float,
    exposure_compensation_ev: float = 0.0,
    htp_min_iso: float | None = None,
) -> ShotSettings:
    """Choose (t, N, ISO) like a camera's P mode for a metered scene luminance.

    The program line: at base ISO, open up from f/8 towards the lens's widest aperture as light
    falls; keep the shutter at or above the hand-holding limit 1/focal length (but never slower
    than 1/30 s before raising ISO); raise ISO up to ``max_auto_iso``; only then lengthen the
    exposure (up to 30 s). Values snap to third stops. With ``htp_min_iso`` set, shots at or above
    that ISO use highlight-tone priority.
    """
    ev100 = math.log2(metered_luminance_cd_m2 * 100.0 / METER_CALIBRATION_K) - exposure_compensation_ev
    t_hand = min(1.0 / 30.0, 1.0 / max(focal_length_mm, 1.0))
    iso = base_iso
    # Aperture: f/8 in bright light (EV >= 14), one stop wider per EV below, down to wide open.
    n = max(open_f_number, min(8.0, max_f_number, 8.0 / math.sqrt(2.0) ** max(0.0, 14.0 - ev100)))
    t = n**2 / (2.0**ev100 * iso / 100.0)
    if t > t_hand:
        iso = min(max_auto_iso, base_iso * t / t_hand)
        t = n**2 / (2.0**ev100 * iso / 100.0)
    t = min(max(t, 1 / 16000), 30.0)
    iso = snap_iso(iso)
    htp = gain_held_at(iso, htp_min_iso)
    return ShotSettings(
        exposure_time_s=_snap(t, _T_STOPS),
        f_number=_snap(n, _N_STOPS),
        iso=float(iso),
        focal_length_mm=focal_length_mm,
        exposure_compensation_ev=exposure_compensation_ev,
        highlight_tone_priority=htp,
    )
