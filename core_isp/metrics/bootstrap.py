"""Percentile-bootstrap intervals for benchmark means, over independent values or over clusters (scenes).

Every benchmark of the suite reports its means and paired differences through :func:`bootstrap_interval`, so
that one resampling scheme, one seed convention and one percentile rule stand behind every interval.

Why clusters: the test shots of the simulated cameras share their scenes (shot ``k`` of every camera renders
scene ``k``), and a scene that is hard for one camera is hard for all of them. Resampling the images as if they
were independent then understates the spread of the mean; resampling whole scenes does not.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import NamedTuple

import numpy as np

#: Resamples when a caller does not say; the benchmarks pass their own (2000 or 10000).
DEFAULT_SAMPLES = 2000


class Interval(NamedTuple):
    """A mean and the bounds of its bootstrap interval; unpacks as ``mean, lo, hi``."""

    mean: float
    lo: float
    hi: float


def cluster_codes(clusters: Sequence[Hashable]) -> np.ndarray:
    """Integer code of each label, numbered by first appearance.

    First appearance, not sorted order: with one value per cluster the codes are ``0 .. n-1`` in the values'
    own order, so a clustered bootstrap draws exactly what the plain one draws (same seed, same numbers).
    """
    numbering: dict[Hashable, int] = {}
    return np.array([numbering.setdefault(label, len(numbering)) for label in clusters], dtype=np.int64)


def tail_probability(level: float) -> float:
    """Probability left in each tail of a two-sided interval at ``level``.

    Rounded so that ``level=0.95`` gives exactly the double ``0.025`` (``(1 - 0.95) / 2`` is ``0.025000000000000022``
    in floating point), which keeps the intervals bit for bit equal to ``np.percentile(x, [2.5, 97.5])``.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return round((1.0 - level) / 2.0, 12)


def bootstrap_interval(
    values: Sequence[float] | np.ndarray,
    clusters: Sequence[Hashable] | np.ndarray | None = None,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """Mean of ``values`` and its percentile-bootstrap interval.

    Without ``clusters`` each value is resampled on its own (the values are taken as independent). With
    ``clusters`` (one label per value, e.g. the scene id of each shot) every resample draws whole clusters with
    replacement, as many as there are, and takes the mean over *all values* of the drawn clusters. That pooled
    mean is the very statistic reported (the mean over all values), so the interval is centred on it even when
    clusters hold different numbers of values (an ISO bin holds a scene's shot from some cameras only); with
    equal cluster sizes it is the mean of the cluster means. Clusters of one value reproduce the plain bootstrap
    exactly.

    Args:
        values: 1-D values (e.g. per-image PSNR differences), finite.
        clusters: a hashable label per value, or ``None`` for independent values.
        samples: bootstrap resamples.
        seed: seed of ``np.random.default_rng``; the same inputs and seed give the same interval.
        level: coverage of the two-sided interval (0.95: the 2.5th and 97.5th percentiles).

    Returns:
        ``Interval(mean, lo, hi)``.

    Raises:
        ValueError: no values, non-finite values, not 1-D, a label count that differs from the value count,
            fewer than one resample, or a level outside (0, 1).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("values must be finite")
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    tail = tail_probability(level)
    if clusters is None:
        codes = np.arange(x.size)
    else:
        if len(clusters) != x.size:
            raise ValueError(f"{len(clusters)} cluster labels for {x.size} values")
        codes = cluster_codes(clusters)
    n_clusters = int(codes.max()) + 1
    # Per-cluster sums and sizes: a resample's pooled mean is (sum of drawn sums) / (sum of drawn sizes).
    sums = np.bincount(codes, weights=x, minlength=n_clusters)
    sizes = np.bincount(codes, minlength=n_clusters)
    rng = np.random.default_rng(seed)
    drawn = rng.choice(n_clusters, size=(samples, n_clusters), replace=True)
    means = sums[drawn].sum(axis=1) / sizes[drawn].sum(axis=1)
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return Interval(float(x.mean()), float(lo), float(hi))
