"""Continue training the shipped camera-agnostic weights over a spread of colour matrices, then evaluate them.

    python -m tools.train_colour_spread [--out runs/colour-spread] [--budget-min 25] [--directions forward,inverse]
                                        [--p 0.5] [--skip-train] [--skip-eval]

Training: per direction, stage ``pretrain`` on the five tuning cameras, initialised from the shipped generic weights,
with the colour spread (:mod:`core_isp.simulation.colour_spread`: with probability ``p`` a sample's XYZ -> camera
matrix is a mix of real bodies' matrices, perturbed), until ``--budget-min`` minutes of the trainer's compute clock
(CPU time / threads, summed over resumes). Rerunning resumes; a larger budget continues a finished run.
The two directions may run as two processes (``--directions forward`` and ``--directions inverse``).

Evaluation (shipped generic against the new weights, the ``last`` checkpoints): zero-shot PSNR on the test shots of
the held-out ``canon-550d`` and of ``OUTSIDER`` (``benchmarks/user_cameras.py``: the same seeds, split and size as
its shots 31-40), with the camera's own matrix and with each tuning camera's matrix swapped in (white balance and
colour matrix recomputed from the swapped matrix for the shot's illuminant, as a user who picks the wrong camera
profile gets them), and on a few test shots of each tuning camera. Forward against the camera JPEG, inverse against
the clean RAW, 2-pixel border, on each shot's centred ``--crop`` region (whole 512 x 768 frames cost 4x more; both
weights see the same regions). Results accumulate in ``OUT/results.json`` (a rerun skips what is done); prints
Markdown.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.user_cameras import ADAPT_SHOTS, CAMERAS, SEED, SIZE, Results
from core_isp.cameras.camera import CameraColour
from core_isp.cfa import phase_offset
from core_isp.checkpoint import load_checkpoint
from core_isp.io.writers import atomic_write
from core_isp.simulation.capture_folder import shot_seed, simulate_shot
from core_isp.simulation.profile import CameraProfile
from core_isp.simulation.profiles import TUNING_PROFILES, get_profile
from core_isp.simulation.render import RenderedShot
from core_isp.simulation.scenes import load_manifest
from core_isp.training.data import Sample
from core_isp.training.finetune import frame_psnrs, generic_start
from core_isp.training.trainer import Trainer, TrainSettings
from paramisp.machine import machine_line

DIRECTIONS = ("forward", "inverse")
SHIPPED, SPREAD = "shipped generic", "colour spread"
OWN = "own"


@dataclass(frozen=True)
class SpreadRun:
    """The continued pre-training (``base`` config, as the shipped weights)."""

    budget_min: float = 25.0
    p: float = 0.5
    batch_size: int = 8
    crop: int = 96
    #: Where the shipped run's schedule ended (5e-4 x 0.8^5 after 2000 steps), held constant: a short
    #: continuation should neither restart at the initial rate nor decay further.
    lr: float = 1.6e-4
    val_every: int = 40
    val_samples: int = 32
    #: Not the shipped run's 42, so the samples are new scenes and shots.
    seed: int = 7

    def settings(self, direction: str) -> TrainSettings:
        """The trainer's settings for one direction (the time budget ends the run, not the step count)."""
        return TrainSettings(
            stage="pretrain", direction=direction, data="sim:" + ",".join(TUNING_PROFILES), steps=1_000_000,
            config="base", batch_size=self.batch_size, crop=self.crop, lr=self.lr, lr_gamma=1.0,
            val_every=self.val_every, val_samples=self.val_samples, seed=self.seed,
            time_budget_s=self.budget_min * 60, colour_spread_p=self.p,
            **{f"init_{direction}": str(generic_start()[direction])},
        )  # fmt: skip


#: Wall seconds a direction's training took, summed over calls (beside the trainer's files, so the two directions
#: can train in two processes).
WALL_FILE = "wall_s.json"


def train(run: SpreadRun, direction: str, out: Path) -> None:
    """Train (or resume) one direction; add this call's wall time to the run folder's."""
    run_dir = out / direction
    t0 = time.perf_counter()
    Trainer(run.settings(direction), run_dir, resume=(run_dir / "state.pt").exists()).run()
    wall = json.loads((run_dir / WALL_FILE).read_text()) if (run_dir / WALL_FILE).is_file() else 0.0
    with atomic_write(run_dir / WALL_FILE, overwrite=True) as tmp:
        tmp.write_text(json.dumps(wall + time.perf_counter() - t0))


