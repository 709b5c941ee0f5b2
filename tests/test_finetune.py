"""Per-camera fine-tuning (core_isp/training/finetune.py): the time budget, the start-or-fine-tune choice on whole
held-back frames, what each adapt mode trains, resuming. The camera is the benchmark's out-of-family one, on tiny
frames; the start is an untrained ``small`` pair (cheap), except where the choice needs the shipped weights."""

from __future__ import annotations

import csv
import itertools
import json
import math
from pathlib import Path

import pytest
import torch

import core_isp.training.finetune as finetune_module
import core_isp.training.trainer as trainer_module
from benchmarks.user_cameras import OUTSIDER, write_cache, write_folder
from core_isp.checkpoint import load_checkpoint, save_checkpoint
from core_isp.errors import BadInputError
from core_isp.models.config import get_config
from core_isp.models.paramisp import DIRECTIONS, ParamISP
from core_isp.training.finetune import ADAPT_LR, FinetuneSettings, finetune_camera, generic_start
from core_isp.training.trainer import TRAINABLE

#: Crops of 88 pixels: GlobalNet's smallest input, so a crop is its own context (a smaller one costs as much).
TINY = dict(crop=88, batch_size=2, save_every=2, val_samples=2)
#: Step-bounded runs: a budget that never runs out.
UNTIMED = 1e9


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared cache of four 96 x 128 shots of the out-of-family camera, the last one held back."""
    root = tmp_path_factory.mktemp("outsider")
    write_folder(OUTSIDER, root / "folder", adapt_shots=4, test_shots=0, size=(96, 128))
    write_cache(root / "folder", root / "cache", adapt_shots=4, held_back=1)
    return root / "cache"


@pytest.fixture(scope="module")
def untrained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An untrained ``small`` checkpoint per direction."""
    root = tmp_path_factory.mktemp("start")
    torch.manual_seed(0)
    paths = {d: root / f"{d}.safetensors" for d in DIRECTIONS}
    for d, path in paths.items():
        save_checkpoint(ParamISP(get_config("small"), d), path, camera_profile="test", training_stage="init")
    return paths


def weights(path: Path, direction: str = "forward") -> dict[str, torch.Tensor]:
    return load_checkpoint(path, direction=direction)[0].state_dict()  # type: ignore[arg-type]


def steps_logged(run: Path) -> list[int]:
    with open(run / "log.csv", newline="") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


def one(start: dict[str, Path], direction: str = "forward") -> dict[str, Path]:
    return {direction: start[direction]}


#: Per mode, tensors of each kind it must train (its group, :data:`TRAINABLE`, is checked as a whole too).
MUST_TRAIN = {
    "all": ("localnet.head.weight", "localnet.enc_full.blocks.0.conv1.weight", "globalnet.encoder.0.weight"),
    "paramnet": ("paramnet.fuse.2.weight", "localnet.modulation.weight", "globalnet.modulation.weight"),
    "global": ("globalnet.heads.0.weight", "paramnet.colour.weight", "localnet.enc_full.blocks.0.conv1.bias"),
}


@pytest.mark.parametrize("mode", list(ADAPT_LR))
def test_each_adapt_mode_trains_its_parameters_and_freezes_the_rest(
    cache: Path, untrained: dict[str, Path], tmp_path: Path, mode: str
) -> None:
    settings = FinetuneSettings(budget_s=UNTIMED, max_steps=1, adapt=mode, lr=1e-2, **TINY)
    finetune_camera(cache, tmp_path, one(untrained), settings, progress=False)
    before, after = weights(untrained["forward"]), weights(tmp_path / "forward" / "forward.last.safetensors")
    group = {k for k in before if TRAINABLE[mode](k)}
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed <= group, sorted(changed - group)
    # A tensor of the group may see no gradient in one step (an optical term dropped in both samples).
    assert len(changed) >= 0.9 * len(group), sorted(group - changed)
    assert set(MUST_TRAIN[mode]) <= changed


