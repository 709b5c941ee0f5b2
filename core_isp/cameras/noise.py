"""Sensor noise: the heteroscedastic Gaussian approximation of Poisson-Gaussian noise, scaled by ISO.

For a black-subtracted, white-normalised signal x, the noise variance is ``read + shot * x``
(Brooks et al., "Unprocessing images for learned raw denoising", CVPR 2019). Shot noise grows
linearly with analogue gain, so ``shot = shot_at_base_iso * iso / base_iso``; read noise follows
Brooks et al.'s log-linear fit across real sensors, ``log(read) = 2.18 * log(shot) + 1.20``,
optionally shifted by a per-profile offset. ``iso`` here is the analogue ISO the sensor ran at.
Noise is drawn from this model by :func:`core_isp.raw_domain.add_sensor_noise`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

READ_SHOT_SLOPE = 2.18
READ_SHOT_INTERCEPT = 1.20


@dataclass(frozen=True)
class NoiseModel:
    """A sensor's noise at its base ISO, in normalised units (variance per unit signal)."""

    shot_at_base_iso: float
    base_iso: float = 100.0
    #: Additive offset on log(read variance) relative to Brooks et al.'s fit (0 = on the fit).
    log_read_offset: float = 0.0

    def shot(self, iso: float) -> float:
        """Shot-noise variance coefficient at analogue ISO ``iso``."""
        return self.shot_at_base_iso * iso / self.base_iso

    def read(self, iso: float) -> float:
        """Read-noise variance at analogue ISO ``iso``."""
        log_shot = math.log(self.shot(iso))
        return math.exp(READ_SHOT_SLOPE * log_shot + READ_SHOT_INTERCEPT + self.log_read_offset)

    def std(self, signal: torch.Tensor | float, iso: float) -> torch.Tensor:
        """Noise standard deviation at each normalised signal level (negative levels count as 0)."""
        x = torch.as_tensor(signal, dtype=torch.float64)
        return torch.sqrt(self.read(iso) + self.shot(iso) * x.clamp(min=0.0))
