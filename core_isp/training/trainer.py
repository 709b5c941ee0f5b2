"""The training loop for the three stages, reproducible, resumable and distributed (PyTorch DDP).

* ``pretrain``: one direction, across several cameras; ``finetune``: one direction, one camera,
  initialised from a pre-trained checkpoint (DECIDE(5)); ``joint``: inverse and forward together
  with the cycle loss, initialised from the per-camera checkpoints (DECIDE(6)).
* L1 loss after removing a 2-pixel border; dequantisation noise and optics dropout per sample
  (:mod:`core_isp.training.data`); AdamW; the learning rate times ``lr_gamma`` every
  ``lr_step_every`` iterations (iteration budgets, not epochs: the paper's early stopping after 100
  idle epochs does not fit a CPU); gradient-norm clipping after ``backward`` (DECIDE(2)).
* Validation every ``val_every`` steps on fixed held-out samples; ``best`` and ``last`` checkpoints.
* ``trainable`` picks the parameter groups a run trains (the rest are frozen: no gradient, no optimiser
  state); ``time_budget_s`` stops a run once it has computed that long (summed over resumes), at a saved step.
* Resumable bit-exactly on CPU: weights and the optimiser, scheduler and step are saved together, and
  every random draw is a function of (seed, global sample index).
* ``workers`` > 0 renders batches ahead in worker processes (a GPU outruns one core's simulation); a step's
  batch is still a function of its step number alone, so the result does not depend on it.
* Distributed: launched with ``torchrun``; each process takes a disjoint slice of the step's global
  indices, gradients are averaged by DDP, only rank 0 writes.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from core_isp.checkpoint import load_checkpoint, save_checkpoint
from core_isp.errors import BadInputError
from core_isp.io.writers import atomic_write
from core_isp.metrics import psnr
from core_isp.models.config import ParamISPConfig, get_config
from core_isp.models.paramisp import ParamISP, is_conditioning
from core_isp.simulation.colour_spread import ColourSpread
from core_isp.simulation.scenes import manifest_hash
from core_isp.training.data import Batch, PreparedCache, SimulatedCameras, collate

STAGES = ("pretrain", "finetune", "joint")
BORDER = 2
#: Offset separating validation sample indices from training ones (same generator family, other seed).
_VAL_SEED_OFFSET = 1_000_003
#: Parameter groups a run may train, as predicates on ``ParamISP`` parameter names: everything; ParamNet and the
#: modulation layers (what maps camera parameters to the networks); or those plus GlobalNet (the global
#: colour/tone stages) and every bias.
TRAINABLE: dict[str, Callable[[str], bool]] = {
    "all": lambda name: True,
    "paramnet": is_conditioning,
    "global": lambda name: name.startswith("globalnet.") or is_conditioning(name) or name.endswith(".bias"),
    # ParamNet's gain-rule term alone: the network is unchanged for every shot whose gain was not held.
    "gain_rule": lambda name: name.startswith("paramnet.gain_rule."),
}


@dataclass(frozen=True)
class TrainSettings:
    """One training run (written to ``settings.json`` in the run folder)."""

    stage: str
    direction: str  # "forward" or "inverse"; ignored by the joint stage, which trains both
    data: str  # "sim:<profile>[,<profile>...]" or the path of a prepared cache
    steps: int
    config: str = "small"
    #: ParamNet ablation: "full" (the paper), "colour" (WB/CCM terms only) or "none" (no embedding).
    embedding: str = "full"
    batch_size: int = 8
    crop: int = 128
    lr: float = 2e-4
    weight_decay: float = 1e-12
    lr_step_every: int = 1000
    lr_gamma: float = 0.8
    grad_clip_norm: float = 1.0
    optics_dropout_p: float = 0.2
    val_every: int = 100
    val_samples: int = 16
    seed: int = 42
    init_forward: str | None = None
    init_inverse: str | None = None
    #: Parameter group trained (a :data:`TRAINABLE` name); the others keep their initial values.
    trainable: str = "all"
    #: Stop once the training loop has computed this many seconds (:func:`compute_clock`, summed over resumes).
    time_budget_s: float | None = None
    #: Simulated data only: probability that a sample's XYZ -> camera matrix is drawn from the colour spread of
    #: real cameras' matrices (:mod:`core_isp.simulation.colour_spread`); 0: every sample keeps its profile's.
    colour_spread_p: float = 0.0
    #: Simulated data only: share of the shots set by hand (ISO drawn apart from the light, exposure offset from the
    #: metered one, as a bracket's frames; :func:`core_isp.simulation.render.manual_settings`) instead of by the
    #: program AE; 0: every shot is the AE's.
    manual_exposure_p: float = 0.0
    #: Weight of a second inverse loss, the L1 error in stops (:func:`log_l1`), beside the paper's L1 in linear RAW,
    #: which hardly sees a stop of error in the shadows; 0: the paper's loss alone.
    stops_loss_weight: float = 0.0
    #: Forward passes and losses under bf16 autocast (weights, gradients and the optimiser stay fp32; the canonical
    #: steps, ParamNet and GlobalNet's stages stay fp32 as in inference, ``docs/decisions.md`` 14): 1.5x the patches/s
    #: of fp32 for ``base`` at 96 px on an AVX512-BF16 CPU (``benchmarks/RESULTS.md``).
    bf16_autocast: bool = False

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise BadInputError(f"stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        if self.stage != "joint" and self.direction not in ("forward", "inverse"):
            raise BadInputError(f"direction must be forward or inverse, got {self.direction!r}")
        if self.crop % 4 or self.crop < 16:
            raise BadInputError(f"crop must be a multiple of 4 and at least 16, got {self.crop}")
        if self.steps < 1 or self.batch_size < 1:
            raise BadInputError("steps and batch size must be positive")
        if self.trainable not in TRAINABLE:
            raise BadInputError(f"trainable must be one of {', '.join(TRAINABLE)}, got {self.trainable!r}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise BadInputError(f"time budget must be positive, got {self.time_budget_s}")
        if not 0.0 <= self.manual_exposure_p <= 1.0:
            raise BadInputError(f"the share of hand-set shots must be in [0, 1], got {self.manual_exposure_p}")
        if self.stops_loss_weight < 0:
            raise BadInputError(f"the weight of the loss in stops must not be negative, got {self.stops_loss_weight}")
        if (self.colour_spread_p or self.manual_exposure_p) and not self.data.startswith("sim:"):
            raise BadInputError("a colour spread or manual exposures need simulated data (sim:...)")

    def model_config(self) -> ParamISPConfig:
        """The network configuration this run trains."""
        return get_config(self.config).replace(embedding=self.embedding)

    @property
    def directions(self) -> tuple[str, ...]:
        """The directions this run trains."""
        return ("inverse", "forward") if self.stage == "joint" else (self.direction,)


def compute_clock(device: torch.device) -> Callable[[], float]:
    """The clock a time budget runs on. On a GPU, wall time. On the CPU, this process's CPU time divided by its
    threads: the wall time of a machine with nothing else running, and unlike wall time it buys the same steps
    when other jobs share the cores (a shared 2-core machine otherwise gives a budget a fraction of the work)."""
    if device.type != "cpu":
        return time.perf_counter
    threads = torch.get_num_threads()
    return lambda: time.process_time() / threads


def select_trainable(model: nn.Module, trainable: str) -> list[nn.Parameter]:
    """Freeze every parameter outside group ``trainable`` (a :data:`TRAINABLE` name); return the group's."""
    keep = TRAINABLE[trainable]
    for name, p in model.named_parameters():
        p.requires_grad_(keep(name))
    return [p for p in model.parameters() if p.requires_grad]