def test_a_fine_tune_stops_when_its_budget_is_spent_and_a_larger_budget_continues_it(
    cache: Path, untrained: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clock that advances half a second per reading: the Trainer reads it twice per step, so every step costs 0.5 s.
    monkeypatch.setattr(trainer_module, "compute_clock", lambda device: itertools.count(0.0, 0.5).__next__)
    inverse = one(untrained, "inverse")
    first = finetune_camera(cache, tmp_path, inverse, FinetuneSettings(budget_s=2.0, **TINY), progress=False)
    assert (first.directions["inverse"].steps, first.directions["inverse"].train_s) == (4, 2.0)
    assert steps_logged(tmp_path / "inverse") == list(range(5))
    again = finetune_camera(cache, tmp_path, inverse, FinetuneSettings(budget_s=3.2, **TINY), progress=False)
    assert (again.directions["inverse"].steps, again.directions["inverse"].train_s) == (7, 3.5)
    assert again.directions["inverse"].start_psnr == first.directions["inverse"].start_psnr
    assert steps_logged(tmp_path / "inverse") == list(range(8))


def test_the_fine_tune_is_kept_only_where_it_beats_the_start(cache: Path, tmp_path: Path) -> None:
    # The shipped weights on a camera whose look they never saw: a few steps of the embedding path help.
    generic = one(generic_start())
    helps = FinetuneSettings(budget_s=UNTIMED, max_steps=3, adapt="paramnet", lr=1e-3, **TINY)
    good = finetune_camera(cache, tmp_path / "good", generic, helps, progress=False).directions["forward"]
    assert good.final_psnr > good.start_psnr and good.kept == "fine-tune", (good.start_psnr, good.final_psnr)
    assert good.checkpoint == tmp_path / "good" / "forward" / "forward.last.safetensors"
    hurts = FinetuneSettings(budget_s=UNTIMED, max_steps=2, lr=1.0, **TINY)
    bad = finetune_camera(cache, tmp_path / "bad", generic, hurts, progress=False)
    r = bad.directions["forward"]
    assert r.final_psnr < r.start_psnr or math.isnan(r.final_psnr), (r.start_psnr, r.final_psnr)
    assert r.kept == "start" and r.checkpoint == generic["forward"]
    assert json.loads((tmp_path / "bad" / "report.json").read_text())["directions"]["forward"]["kept"] == "start"


def test_an_interrupted_fine_tune_resumes_from_its_last_save(
    cache: Path, untrained: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = FinetuneSettings(budget_s=UNTIMED, max_steps=4, **TINY)
    straight = finetune_camera(cache, tmp_path / "straight", one(untrained), settings, progress=False)
    real_loss, calls = trainer_module.stage_loss, []

    def killed_in_step_3(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(trainer_module, "stage_loss", killed_in_step_3)
    with pytest.raises(KeyboardInterrupt):
        finetune_camera(cache, tmp_path / "resumed", one(untrained), settings, progress=False)
    monkeypatch.undo()
    real_scores, scored = finetune_module.frame_psnrs, []
    monkeypatch.setattr(finetune_module, "frame_psnrs", lambda *a, **k: scored.append(1) or real_scores(*a, **k))
    resumed = finetune_camera(cache, tmp_path / "resumed", one(untrained), settings, progress=False)
    assert len(scored) == 1  # the fine-tune only: the start's score was kept from the first call
    assert steps_logged(tmp_path / "resumed" / "forward") == list(range(5))
    a, b = (weights(tmp_path / run / "forward" / "forward.last.safetensors") for run in ("straight", "resumed"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.directions["forward"].final_psnr == straight.directions["forward"].final_psnr


def test_refuses_a_cache_without_held_back_frames_and_an_unknown_mode(
    untrained: dict[str, Path], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    write_folder(OUTSIDER, tmp_path / "folder", adapt_shots=1, test_shots=0, size=(96, 128))
    write_cache(tmp_path / "folder", cache, adapt_shots=1, held_back=0)
    with pytest.raises(BadInputError, match="held-back"):
        finetune_camera(cache, tmp_path / "run", one(untrained), FinetuneSettings(**TINY), progress=False)
    with pytest.raises(BadInputError, match="adapt"):
        FinetuneSettings(adapt="heads")


def test_generic_start_names_the_shipped_camera_agnostic_pair() -> None:
    start = generic_start()
    assert {d: load_checkpoint(p, direction=d)[1].training_stage for d, p in start.items()} == {  # type: ignore[arg-type]
        "forward": "pretrain", "inverse": "pretrain"}  # fmt: skip
