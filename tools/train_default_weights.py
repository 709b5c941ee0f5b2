"""Train the shipped default weights, reproducibly (committed budgets, seeds and data manifest).

    python tools/train_default_weights.py [--recipe cpu|gpu|quick|joint] [RUN_ROOT]   # default: runs/<recipe folder>

Recipe ``cpu`` (2-core CPU, ``small`` config):

1. pre-train the camera-agnostic pair on the five tuning profiles (the held-out canon-550d is never used);
2. the ablations with the same seeds, data and step budget: no optics dropout, ParamNet's colour terms only,
   no ParamNet at all;
3. fine-tune a pair per tuning profile from the pre-trained pair;
4. the real path end to end: the Canon EOS D30 RAW + its camera JPEG, prepared, split into a left (train) and
   right (test) part with a guard band, the pre-trained pair fine-tuned on the left part.

Recipe ``gpu`` (one GPU and 16 cores for at most 8 minutes, ``base`` config, batches rendered by 14 worker
processes): steps 1, 3 and 4 with twice the batch; the ablations stay with the CPU recipe, where all four
variants share one budget.

Recipe ``quick`` (2-core CPU, ``small`` config, under 30 minutes with its scoring): step 2 alone, the four ablation
variants on an eighteenth of the CPU recipe's training pixels (crops of 64 px, 250 steps), with no fine-tunes and
no D30; ``python -m benchmarks.eval_isp --ablation-only --ablation-runs runs/ablation-quick --shots 16`` scores it.
It exists to check the direction of each ablation claim from a fresh clone, not its size.

Recipe ``joint`` (2-core CPU, ``base`` config under bf16 autocast): the paper's stage 3 from the *shipped* pairs
in ``core_isp/weights``: inverse and forward of one pair trained together (inverse + cycle + forward loss,
``docs/decisions.md`` 6) on the camera's own simulated shots, for the camera-agnostic pair (on the five tuning
profiles) and the two tuning bodies the apps are measured on. ``tools/ship_default_weights.py --joint`` stores them.

Every run is resumable: a finished run is skipped, a stopped one continues (``Trainer(resume=True)``). Each
checkpoint records its training settings, step count, code version and data-manifest hash;
``tools/ship_default_weights.py`` then stores fp16 copies in the package.
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from core_isp.training.prepare import prepare_folder, split_pair_spatially
from core_isp.training.trainer import Trainer, TrainSettings

ROOT = Path(__file__).resolve().parents[1]
TUNING = ("nikon-d7000", "nikon-d90", "nikon-d40", "sony-a7r3", "samsung-s7")
PRETRAIN_STEPS = 2000
FINETUNE_STEPS = 300
QUICK_STEPS = 250
JOINT_STEPS = 200
#: Stage 3 runs: name -> (simulated profiles, the shipped pair it starts from).
JOINT_PAIRS = {"generic": TUNING, "nikon-d7000": ("nikon-d7000",), "sony-a7r3": ("sony-a7r3",)}
ABLATIONS = {"nodropout": {"optics_dropout_p": 0.0}, "colour": {"embedding": "colour"}, "none": {"embedding": "none"}}


@dataclass(frozen=True)
class Recipe:
    common: dict
    variants: dict[str, dict] = field(default_factory=dict)
    workers: int = 0
    pretrain_steps: int = PRETRAIN_STEPS
    #: Steps 3 and 4: the per-camera fine-tunes and the D30.
    finetune: bool = True
    #: Stage 3 from the shipped pairs instead of steps 1-4.
    joint: bool = False


RECIPES = {
    "cpu": Recipe(dict(config="small", batch_size=8, crop=96, lr=5e-4, lr_step_every=400, lr_gamma=0.8,
                       val_samples=32, seed=42), {"paramisp": {}, **ABLATIONS}),
    "gpu": Recipe(dict(config="base", batch_size=16, crop=96, lr=5e-4, lr_step_every=400, lr_gamma=0.8,
                       val_samples=32, seed=42), {"paramisp": {}}, workers=14),
    "quick": Recipe(dict(config="small", batch_size=8, crop=64, lr=1e-3, lr_step_every=100, lr_gamma=0.8,
                         val_samples=16, seed=42), {"paramisp": {}, **ABLATIONS}, pretrain_steps=QUICK_STEPS,
                    finetune=False),
    "joint": Recipe(dict(config="base", batch_size=16, crop=96, lr=1e-4, lr_step_every=1000, lr_gamma=0.8,
                         val_samples=32, seed=42, bf16_autocast=True), joint=True),
}  # fmt: skip


def run(settings: TrainSettings, run_dir: Path, workers: int = 0) -> None:
    """Train one run unless it is finished; continue it if it stopped."""
    state = run_dir / "state.pt"
    done = all((run_dir / f"{d}.last.safetensors").exists() for d in settings.directions)
    if done and state.exists():
        import torch

        if torch.load(state, weights_only=False)["step"] >= settings.steps:
            print(f"{run_dir}: finished, skipped", flush=True)
            return
    t0 = time.time()
    scores = Trainer(settings, run_dir, resume=state.exists(), progress=False, workers=workers).run()
    print(f"{run_dir}: {settings.steps} steps in {time.time() - t0:.0f} s; validation {scores}", flush=True)


def d30_cache(root: Path) -> Path:
    """The real camera: the D30 RAW and its embedded JPEG prepared, split into a left (train) and a right
    (test) part with a guard band; deterministic, so a missing cache is rebuilt identically."""
    cache = root / "d30" / "cache"
    if not (cache / "index.json").exists():
        folder = root / "d30" / "raw"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "tests" / "data" / "raw" / "canon_eos_d30.crw", folder)
        prepare_folder(folder, cache, overwrite=True, progress=False)
        split_pair_spatially(cache, "canon_eos_d30", train_fraction=0.6, guard_px=128)
    return cache


def joint_pairs(root: Path, recipe: Recipe) -> None:
    """Stage 3 for each of :data:`JOINT_PAIRS`, from its shipped pair."""
    weights = ROOT / "core_isp" / "weights"
    for name, profiles in JOINT_PAIRS.items():
        init = {f"init_{d}": str(weights / f"{name}.{d}.safetensors") for d in ("forward", "inverse")}
        settings = TrainSettings(stage="joint", direction="both", data="sim:" + ",".join(profiles), steps=JOINT_STEPS,
                                 val_every=50, **recipe.common, **init)  # fmt: skip
        run(settings, root / name, recipe.workers)


def main(root: Path, recipe: Recipe) -> None:
    if recipe.joint:
        joint_pairs(root, recipe)
        return
    sim = "sim:" + ",".join(TUNING)
    common, workers = recipe.common, recipe.workers
    for variant, changes in recipe.variants.items():
        for direction in ("forward", "inverse"):
            run(TrainSettings(stage="pretrain", direction=direction, data=sim, steps=recipe.pretrain_steps,
                              val_every=min(250, recipe.pretrain_steps), **{**common, **changes}),
                root / "pretrain" / variant / direction, workers)  # fmt: skip
    if not recipe.finetune:
        return
    generic = root / "pretrain" / "paramisp"
    for profile in TUNING:
        for direction in ("forward", "inverse"):
            init = {f"init_{direction}": str(generic / direction / f"{direction}.best.safetensors")}
            settings = TrainSettings(stage="finetune", direction=direction, data=f"sim:{profile}",
                                     steps=FINETUNE_STEPS, val_every=100, **common, **init)  # fmt: skip
            run(settings, root / "finetune" / profile / direction, workers)
    cache = d30_cache(root)
    for direction in ("forward", "inverse"):
        init = {f"init_{direction}": str(generic / direction / f"{direction}.best.safetensors")}
        settings = TrainSettings(stage="finetune", direction=direction, data=str(cache), steps=FINETUNE_STEPS,
                                 val_every=100, **{**common, "val_samples": 16}, **init)  # fmt: skip
        run(settings, root / "d30" / direction, workers)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", choices=RECIPES, default="cpu")
    parser.add_argument("run_root", nargs="?", type=Path)
    args = parser.parse_args()
    folders = {"cpu": "defaults", "gpu": "defaults-gpu", "quick": "ablation-quick", "joint": "joint"}
    default_root = ROOT / "runs" / folders[args.recipe]
    main(args.run_root or default_root, RECIPES[args.recipe])
