"""The shared bootstrap interval: clustered intervals widen on correlated data, and the plain path is unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core_isp.metrics import bootstrap_interval, brightness_matched


def correlated_shots(scenes: int = 24, cameras: int = 5, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Per-image values of ``cameras`` cameras on shared scenes: a large scene effect and a small camera noise,
    so the values of one scene move together (as per-scene PSNR gains do across the simulated cameras)."""
    rng = np.random.default_rng(seed)
    scene_effect = rng.normal(0.0, 2.0, scenes)
    values = scene_effect[None, :] + rng.normal(0.0, 0.3, (cameras, scenes))
    labels = np.tile(np.arange(scenes), cameras)
    return values.ravel(), labels


def width(interval: tuple[float, float, float]) -> float:
    return interval[2] - interval[1]


def test_clustered_interval_is_wider_on_correlated_data():
    values, scenes = correlated_shots()
    naive = bootstrap_interval(values)
    clustered = bootstrap_interval(values, clusters=scenes)
    assert clustered.mean == naive.mean == pytest.approx(values.mean())
    # Five nearly equal copies of each scene: the naive interval counts 120 values, the truth is closer to 24.
    assert width(clustered) > 1.8 * width(naive)
    assert clustered.lo < clustered.mean < clustered.hi


def test_constant_gives_zero_width():
    for clusters in (None, [0, 0, 1, 1, 2, 2]):
        assert tuple(bootstrap_interval(np.full(6, 1.25), clusters=clusters)) == (1.25, 1.25, 1.25)


def test_seed_reproduces_and_changes():
    values, scenes = correlated_shots()
    assert bootstrap_interval(values, scenes, seed=7) == bootstrap_interval(values, scenes, seed=7)
    assert bootstrap_interval(values, scenes, seed=7) != bootstrap_interval(values, scenes, seed=8)


def test_clusters_of_one_value_equal_the_plain_bootstrap():
    values = np.random.default_rng(1).normal(size=40)
    # Arbitrary labels, not in sorted order: clusters are numbered by first appearance, so the draws coincide.
    labels = [f"scene-{k}" for k in np.random.default_rng(2).permutation(40)]
    assert bootstrap_interval(values, clusters=labels, samples=3000) == bootstrap_interval(values, samples=3000)


def test_plain_path_matches_the_benchmarks_former_bootstrap():
    """The formula the benchmarks used before sharing this function (draw values, mean, 2.5th/97.5th percentile),
    so their published intervals reproduce bit for bit."""
    values = np.random.default_rng(4).normal(size=24)
    rng = np.random.default_rng(0)
    means = rng.choice(values, size=(10000, values.size), replace=True).mean(axis=1)
    former = (float(values.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)))
    assert tuple(bootstrap_interval(values, samples=10000, seed=0)) == former


def test_unequal_clusters_resample_the_pooled_mean():
    # One scene with many values: the interval is centred on the mean over all values, not of the scene means.
    values = np.array([10.0] * 8 + [0.0, 1.0, 2.0])
    labels = [0] * 8 + [1, 2, 3]
    interval = bootstrap_interval(values, clusters=labels, samples=4000)
    assert interval.mean == pytest.approx(values.mean())
    assert interval.lo < values.mean() < interval.hi
    assert interval.hi <= 10.0 and interval.lo >= 0.0


def test_level_narrows_the_interval():
    values, scenes = correlated_shots()
    assert width(bootstrap_interval(values, scenes, level=0.5)) < width(bootstrap_interval(values, scenes))


@pytest.mark.parametrize(
    ("values", "kwargs"),
    [([], {}), ([1.0, np.nan], {}), ([1.0, 2.0], {"clusters": [0]}), ([1.0], {"level": 1.0}), ([1.0], {"samples": 0})],
)
def test_bad_arguments_are_refused(values, kwargs):
    with pytest.raises(ValueError):
        bootstrap_interval(values, **kwargs)


def test_brightness_matched_undoes_a_global_gain():
    target = torch.rand(1, 3, 8, 8) * 0.8
    assert torch.allclose(brightness_matched(target * 0.4, target), target, atol=1e-6)
    assert torch.equal(brightness_matched(torch.zeros(1, 3, 8, 8), target), torch.zeros(1, 3, 8, 8))
