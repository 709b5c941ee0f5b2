"""Fit a camera's noise model from its own RAW files (no calibration shots needed).

Per RAW: in each colour plane of the mosaic, the second difference along rows ``x[j-1] - 2 x[j] + x[j+1]``
cancels any locally linear signal and leaves ``6 sigma^2`` of white noise; over 8 x 8 blocks of a plane it gives
(block mean, noise variance) pairs. Texture only adds variance, so within each band of signal level a low
quantile (2 %) of the blocks is taken (the smoothest), divided by that quantile's ratio to the true variance for
pure noise (computed once from simulated white noise through the same statistic), and
``variance = read + shot * mean`` is fitted to the bands by least squares, per ISO. Across ISOs the shot
coefficient is proportional to ISO and the read variance follows Brooks et al.'s log-linear relation with a
per-camera offset (the form of :class:`~core_isp.cameras.noise.NoiseModel`). Clipped and near-black blocks are
left out. Texture finer than a block still inflates the estimate; the report gives the per-ISO fits.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from core_isp.cameras.noise import READ_SHOT_INTERCEPT, READ_SHOT_SLOPE, NoiseModel
from core_isp.errors import BadInputError

_BLOCK = 8
_BANDS = 16
_MIN_BLOCKS_PER_BAND = 20
#: Quantile of block variances taken as the noise in a band.
_QUANTILE = 0.02
#: Bound on the fitted read-noise offset (natural log; e^4 ~ 55x Brooks et al.'s fit either way).
_MAX_OFFSET = 4.0


@dataclass(frozen=True)
class IsoFit:
    """The fitted affine noise of the shots at one ISO."""

    iso: float
    shots: int
    read: float
    shot: float
    bands: int


@dataclass(frozen=True)
class NoiseFit:
    """The fitted model, the per-ISO fits it came from, and how well the model reproduces them."""

    model: NoiseModel
    per_iso: tuple[IsoFit, ...]
    #: Per ISO, the model's noise std at mid-grey (0.18) relative to the ISO's own fit, minus 1.
    relative_std_error: dict[float, float]

    def to_dict(self) -> dict:
        """JSON types, for the camera's report."""
        return {
            "model": dataclasses.asdict(self.model),
            "per_iso": [dataclasses.asdict(f) for f in self.per_iso],
            "relative_std_error_at_0.18": {str(k): round(v, 4) for k, v in self.relative_std_error.items()},
        }


def _blocks(x: torch.Tensor) -> torch.Tensor:
    """``(h, w)`` with both multiples of the block size -> ``(blocks, block size ** 2)``."""
    h, w = x.shape
    return x.reshape(h // _BLOCK, _BLOCK, w // _BLOCK, _BLOCK).transpose(1, 2).reshape(-1, _BLOCK * _BLOCK)


def block_statistics(mosaic: torch.Tensor, clip_level: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W)`` normalised mosaic -> (block means, block noise variances), one pair per 8 x 8 block of each of
    the four colour planes, clipped blocks removed."""
    planes = [mosaic[dy::2, dx::2].double() for dy in (0, 1) for dx in (0, 1)]
    means, variances = [], []
    for p in planes:
        h, w = (p.shape[0] // _BLOCK) * _BLOCK, ((p.shape[1] - 2) // _BLOCK) * _BLOCK
        if h == 0 or w == 0:
            continue
        second = (p[:h, 0:w] - 2 * p[:h, 1 : w + 1] + p[:h, 2 : w + 2]) ** 2 / 6.0
        centre = p[:h, 1 : w + 1]
        peak = torch.maximum(torch.maximum(p[:h, 0:w], centre), p[:h, 2 : w + 2])

        keep = _blocks(peak).amax(1) < 0.97 * clip_level
        means.append(_blocks(centre).mean(1)[keep].numpy())
        variances.append(_blocks(second).mean(1)[keep].numpy())
    if not means:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(means), np.concatenate(variances)


@functools.cache
def _quantile_bias() -> float:
    """Ratio of the :data:`_QUANTILE` block variance to the true variance for white noise of unit variance."""
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(2 * 512, 2 * 512, generator=g, dtype=torch.float64)
    _, variances = block_statistics(noise + 10.0, clip_level=1e9)
    return float(np.quantile(variances, _QUANTILE))


def band_points(means: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(level, noise variance) through the smoothest blocks of each band of signal level (bands of equal count)."""
    ok = means > 0.002
    means, variances = means[ok], variances[ok]
    if means.size < _MIN_BLOCKS_PER_BAND:
        return np.zeros(0), np.zeros(0)
    edges = np.quantile(means, np.linspace(0, 1, _BANDS + 1))
    xs, ys = [], []
    for lo, hi in itertools.pairwise(edges):
        sel = (means >= lo) & (means <= hi)
        if sel.sum() >= _MIN_BLOCKS_PER_BAND:
            xs.append(float(np.median(means[sel])))
            ys.append(float(np.quantile(variances[sel], _QUANTILE)) / _quantile_bias())
    return np.asarray(xs), np.asarray(ys)


def fit_noise_model(samples: list[tuple[float, torch.Tensor, float]]) -> NoiseFit:
    """Fit from ``(iso, mosaic (H, W), clip_level)`` per RAW (shots without an ISO are skipped by the caller).

    Texture and residual structure only ever add variance, so the model is fitted to the low side of the band
    points: the shot coefficient at base ISO is the lower quartile, over every point where shot noise dominates
    (level >= 0.02), of ``variance / (level * ISO / base ISO)``; the read offset is the median over the darkest
    points (level < 0.01) of what the shot term leaves."""
    points: dict[float, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for iso, mosaic, clip in samples:
        points[float(iso)].append(band_points(*block_statistics(mosaic, clip)))
    if not points:
        raise BadInputError("no RAW with a known ISO to fit a noise model from")
    base_iso = min(points)
    xs = np.concatenate([x for p in points.values() for x, _ in p])
    ys = np.concatenate([y for p in points.values() for _, y in p])
    gains = np.concatenate([np.full(x.size, iso / base_iso) for iso, p in points.items() for x, _ in p])
    bright = xs >= 0.02
    if bright.sum() < 3:
        raise BadInputError("too few smooth, unclipped areas above 2 % of white in the RAWs to fit a noise model")
    shot_at_base = float(np.quantile(ys[bright] / (xs[bright] * gains[bright]), 0.25))
    dark = xs < 0.01
    left = ys[dark] - shot_at_base * gains[dark] * xs[dark]
    offsets = np.log(left[left > 0]) - READ_SHOT_SLOPE * np.log(shot_at_base * gains[dark][left > 0])
    offset = 0.0
    if offsets.size:
        offset = float(np.clip(np.median(offsets) - READ_SHOT_INTERCEPT, -_MAX_OFFSET, _MAX_OFFSET))
    model = NoiseModel(shot_at_base_iso=shot_at_base, base_iso=base_iso, log_read_offset=offset)
    fits, errors = [], {}
    for iso, p in sorted(points.items()):
        x, y = np.concatenate([a for a, _ in p]), np.concatenate([b for _, b in p])
        shot, read = np.polyfit(x, y, 1) if x.size >= 3 else (float("nan"), float("nan"))
        fits.append(IsoFit(iso=iso, shots=len(p), read=float(read), shot=float(shot), bands=int(x.size)))
        own, modelled = read + shot * 0.18, model.read(iso) + model.shot(iso) * 0.18
        errors[iso] = math.sqrt(modelled / own) - 1.0 if own > 0 else float("nan")
    return NoiseFit(model=model, per_iso=tuple(fits), relative_std_error=errors)