class StepBatches(torch.utils.data.Dataset):
    """Item ``i``: the batch of the ``i``-th listed step's sample indices (picklable for worker processes)."""

    def __init__(
        self, source: SimulatedCameras | PreparedCache, seed: int, optics_dropout_p: float, indices: list[range]
    ) -> None:
        self.source, self.seed, self.optics_dropout_p, self.indices = source, seed, optics_dropout_p, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Batch:
        return collate(self.source, self.seed, self.indices[i], self.optics_dropout_p)


def _crop(x: torch.Tensor) -> torch.Tensor:
    return x[..., BORDER:-BORDER, BORDER:-BORDER]


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The paper's loss: mean absolute error after removing a 2-pixel border."""
    return (_crop(pred) - _crop(target)).abs().mean()


#: Offset (normalised RAW, about 10 stops below white) added before :func:`log_l1` takes logarithms, so the error in
#: stops stays finite at black and sites far below the sensor's noise count little.
STOPS_LOSS_OFFSET = 2.0**-10


def log_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error in stops, ``|log2(pred + o) - log2(target + o)|`` with ``o`` :data:`STOPS_LOSS_OFFSET`
    (negative predictions count as 0), after removing a 2-pixel border."""
    o = STOPS_LOSS_OFFSET
    return (torch.log2(_crop(pred).clamp(min=0.0) + o) - torch.log2(_crop(target).clamp(min=0.0) + o)).abs().mean()


def make_source(settings: TrainSettings, split: str) -> SimulatedCameras | PreparedCache:
    """The sample source a data spec names."""
    crop = (settings.crop, settings.crop)
    if settings.data.startswith("sim:"):
        spread = ColourSpread(p=settings.colour_spread_p) if settings.colour_spread_p else None
        return SimulatedCameras(settings.data[4:].split(","), split, crop, spread, settings.manual_exposure_p)
    return PreparedCache(Path(settings.data), split, crop)


def stage_loss(
    models: dict[str, nn.Module], batch: Batch, stage: str, stops_loss_weight: float = 0.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one batch and its parts; ``stops_loss_weight``: :attr:`TrainSettings.stops_loss_weight`.

    DECIDE(6): the joint loss is inverse + cycle + the forward loss on the ground-truth RAW. The released
    code drops the last term and counts the cycle twice (cropped and uncropped); keeping the GT term stops
    the forward network from learning to undo the inverse network's errors instead of rendering RAWs.
    """
    parts: dict[str, torch.Tensor] = {}
    if "inverse" in models:
        raw_hat = models["inverse"](batch.srgb_in, batch.shots)
        parts["inverse"] = l1(raw_hat, batch.raw_target)
        if stops_loss_weight:
            parts["inverse_stops"] = stops_loss_weight * log_l1(raw_hat, batch.raw_target)
    if "forward" in models:
        parts["forward"] = l1(models["forward"](batch.raw_in, batch.shots), batch.srgb)
    if stage == "joint":
        # The forward pass on the estimated RAW sees the same dequantisation noise as on a real one.
        noise = batch.raw_in - batch.raw
        parts["cycle"] = l1(models["forward"](raw_hat + noise, batch.shots), batch.srgb)
    total = sum(parts.values())
    return total, {k: float(v.detach()) for k, v in parts.items()}  # type: ignore[return-value]


