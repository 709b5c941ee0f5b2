"""Adapt shipped weights to one user's camera within a time budget: what ``paramisp camera add`` runs after ``prepare``.

Per direction: score the start weights on the cache's held-back (``val``) frames, whole, through the
full-resolution inference (:mod:`core_isp.inference`); fine-tune the parameter group ``adapt`` on crops of the
``train`` pairs until the time budget is spent (the :class:`~core_isp.training.trainer.Trainer`, so a killed run
resumes where it last saved, and the budget runs on its compute clock); score the result on the same frames; keep
whichever scores higher, the start on a tie. Whole frames, not crops, decide: a fine-tune that won on 96-pixel
validation crops lost on whole test frames before (``docs/decisions.md`` 15), because a crop is its own global
context while a whole frame's context is the frame. (The Trainer's crop-scored ``best`` file is not used.)

The defaults come from ``python -m benchmarks.user_cameras`` (``benchmarks/RESULTS.md``, "Per-camera adaptation:
what to fine-tune").
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from core_isp.cameras import generic_weights
from core_isp.checkpoint import load_checkpoint, read_checkpoint_info
from core_isp.errors import BadInputError, DamagedWeightsError
from core_isp.inference import forward_isp, inverse_isp
from core_isp.io.writers import atomic_write
from core_isp.metrics import psnr
from core_isp.models.paramisp import DIRECTIONS, ParamISP
from core_isp.training.data import PreparedCache, Sample
from core_isp.training.trainer import BORDER, Trainer, TrainSettings

#: Learning rate per adapt mode. AdamW's first steps move every trained parameter by about the rate whatever its
#: gradient, so the more parameters a mode trains, the smaller the rate its few steps tolerate: at the pre-training
#: rate (5e-4) a whole-network fine-tune first loses several dB and needs most of a CPU budget to recover
#: (``benchmarks/RESULTS.md``, "Per-camera adaptation").
ADAPT_LR = {"all": 1e-4, "global": 2e-4, "paramnet": 5e-4}
#: What the start and the fine-tune are compared on, per direction and run (written beside the Trainer's files).
SCORES_FILE = "full_frame_scores.json"
REPORT_FILE = "report.json"


@dataclass(frozen=True)
class FinetuneSettings:
    """How one camera is adapted (the same for both directions)."""

    #: Seconds of training per direction on the Trainer's compute clock (on the CPU, CPU time / threads: wall time
    #: on an otherwise idle machine); scoring the held-back frames comes on top.
    budget_s: float = 300.0
    #: Parameter group trained: a :data:`~core_isp.training.trainer.TRAINABLE` group.
    adapt: str = "all"
    crop: int = 128
    batch_size: int = 8
    #: None: :data:`ADAPT_LR` of the mode.
    lr: float | None = None
    #: Where training and scoring run; None: a GPU when there is one, else the CPU.
    device: str | None = None
    seed: int = 42
    #: Steps between resumable saves (each also scores a few held-back crops, for the log only).
    save_every: int = 25
    val_samples: int = 8
    #: Held-back frames with more pixels are scored on their centred region of this many, which is then its own
    #: global context: it bounds the scoring time (a 24 MP frame takes minutes per direction on two cores).
    score_max_pixels: int = 512 * 768
    #: Upper bound on steps; the time budget normally ends the run first.
    max_steps: int = 1_000_000

    def __post_init__(self) -> None:
        if self.adapt not in ADAPT_LR:
            raise BadInputError(f"adapt must be one of {', '.join(ADAPT_LR)}, got {self.adapt!r}")
        if self.budget_s <= 0:
            raise BadInputError(f"budget must be positive, got {self.budget_s} s")

    @property
    def learning_rate(self) -> float:
        """The rate used: ``lr``, or the mode's :data:`ADAPT_LR`."""
        return ADAPT_LR[self.adapt] if self.lr is None else self.lr


@dataclass(frozen=True)
class DirectionReport:
    """One direction's outcome; PSNR in dB, mean over the held-back frames."""

    direction: str
    start_psnr: float
    final_psnr: float
    #: "fine-tune" or "start".
    kept: str
    checkpoint: Path
    steps: int
    train_s: float
    #: Wall time of this call for the direction (training, scoring, loading), not of earlier interrupted calls.
    wall_s: float
    held_back_frames: int


@dataclass(frozen=True)
class FinetuneReport:
    """What :func:`finetune_camera` did, per direction."""

    cache: Path
    settings: FinetuneSettings
    directions: dict[str, DirectionReport]

    def to_json(self) -> str:
        """The report as JSON (paths as strings)."""
        return json.dumps(dataclasses.asdict(self), indent=1, default=str)


def generic_start() -> dict[str, Path]:
    """The shipped camera-agnostic weights, the usual start, as ``finetune_camera`` takes them."""
    weights = generic_weights()
    return {d: weights.path(d) for d in DIRECTIONS}


def held_back_frames(cache: Path, crop: int, max_pixels: int) -> list[Sample]:
    """The cache's ``val`` pairs, whole (or their centred ``max_pixels`` region)."""
    try:
        source = PreparedCache(cache, "val", (crop, crop))
    except BadInputError as e:
        raise BadInputError(f"{e}: the start-or-fine-tune choice needs held-back frames (prepare 2+ pairs)") from e
    return [source.frame(p["name"], max_pixels) for p in source.pairs]