def training_summary(run_dir: Path) -> dict[str, float] | None:
    """Steps, batch, compute and wall seconds, first and last validation PSNR of a run folder (None: no run)."""
    if not (run_dir / "state.pt").is_file():
        return None
    state = torch.load(run_dir / "state.pt", weights_only=False)
    with open(run_dir / "log.csv", newline="") as f:
        scores = [json.loads(r["val"])["score"] for r in csv.DictReader(f) if r["val"]]
    wall = json.loads((run_dir / WALL_FILE).read_text()) if (run_dir / WALL_FILE).is_file() else float("nan")
    batch = json.loads((run_dir / "settings.json").read_text())["batch_size"]
    return {"steps": state["step"], "batch_size": batch, "compute_s": state["elapsed_s"], "wall_s": wall,
            "val_start": scores[0], "val_end": scores[-1]}  # fmt: skip


@dataclass(frozen=True)
class TestShot:
    """A test shot's centred region on the RGGB phase, and its illuminant (to recompute swapped colour terms)."""

    sample: Sample
    cct_k: float


def centred_region(shot: RenderedShot, profile: CameraProfile, crop_hw: tuple[int, int], name: str) -> Sample:
    """The shot's centred ``crop_hw`` region starting on the RGGB phase, as a sample."""
    dy, dx = phase_offset(profile.cfa_pattern)
    h, w = shot.noisy_raw.shape[-2:]
    top, left = (d + (n - d - c) // 4 * 2 for d, n, c in zip((dy, dx), (h, w), crop_hw, strict=True))
    sl = (..., slice(top, top + crop_hw[0]), slice(left, left + crop_hw[1]))
    meta = shot.metadata.replace(cfa_pattern="RGGB", image_size_hw=crop_hw)
    return Sample(shot.noisy_raw[0][sl], shot.clean_raw[0][sl], shot.camera_srgb[0][sl], meta, name)


def test_shots(profile: CameraProfile, n: int, crop_hw: tuple[int, int]) -> Iterator[TestShot]:
    """``benchmarks.user_cameras``' test shots (seeds of shots 31...) rendered by ``profile``."""
    sources = [s for s in load_manifest() if s.split == "test"]
    cache: dict[str, np.ndarray] = {}
    for index in range(ADAPT_SHOTS + 1, ADAPT_SHOTS + n + 1):
        shot, _ = simulate_shot(profile, sources, shot_seed(SEED, index), SIZE, image_cache=cache)
        yield TestShot(centred_region(shot, profile, crop_hw, f"{profile.name}/{index}"), shot.illuminant_cct_k)


def with_matrix(shot: TestShot, xyz_to_cam_d65: tuple[float, ...]) -> Sample:
    """The shot with the white balance and colour matrix a camera of this matrix records for its illuminant."""
    wb, ccm = CameraColour(xyz_to_cam_d65).white_balance(shot.cct_k)
    meta = shot.sample.meta.replace(wb_gains=wb, ccm_wb_cam_to_srgb=tuple(tuple(float(v) for v in r) for r in ccm))
    return Sample(shot.sample.raw, shot.sample.raw_target, shot.sample.srgb, meta, shot.sample.source)


@dataclass(frozen=True)
class EvalSet:
    """What is scored: held-out cameras with every matrix, tuning cameras with their own."""

    #: Small, so both sets of weights are scored in minutes on one shared CPU core (about 10 MP per set).
    test_shots: int = 6
    tuning_shots: int = 6
    crop_hw: tuple[int, int] = (192, 288)

    def shots(self, camera: str) -> int:
        """How many test shots a camera is scored on."""
        return self.test_shots if camera in CAMERAS else self.tuning_shots

    def cases(self) -> Iterator[tuple[str, str, dict[int, Sample]]]:
        """``(camera, matrix label, {shot index: sample})``; the own matrix is the recorded metadata."""
        for name, profile in CAMERAS.items():
            shots = dict(zip(self.indices(name), test_shots(profile, self.test_shots, self.crop_hw), strict=True))
            yield name, OWN, {i: s.sample for i, s in shots.items()}
            for tuning in TUNING_PROFILES:
                yield name, tuning, {i: with_matrix(s, get_profile(tuning).xyz_to_cam_d65) for i, s in shots.items()}
        for name in TUNING_PROFILES:
            shots = test_shots(get_profile(name), self.tuning_shots, self.crop_hw)
            yield name, OWN, {i: s.sample for i, s in zip(self.indices(name), shots, strict=True)}

    def indices(self, camera: str) -> range:
        """The camera's shot indices (``benchmarks.user_cameras`` numbering)."""
        return range(ADAPT_SHOTS + 1, ADAPT_SHOTS + self.shots(camera) + 1)


def evaluate(weights: dict[str, dict[str, Path]], eval_set: EvalSet, results: Results) -> None:
    """Score every set of weights on every shot not yet in ``results`` (PSNR per shot index, so more shots add to
    what is there)."""
    models = {(label, d): load_checkpoint(path, direction=d)[0]  # type: ignore[arg-type]
              for label, paths in weights.items() for d, path in paths.items()}  # fmt: skip
    for camera, matrix, samples in eval_set.cases():
        for (label, d), model in models.items():
            done = results.get("psnr", label, camera, matrix, d) or {}
            missing = {str(i): s for i, s in samples.items() if str(i) not in done}
            if missing:
                done = done | dict(zip(missing, frame_psnrs(model, list(missing.values())), strict=True))
                results.put(done, "psnr", label, camera, matrix, d)
                print(f"{label} | {camera} | {matrix} | {d}: {np.mean(list(done.values())):.2f} dB", flush=True)


def _mean(results: Results, eval_set: EvalSet, label: str, camera: str, matrix: str, d: str) -> float | None:
    """Mean PSNR over the eval set's shots of the camera (None unless all are scored)."""
    done = results.get("psnr", label, camera, matrix, d) or {}
    scores = [done.get(str(i)) for i in eval_set.indices(camera)]
    return None if None in scores else float(np.mean(scores))


def _cell(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "—"
    return f"{before:.2f} → {after:.2f} ({after - before:+.2f})"


def markdown(results: Results, eval_set: EvalSet, out: Path) -> str:
    """Held-out cameras by matrix, tuning cameras, and the training runs."""
    cams = list(CAMERAS)
    lines = [f"| matrix in the metadata | {' | '.join(f'{c} {d}' for c in cams for d in DIRECTIONS)} |",
             "|---|" + "---|" * (2 * len(cams))]  # fmt: skip
    for matrix in (OWN, *TUNING_PROFILES):
        cells = [_cell(_mean(results, eval_set, SHIPPED, c, matrix, d), _mean(results, eval_set, SPREAD, c, matrix, d))
                 for c in cams for d in DIRECTIONS]  # fmt: skip
        lines.append(f"| {'the camera’s own' if matrix == OWN else matrix} | {' | '.join(cells)} |")
    lines += ["", "| tuning camera | forward | inverse |", "|---|---|---|"]
    for c in TUNING_PROFILES:
        cells = [_cell(_mean(results, eval_set, SHIPPED, c, OWN, d), _mean(results, eval_set, SPREAD, c, OWN, d))
                 for d in DIRECTIONS]  # fmt: skip
        lines.append(f"| {c} | {' | '.join(cells)} |")
    lines += ["", "| direction | steps x batch | compute (trainer clock) | wall | validation PSNR start → end |",
              "|---|---|---|---|---|"]  # fmt: skip
    for d in DIRECTIONS:
        t = training_summary(out / d)
        if t is not None:
            lines.append(f"| {d} | {t['steps']} x {t['batch_size']} | {t['compute_s'] / 60:.1f} min | "
                         f"{t['wall_s'] / 60:.1f} min | {t['val_start']:.2f} → {t['val_end']:.2f} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/colour-spread"))
    parser.add_argument("--budget-min", type=float, default=SpreadRun.budget_min, help="per direction")
    parser.add_argument("--p", type=float, default=SpreadRun.p, help="probability of a drawn matrix")
    parser.add_argument("--directions", default=",".join(DIRECTIONS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--test-shots", type=int, default=EvalSet.test_shots)
    parser.add_argument("--tuning-shots", type=int, default=EvalSet.tuning_shots)
    parser.add_argument("--crop", default="192x288", help="HxW region scored per shot")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-eval", action="store_true")
    parser.add_argument("--shipped-only", action="store_true", help="score only the shipped weights (while training)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = SpreadRun(budget_min=args.budget_min, p=args.p)
    results = Results(args.out / "results.json")
    directions = args.directions.split(",")
    if not args.skip_train:
        for d in directions:
            train(run, d, args.out)
    crop = tuple(int(v) for v in args.crop.split("x"))
    eval_set = EvalSet(args.test_shots, args.tuning_shots, crop)  # type: ignore[arg-type]
    if not args.skip_eval:
        if results.get("crop_hw") not in (None, list(crop)):
            raise SystemExit(f"{results.path} was scored on {results.get('crop_hw')} regions; use another --out")
        results.put(list(crop), "crop_hw")
        weights = {SHIPPED: {d: generic_start()[d] for d in directions}}
        trained = {d: args.out / d / f"{d}.last.safetensors" for d in directions}
        if not args.shipped_only:
            weights |= {SPREAD: {d: p for d, p in trained.items() if p.is_file()}}
        evaluate(weights, eval_set, results)
    print(f"Machine: {machine_line()}\n\n{markdown(results, eval_set, args.out)}")


if __name__ == "__main__":
    main()