def validation_batches(settings: TrainSettings) -> list[Batch]:
    """A run's fixed validation batches: the data's validation split, no optics dropout, one seed for every run
    with the same data, seed and sample count (so runs and their starting points are scored alike)."""
    source = make_source(settings, "val")
    b, n = settings.batch_size, settings.val_samples
    seed = settings.seed + _VAL_SEED_OFFSET
    return [collate(source, seed, range(i, min(i + b, n)), 0.0, False) for i in range(0, n, b)]


@torch.no_grad()
def validate(models: dict[str, nn.Module], batches: list[Batch], stage: str) -> dict[str, float]:
    """Mean PSNR (clipped, border removed) on the fixed validation batches, per direction.

    The inverse is scored against its target (the clean RAW when known) and against the recorded, noisy RAW.
    """
    for m in models.values():
        m.eval()
    sums: dict[str, float] = {}
    n = 0

    def add(name: str, pred: torch.Tensor, target: torch.Tensor) -> None:
        sums[name] = sums.get(name, 0.0) + float(psnr(_crop(pred.clamp(0, 1)), _crop(target.clamp(0, 1))).sum())

    for batch in batches:
        n += batch.raw.shape[0]
        if "inverse" in models:
            raw_hat = models["inverse"](batch.srgb, batch.shots).clamp(0, 1)
            add("inverse_psnr", raw_hat, batch.raw_target)
            add("inverse_psnr_noisy", raw_hat, batch.raw)
        if "forward" in models:
            add("forward_psnr", models["forward"](batch.raw, batch.shots), batch.srgb)
        if stage == "joint":
            add("cycle_psnr", models["forward"](raw_hat, batch.shots), batch.srgb)
    for m in models.values():
        m.train()
    out = {k: v / n for k, v in sums.items()}
    # The paper selects the joint models on the mean of RAW PSNR and cycle sRGB PSNR.
    out["score"] = (out["inverse_psnr"] + out["cycle_psnr"]) / 2 if stage == "joint" else next(iter(out.values()))
    return out