@torch.no_grad()
def frame_psnrs(model: ParamISP, frames: list[Sample], device: str | None = None, progress: bool = False,
                label: str = "") -> list[float]:  # fmt: skip
    """PSNR (dB, 2-pixel border removed, as in training) of each whole frame through the full-resolution inference
    (context pass, then one window: scored frames are small): the forward direction against the camera's
    rendering, the inverse against the clean RAW when known, else the recorded one."""
    from tqdm import tqdm

    scores = []
    for f in tqdm(frames, desc=label, unit="frame", disable=not progress, file=sys.stderr, leave=False):
        shots, options = [f.meta], dict(tile=None, device=device, channels_last=True)
        if model.direction == "forward":
            pred, target = forward_isp(model, f.raw[None], shots, **options), f.srgb[None]
        else:
            pred, target = inverse_isp(model, f.srgb[None], shots, **options), f.raw_target[None]
        inner = (..., slice(BORDER, -BORDER), slice(BORDER, -BORDER))
        scores.append(float(psnr(pred.clamp(0, 1)[inner], target.clamp(0, 1)[inner])))
    return scores


def finetune_camera(
    cache: Path,
    run_dir: Path,
    start: Mapping[str, Path],
    settings: FinetuneSettings | None = None,
    progress: bool = True,
) -> FinetuneReport:
    """Fine-tune each direction in ``start`` (``{direction: checkpoint}``) on a prepared cache; see the module.

    ``run_dir`` holds one Trainer run per direction and ``report.json``. Calling again with the same arguments
    resumes an interrupted run (finished directions are not redone); a larger ``budget_s`` continues a
    finished one.
    """
    settings = settings or FinetuneSettings()
    cache, run_dir = Path(cache), Path(run_dir)
    unknown = sorted(set(start) - set(DIRECTIONS))
    if unknown or not start:
        raise BadInputError(f"start needs forward and/or inverse checkpoints, got {sorted(start)}")
    frames = held_back_frames(cache, settings.crop, settings.score_max_pixels)
    reports = {d: _finetune_direction(cache, run_dir / d, d, Path(start[d]), settings, frames, progress)
               for d in DIRECTIONS if d in start}  # fmt: skip
    report = FinetuneReport(cache=cache, settings=settings, directions=reports)
    with atomic_write(run_dir / REPORT_FILE, overwrite=True) as tmp:
        tmp.write_text(report.to_json())
    return report


def _write_json(path: Path, data: dict) -> None:
    with atomic_write(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def _train_settings(cache: Path, direction: str, start: Path, settings: FinetuneSettings) -> TrainSettings:
    config = read_checkpoint_info(start).config
    return TrainSettings(
        stage="finetune",
        direction=direction,
        data=str(cache),
        steps=settings.max_steps,
        config=config.name,
        embedding=config.embedding,
        batch_size=settings.batch_size,
        crop=settings.crop,
        lr=settings.learning_rate,
        # A constant rate: the run's length is set by the clock, so a step-count schedule would mean nothing.
        lr_gamma=1.0,
        val_every=settings.save_every,
        val_samples=settings.val_samples,
        seed=settings.seed,
        trainable=settings.adapt,
        time_budget_s=settings.budget_s,
        **{f"init_{direction}": str(start)},
    )


def _finetune_direction(
    cache: Path,
    run: Path,
    direction: str,
    start: Path,
    settings: FinetuneSettings,
    frames: list[Sample],
    progress: bool,
) -> DirectionReport:
    t0 = time.perf_counter()
    run.mkdir(parents=True, exist_ok=True)
    scores_path = run / SCORES_FILE
    scores = json.loads(scores_path.read_text()) if scores_path.is_file() else {}

    def score(path: Path, label: str) -> float:
        try:
            model, _ = load_checkpoint(path, direction=direction)  # type: ignore[arg-type]
        except DamagedWeightsError:
            return float("-inf")  # the fine-tune diverged: anything beats it
        per_frame = frame_psnrs(model, frames, settings.device, progress, f"{direction}: scoring {label}")
        return sum(per_frame) / len(per_frame)

    if "start" not in scores:
        scores["start"] = score(start, "start")
        _write_json(scores_path, scores)
    trainer = Trainer(_train_settings(cache, direction, start, settings), run,
                      resume=(run / "state.pt").is_file(), progress=progress, device=settings.device)  # fmt: skip
    trainer.run()
    final = run / f"{direction}.last.safetensors"
    if scores.get("final_step") != trainer.step:
        scores["final"], scores["final_step"] = score(final, "fine-tune"), trainer.step
        _write_json(scores_path, scores)
    tuned_wins = scores["final"] > scores["start"]
    return DirectionReport(
        direction=direction,
        start_psnr=scores["start"],
        final_psnr=scores["final"],
        kept="fine-tune" if tuned_wins else "start",
        checkpoint=final if tuned_wins else start,
        steps=trainer.step,
        train_s=trainer.elapsed_s,
        wall_s=time.perf_counter() - t0,
        held_back_frames=len(frames),
    )
