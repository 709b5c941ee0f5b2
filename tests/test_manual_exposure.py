"""Shots set by hand in the simulated training data (core_isp.simulation.render.manual_settings): ISO drawn apart from
the light, as a bracket's frames are, where the program AE ties them together."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from core_isp.errors import BadInputError
from core_isp.simulation.capture_folder import simulate_shot
from core_isp.simulation.exposure import snap_iso
from core_isp.simulation.profiles import get_profile
from core_isp.simulation.render import (
    MANUAL_EV_RANGE,
    MANUAL_ISO_RANGE,
    auto_settings,
    manual_settings,
    metered_exposure_time_s,
)
from core_isp.simulation.scenes import Scene, load_manifest
from core_isp.training.data import SimulatedCameras, sample_generator
from core_isp.training.trainer import Trainer, TrainSettings, l1, log_l1


def bright_scene(luminance: float = 2000.0) -> Scene:
    return Scene(torch.full((3, 32, 48), luminance), luminance, "flat")


@pytest.mark.parametrize("camera", ["nikon-d7000", "canon-550d"])
def test_manual_shots_cover_the_iso_and_exposure_ranges_apart_from_the_light(camera: str) -> None:
    profile, scene = get_profile(camera), bright_scene()
    rng = np.random.default_rng(0)
    shots = [manual_settings(profile, scene, rng) for _ in range(400)]
    isos = [s.iso for s in shots]
    assert all(snap_iso(i) == i and MANUAL_ISO_RANGE[0] <= i <= MANUAL_ISO_RANGE[1] for i in isos)
    assert min(isos) <= 125 and max(isos) >= 2500
    offsets = [math.log2(s.exposure_time_s / metered_exposure_time_s(scene, s.f_number, s.iso)) for s in shots]
    assert min(offsets) >= MANUAL_EV_RANGE[0] - 1e-9 and max(offsets) <= MANUAL_EV_RANGE[1] + 1e-9
    assert min(offsets) < -2.5 and max(offsets) > 2.5
    # Highlight-tone priority follows the recorded ISO as the camera's own rule says.
    assert all(s.highlight_tone_priority == (profile.htp_min_iso is not None and s.iso >= profile.htp_min_iso)
               for s in shots)  # fmt: skip
    # In this light the program AE stays at its base ISO; hand-set shots pair it with ISO 800 and more.
    assert auto_settings(profile, scene, 50.0, 0.0).iso == profile.base_iso
    assert sum(i >= 800 for i in isos) > 100


def test_a_zero_share_keeps_every_sample_and_a_full_share_changes_only_the_exposure() -> None:
    def sample(p: float):
        return SimulatedCameras(["nikon-d7000"], "train", (32, 32), manual_exposure_p=p).sample(sample_generator(3, 0))

    plain, never, always = SimulatedCameras(["nikon-d7000"], "train", (32, 32)).sample(sample_generator(3, 0)), \
        sample(0.0), sample(1.0)  # fmt: skip
    assert torch.equal(plain.raw, never.raw) and torch.equal(plain.srgb, never.srgb) and plain.meta == never.meta
    assert plain.source == always.source  # the same scene
    assert (plain.meta.iso, plain.meta.exposure_time_s) != (always.meta.iso, always.meta.exposure_time_s)


def test_manual_exposures_and_the_loss_in_stops_refuse_bad_settings() -> None:
    with pytest.raises(BadInputError, match="simulated"):
        TrainSettings(stage="finetune", direction="inverse", data="runs/cache", steps=1, manual_exposure_p=0.5)
    with pytest.raises(BadInputError, match="share"):
        TrainSettings(stage="pretrain", direction="inverse", data="sim:nikon-d7000", steps=1, manual_exposure_p=1.5)
    with pytest.raises(BadInputError, match="stops"):
        TrainSettings(stage="pretrain", direction="inverse", data="sim:nikon-d7000", steps=1, stops_loss_weight=-0.1)


def test_the_loss_in_stops_counts_a_factor_alike_at_every_level_and_stays_finite_at_black() -> None:
    target = torch.full((1, 1, 12, 12), 0.2)
    assert float(log_l1(target, target)) == 0.0
    bright, dim = log_l1(2 * target, target), log_l1(2 * target / 20, target / 20)
    assert abs(float(bright) - 1.0) < 0.01 and abs(float(dim) - float(bright)) < 0.1  # one stop, whatever the level
    assert float(l1(2 * target / 20, target / 20)) < float(l1(2 * target, target)) / 10  # the paper's L1 hardly sees it
    black = log_l1(torch.full_like(target, -0.1), torch.zeros_like(target))
    assert torch.isfinite(black) and float(black) == 0.0  # negative estimates count as 0


def test_the_loss_in_stops_trains_beside_the_papers(tmp_path) -> None:
    settings = TrainSettings(stage="pretrain", direction="inverse", data="sim:nikon-d7000", steps=1, crop=32,
                             batch_size=2, val_every=1, val_samples=2, stops_loss_weight=0.1, manual_exposure_p=0.5)
    Trainer(settings, tmp_path / "run", progress=False).run()
    with open(tmp_path / "run" / "log.csv") as f:
        parts = [json.loads(row["parts"]) for row in csv.DictReader(f) if row["parts"]]
    assert parts and parts[0]["inverse_stops"] > 0 and parts[0]["inverse"] > 0


def test_a_hand_set_test_shot_shows_the_same_scene_and_records_whether_the_gain_was_held() -> None:
    # benchmarks.gain_rule_eval: shot k of a test run, set by the AE or by hand, renders the same scene k.
    profile = get_profile("canon-550d")
    sources = [s for s in load_manifest() if s.split == "test"][:1]
    auto, _ = simulate_shot(profile, sources, 7, (32, 48))
    held = []
    for seed in range(12):
        by_hand, _ = simulate_shot(profile, sources, seed, (32, 48), hand_set=True)
        same_scene, _ = simulate_shot(profile, sources, seed, (32, 48))
        assert torch.equal(by_hand.scene.linear_rgb, same_scene.scene.linear_rgb)
        iso = by_hand.metadata.iso
        assert by_hand.metadata.gain_held == (iso >= 400) == by_hand.settings.highlight_tone_priority
        held.append(by_hand.metadata.gain_held)
    assert any(held) and not all(held)
    assert auto.metadata.highlight_priority_iso == 400


def test_the_gain_rule_fine_tune_trains_the_term_and_nothing_else(tmp_path) -> None:
    # tools/train_gain_rule.py's recipe in small: hand-set D7000 shots, many of them held (ISO >= 800).
    settings = TrainSettings(stage="pretrain", direction="forward", data="sim:nikon-d7000", steps=2, crop=32,
                             batch_size=4, val_every=2, val_samples=2, manual_exposure_p=1.0, trainable="gain_rule",
                             lr=1e-2, optics_dropout_p=0.0, seed=3)  # fmt: skip
    trainer = Trainer(settings, tmp_path / "run", progress=False)
    before = {k: v.clone() for k, v in trainer.models["forward"].state_dict().items()}
    trainer.run()
    after = trainer.models["forward"].state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"paramnet.gain_rule.weight"}