class Trainer:
    """Runs one :class:`TrainSettings` into a run folder; ``resume`` continues a stopped run. ``device`` None: the
    local rank's GPU when there is one, else the CPU."""

    def __init__(
        self,
        settings: TrainSettings,
        run_dir: Path,
        resume: bool = False,
        progress: bool = True,
        workers: int = 0,
        device: torch.device | str | None = None,
    ) -> None:
        self.settings, self.run_dir, self.progress, self.workers = settings, Path(run_dir), progress, workers
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.world = dist.get_world_size() if dist.is_initialized() else 1
        if settings.batch_size % self.world:
            raise BadInputError(f"batch size {settings.batch_size} is not divisible by {self.world} processes")
        if device is not None:
            self.device = torch.device(device)
        elif torch.cuda.is_available():
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        else:
            self.device = torch.device("cpu")
        self.models: dict[str, nn.Module] = {d: self._init_model(d) for d in settings.directions}
        self.params = [p for m in self.models.values() for p in select_trainable(m, settings.trainable)]
        self.optimizer = torch.optim.AdamW(self.params, lr=settings.lr, weight_decay=settings.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, settings.lr_step_every, settings.lr_gamma)
        self.step = 0
        self.best_score = -math.inf
        #: Seconds spent in the training loop by :func:`compute_clock`, summed over resumes (what
        #: ``time_budget_s`` limits).
        self.elapsed_s = 0.0
        self.clock = compute_clock(self.device)
        self.source = make_source(settings, "train")
        self.camera_profile = self.source.name
        if resume:
            self._load_state()
        elif self.rank == 0:
            self._start_run_dir()
        self.wrapped = {d: self._wrap(m) for d, m in self.models.items()}

    # -- setup --------------------------------------------------------------------------------------------

    def _init_model(self, direction: str) -> nn.Module:
        init = getattr(self.settings, f"init_{direction}")
        if init:
            model, _ = load_checkpoint(init, direction=direction, config=self.settings.model_config())  # type: ignore[arg-type]
        else:
            torch.manual_seed(self.settings.seed + (0 if direction == "forward" else 1))
            model = ParamISP(self.settings.model_config(), direction)  # type: ignore[arg-type]
        return model.to(self.device).train()

    def _wrap(self, model: nn.Module) -> nn.Module:
        if self.world == 1:
            return model
        return nn.parallel.DistributedDataParallel(
            model, device_ids=[self.device.index] if self.device.type == "cuda" else None
        )

    def _start_run_dir(self) -> None:
        if (self.run_dir / "state.pt").exists():
            raise BadInputError(f"{self.run_dir}: holds a run already (use --resume to continue it)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.run_dir / "settings.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(dataclasses.asdict(self.settings), indent=1))
        with open(self.run_dir / "log.csv", "w", newline="") as f:
            csv.writer(f).writerow(["step", "loss", "parts", "lr", "patches_per_s", "val"])

    def _load_state(self) -> None:
        saved = json.loads((self.run_dir / "settings.json").read_text())
        now = dataclasses.asdict(self.settings)
        # Only the step and time budgets may change: extending a finished run is a resume too.
        changed = sorted(k for k in saved if k not in ("steps", "time_budget_s") and saved[k] != now.get(k))
        if changed:
            raise BadInputError(f"{self.run_dir}: cannot resume with different settings ({', '.join(changed)})")
        state = torch.load(self.run_dir / "state.pt", map_location=self.device, weights_only=False)
        for d, m in self.models.items():
            m.load_state_dict(state["models"][d])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.best_score = state["step"], state["best_score"]
        self.elapsed_s = state.get("elapsed_s", 0.0)  # states written before time budgets existed lack it
        if self.rank == 0:
            # Steps logged after the last saved state are trained again: drop their rows.
            with open(self.run_dir / "log.csv", newline="") as f:
                rows = list(csv.reader(f))
            kept = [rows[0], *(r for r in rows[1:] if int(r[0]) <= self.step)]
            with atomic_write(self.run_dir / "log.csv", overwrite=True) as tmp, open(tmp, "w", newline="") as f:
                csv.writer(f).writerows(kept)

    # -- saving -------------------------------------------------------------------------------------------

    def _save(self, tag: str) -> None:
        for d, m in self.models.items():
            save_checkpoint(m, self.run_dir / f"{d}.{tag}.safetensors", camera_profile=self.camera_profile,
                            training_stage=self.settings.stage, data_manifest_hash=self._data_hash(),
                            training=json.dumps({**dataclasses.asdict(self.settings), "step": self.step}))  # fmt: skip

    def _save_state(self) -> None:
        state = {
            "models": {d: m.state_dict() for d, m in self.models.items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "best_score": self.best_score,
            "elapsed_s": self.elapsed_s,
        }
        with atomic_write(self.run_dir / "state.pt", overwrite=True) as tmp:
            torch.save(state, tmp)
        self._save("last")

    def _data_hash(self) -> str:
        return manifest_hash() if self.settings.data.startswith("sim:") else "cache:" + Path(self.settings.data).name

    # -- the loop -----------------------------------------------------------------------------------------

    def _indices(self, step: int) -> range:
        b = self.settings.batch_size
        per_rank = b // self.world
        start = step * b + self.rank * per_rank
        return range(start, start + per_rank)

    def _batches(self) -> Iterator[Batch]:
        """The batches of the remaining steps, in order."""
        s = self.settings
        indices = [self._indices(t) for t in range(self.step, s.steps)]
        steps = StepBatches(self.source, s.seed, s.optics_dropout_p, indices)
        if self.workers == 0:
            return (steps[i] for i in range(len(steps)))
        loader = torch.utils.data.DataLoader(steps, batch_size=None, num_workers=self.workers, prefetch_factor=4)
        return iter(loader)

    def out_of_time(self) -> bool:
        """True once the run has spent its time budget (never without one)."""
        budget = self.settings.time_budget_s
        return budget is not None and self.elapsed_s >= budget

    def _all_ranks_agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (clocks differ, so a time-based stop must be decided once)."""
        if not dist.is_initialized():
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.broadcast(t, 0)
        return bool(t.item())

    def _progress_bar(self):  # tqdm is imported lazily, so no annotation
        """Steps done of ``steps``, or seconds spent of the time budget when the run has one."""
        from tqdm import tqdm

        s, timed = self.settings, self.settings.time_budget_s is not None
        seconds = "{l_bar}{bar}| {n:.0f}/{total:.0f} s{postfix}"
        return tqdm(total=s.time_budget_s if timed else s.steps, initial=self.elapsed_s if timed else self.step,
                    unit="s" if timed else "step", disable=not self.progress or self.rank != 0, file=sys.stderr,
                    dynamic_ncols=True, bar_format=seconds if timed else None)  # fmt: skip

    def run(self) -> dict[str, float]:
        """Train until ``settings.steps`` or the time budget; returns the last validation scores."""
        s = self.settings
        if self.out_of_time():
            return {}
        val_batches = [b.to(self.device) for b in validation_batches(s)] if self.rank == 0 else []
        scores: dict[str, float] = {}
        if self.step == 0 and (s.init_forward or s.init_inverse):
            # A fine-tune must beat its starting point to replace it, so the start is the first candidate.
            scores = self._validate(val_batches)
        timed = s.time_budget_s is not None
        bar = self._progress_bar()
        t0, c0 = time.perf_counter(), self.clock()
        for batch in self._batches():
            batch = batch.to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=s.bf16_autocast):
                loss, parts = stage_loss(self.wrapped, batch, s.stage, s.stops_loss_weight)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, s.grad_clip_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            # A step's times include the previous step's validation, so the budget counts it too.
            step_s, compute_s = time.perf_counter() - t0, self.clock() - c0
            t0, c0 = time.perf_counter(), self.clock()
            self.elapsed_s += compute_s
            stop = self._all_ranks_agree(self.out_of_time())
            loss_value = float(loss.detach())
            bar.update(min(compute_s, bar.total - bar.n) if timed else 1)
            bar.set_postfix(step=self.step, loss=f"{loss_value:.4f}", patches_s=f"{s.batch_size / step_s:.1f}")
            row = [self.step, f"{loss_value:.6f}", json.dumps(parts), self.scheduler.get_last_lr()[0],
                   f"{s.batch_size / step_s:.2f}"]  # fmt: skip
            if self.step % s.val_every == 0 or self.step == s.steps or stop:
                scores = self._validate(val_batches, row)
            else:
                self._log([*row, ""])
            if stop:
                break
        bar.close()
        return scores

    def _validate(self, val_batches: list[Batch], row: list | None = None) -> dict[str, float]:
        """Score the models (rank 0), keep them as ``best`` if they beat every earlier candidate, save the
        resumable state, log ``row`` (or a step-only row) with the scores; the other ranks wait."""
        scores: dict[str, float] = {}
        if self.rank == 0:
            scores = validate(self.models, val_batches, self.settings.stage)
            if scores["score"] > self.best_score:
                self.best_score = scores["score"]
                self._save("best")
            self._save_state()
            row = row or [self.step, "", "", self.scheduler.get_last_lr()[0], ""]
            self._log([*row, json.dumps({k: round(v, 3) for k, v in scores.items()})])
        if dist.is_initialized():
            dist.barrier()
        return scores

    def _log(self, row: list) -> None:
        if self.rank == 0:
            with open(self.run_dir / "log.csv", "a", newline="") as f:
                csv.writer(f).writerow(row)
