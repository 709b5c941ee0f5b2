"""Training: bit-exact resume, world-size independence, learning on a simulated camera, data preparation."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file

from conftest import D30, DC50
from core_isp.canonical import CanonicalParams, develop
from core_isp.checkpoint import load_checkpoint
from core_isp.metrics import psnr
from core_isp.training.data import SimulatedCameras, collate
from core_isp.training.trainer import Trainer, TrainSettings

TINY = dict(config="small", batch_size=4, crop=32, val_every=5, val_samples=4, lr=1e-3)


def settings(**kw) -> TrainSettings:
    base = dict(stage="pretrain", direction="forward", data="sim:nikon-d7000,samsung-s7", steps=10, **TINY)
    base.update(kw)
    return TrainSettings(**base)  # type: ignore[arg-type]


def weights(run: Path, direction: str = "forward") -> dict[str, torch.Tensor]:
    # The raw tensors: a run that diverged saved NaN weights, which load_checkpoint refuses to load.
    return load_file(str(run / f"{direction}.last.safetensors"))


def test_resume_continues_bit_exactly_with_or_without_worker_processes(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    Trainer(settings(steps=20), straight, progress=False).run()
    Trainer(settings(steps=10), resumed, progress=False).run()  # "killed" after 10 steps (state saved)
    with open(resumed / "log.csv", "a", newline="") as f:  # ... and after logging 2 steps it never saved
        csv.writer(f).writerows([[11, 0.1, "{}", 0.001, 1.0, ""], [12, 0.1, "{}", 0.001, 1.0, ""]])
    Trainer(settings(steps=20), resumed, resume=True, progress=False, workers=2).run()
    with open(resumed / "log.csv", newline="") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == list(range(1, 21))
    a, b = weights(straight), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa = torch.load(straight / "state.pt", weights_only=False)["optimizer"]["state"]
    sb = torch.load(resumed / "state.pt", weights_only=False)["optimizer"]["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)


def test_resume_refuses_changed_settings(tmp_path):
    Trainer(settings(steps=5), tmp_path, progress=False).run()
    from core_isp.errors import BadInputError

    with pytest.raises(BadInputError, match="lr"):
        Trainer(settings(steps=10, lr=5e-4), tmp_path, resume=True, progress=False)
    with pytest.raises(BadInputError, match="--resume"):
        Trainer(settings(steps=10), tmp_path, progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, run: str, seen: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        trainer = Trainer(settings(steps=5, val_every=100, lr=2e-4), Path(run), progress=False)
        Path(seen, f"rank{rank}.json").write_text(json.dumps([list(trainer._indices(s)) for s in range(5)]))
        trainer.run()
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_equal_one_process(tmp_path):
    one = tmp_path / "one"
    torch.set_num_threads(1)
    Trainer(settings(steps=5, val_every=100, lr=2e-4), one, progress=False).run()
    two, seen = tmp_path / "two", tmp_path / "seen"
    seen.mkdir()
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(two), str(seen)), nprocs=2, join=True)
    a, b = weights(one), weights(two)
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= 1e-5, worst
    r0, r1 = (json.loads((seen / f"rank{r}.json").read_text()) for r in (0, 1))
    for step, (s0, s1) in enumerate(zip(r0, r1, strict=True)):
        assert set(s0).isdisjoint(s1) and sorted(s0 + s1) == list(range(4 * step, 4 * step + 4))


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16-autocast"])
def test_short_run_learns_and_beats_the_canonical_pipeline(tmp_path, bf16):
    s = settings(data="sim:nikon-d7000", steps=60, val_every=60, crop=48, lr=2e-3, bf16_autocast=bf16)
    Trainer(s, tmp_path, progress=False).run()
    assert all(t.dtype == torch.float32 and t.isfinite().all() for t in weights(tmp_path).values())
    with open(tmp_path / "log.csv") as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    assert sum(losses[-5:]) / 5 <= 0.8 * sum(losses[:5]) / 5, (losses[:5], losses[-5:])
    model = load_checkpoint(tmp_path / "forward.last.safetensors", direction="forward")[0]
    held_out = collate(SimulatedCameras(["nikon-d7000"], "test", (48, 48)), 7, range(4), 0.0, False)
    with torch.no_grad():
        learned = model(held_out.raw, held_out.shots).clamp(0, 1)
        canonical = develop(held_out.raw, CanonicalParams(held_out.shots.cfa, held_out.shots.wb_gains,
                                                          held_out.shots.ccm, torch.ones(4)))  # fmt: skip
    crop = (..., slice(2, -2), slice(2, -2))
    p_learned = float(psnr(learned[crop], held_out.srgb[crop]).mean())
    p_canonical = float(psnr(canonical[crop], held_out.srgb[crop]).mean())
    assert p_learned > p_canonical, (p_learned, p_canonical)


def test_joint_stage_starts_from_both_directions_and_reports_the_cycle(tmp_path):
    for d in ("forward", "inverse"):
        Trainer(settings(direction=d, steps=2, val_every=100), tmp_path / d, progress=False).run()
    joint = settings(
        stage="joint",
        steps=2,
        val_every=2,
        init_forward=str(tmp_path / "forward/forward.last.safetensors"),
        init_inverse=str(tmp_path / "inverse/inverse.last.safetensors"),
    )
    scores = Trainer(joint, tmp_path / "joint", progress=False).run()
    assert {"inverse_psnr", "inverse_psnr_noisy", "forward_psnr", "cycle_psnr"} <= set(scores)
    for d in ("forward", "inverse"):
        _, info = load_checkpoint(tmp_path / f"joint/{d}.best.safetensors", direction=d)  # type: ignore[arg-type]
        assert info.training_stage == "joint"
    with open(tmp_path / "joint/log.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["step"] == "0" and "cycle_psnr" in rows[0]["val"]  # the starting pair, scored
    assert set(json.loads(rows[1]["parts"])) == {"inverse", "forward", "cycle"}


def test_a_fine_tune_that_only_hurts_keeps_its_starting_weights_as_best(tmp_path):
    Trainer(settings(steps=10), tmp_path / "start", progress=False).run()
    start = tmp_path / "start" / "forward.best.safetensors"
    ruinous = settings(stage="finetune", data="sim:nikon-d7000", steps=4, val_every=2, lr=1.0, init_forward=str(start))
    Trainer(ruinous, tmp_path / "tuned", progress=False).run()
    with open(tmp_path / "tuned" / "log.csv") as f:
        scores = {int(r["step"]): json.loads(r["val"])["score"] for r in csv.DictReader(f) if r["val"]}
    assert sorted(scores) == [0, 2, 4] and max(scores.values()) == scores[0], scores
    best, info = load_checkpoint(tmp_path / "tuned" / "forward.best.safetensors", direction="forward")
    a = load_checkpoint(start, direction="forward")[0].state_dict()
    assert json.loads(info.training)["step"] == 0
    assert all(torch.equal(a[k], v) for k, v in best.state_dict().items())
    last = weights(tmp_path / "tuned")
    assert any(not torch.equal(a[k], last[k]) for k in a)  # it did train, and got worse


def test_prepare_pairs_real_and_simulated_folders(tmp_path):
    folder = tmp_path / "camera"
    folder.mkdir()
    shutil.copy(D30, folder)
    shutil.copy(DC50, folder)
    sim = subprocess.run([sys.executable, "-m", "paramisp", "simulate", "-o", str(folder), "-p", "nikon-d90",
                          "-n", "2", "--size", "96x128"], capture_output=True, text=True)  # fmt: skip
    assert sim.returncode == 0, sim.stderr
    res = subprocess.run([sys.executable, "-m", "paramisp", "prepare", str(folder), "-o", str(tmp_path / "cache"),
                          "--json"], capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    pairs = {p["name"]: p for p in report["pairs"]}
    assert set(pairs) == {"canon_eos_d30", "SIM_0001", "SIM_0002"}
    assert pairs["canon_eos_d30"]["downscaled"] and abs(pairs["canon_eos_d30"]["scale"] - 2 / 3) < 0.005
    assert all(p["score"] > 0.9 for p in pairs.values())
    assert pairs["SIM_0001"]["has_clean"] and not pairs["SIM_0001"]["downscaled"]
    assert [r["file"] for r in report["rejected"]] == ["kodak_dc50.kdc"]
    reason = report["rejected"][0]["reason"]  # the file is named once, by the record, not again by its reason
    assert reason.startswith("no usable camera JPEG") and "too small" in reason
    assert re.search(r"kodak_dc50\.kdc +rejected: no usable camera JPEG", res.stderr), res.stderr
    assert "score 0.9" in res.stderr  # the registration scores are printed
    index = json.loads((tmp_path / "cache" / "index.json").read_text())
    assert {p["split"] for p in index["pairs"]} <= {"train", "val"}
    # The cache trains: a few steps from it run.
    s = settings(data=str(tmp_path / "cache"), steps=2, val_every=100)
    if not any(p["split"] == "val" for p in index["pairs"]):
        pytest.fail("a cache of three images must hold one for validation")
    Trainer(s, tmp_path / "run", progress=False).run()
