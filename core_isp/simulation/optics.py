"""Lens vignetting that depends on f-number and focal length, and the camera's partial correction.

Falloff = natural x optical:

* natural: the cos^4 law, cos^4(theta) with tan(theta) = r * d / f, where r is the radius relative
  to the half diagonal, d the half diagonal of the sensor in mm and f the focal length in mm —
  wide lenses darken the corners more;
* optical (mechanical) vignetting of a wide-open lens: 1 - a * r^4 with a = a_max * (N_open / N)^2
  clamped to [0, a_max], so it fades as the lens is stopped down, as real lenses do.

In-camera lens-shading correction divides by the falloff raised to ``strength`` (< 1: cameras
leave some vignetting in on purpose and never amplify corner noise fully), so the JPEG keeps
``falloff^(1 - strength)`` — driven by the EXIF f-number and focal length, invisible in the pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LensModel:
    """Vignetting parameters of a body + lens combination (units in the names)."""

    sensor_diagonal_mm: float
    #: f-number at which the lens is wide open (optical vignetting is strongest there).
    open_f_number: float = 1.8
    #: Smallest aperture the program mode uses (phones have one fixed aperture: equal to open).
    max_f_number: float = 16.0
    #: Optical-vignetting amplitude at the open aperture (corner loss from the r^4 term).
    optical_vignetting_max: float = 0.35
    #: Fraction (in log units) of the falloff the camera's lens-shading correction removes.
    correction_strength: float = 0.75


def radius_map(height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Radius of every pixel centre relative to the half diagonal: ``(H, W)``, 0 at the centre, ~1 at corners."""
    y = torch.arange(height, device=device, dtype=torch.float64) - (height - 1) / 2
    x = torch.arange(width, device=device, dtype=torch.float64) - (width - 1) / 2
    half_diag = math.hypot(height / 2, width / 2)
    return (torch.sqrt(y[:, None] ** 2 + x[None, :] ** 2) / half_diag).float()


def vignetting_falloff(radius: torch.Tensor, lens: LensModel, f_number: float, focal_length_mm: float) -> torch.Tensor:
    """Relative illumination (1 at the centre) at each relative ``radius``; same shape as ``radius``."""
    tan_theta = radius * (lens.sensor_diagonal_mm / 2) / focal_length_mm
    natural = torch.cos(torch.atan(tan_theta)) ** 4
    a = min(lens.optical_vignetting_max, lens.optical_vignetting_max * (lens.open_f_number / f_number) ** 2)
    optical = 1.0 - a * radius**4
    return natural * optical


def shading_correction_gain(
    radius: torch.Tensor, lens: LensModel, f_number: float, focal_length_mm: float
) -> torch.Tensor:
    """The gain the camera applies before rendering its JPEG: ``falloff^(-strength)``."""
    return vignetting_falloff(radius, lens, f_number, focal_length_mm) ** (-lens.correction_strength)
