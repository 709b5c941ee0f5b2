"""Train the shipped default weights, reproducibly (committed budgets, seeds and data manifest).

    python tools/train_default_weights.py [RUN_ROOT]        # default RUN_ROOT: runs/defaults

1. pre-train the camera-agnostic pair on the five tuning profiles (the held-out canon-550d is never used);
2. the ablations with the same seeds, data and step budget: no optics dropout, ParamNet's colour terms only,
   no ParamNet at all;
3. fine-tune a pair per tuning profile from the pre-trained pair;
4. the real path end to end: the Canon EOS D30 RAW + its camera JPEG, prepared, split into a left (train) and
   right (test) part with a guard band, the pre-trained pair fine-tuned on the left part.

Every run is resumable: a finished run is skipped, a stopped one continues (``Trainer(resume=True)``). Each
checkpoint records its training settings, step count, code version and data-manifest hash. The `small` config
is used because this runs on a 2-core CPU; ``tools/ship_default_weights.py`` then stores fp16 copies in the
package.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from core_isp.training.prepare import prepare_folder, split_pair_spatially
from core_isp.training.trainer import Trainer, TrainSettings

ROOT = Path(__file__).resolve().parents[1]
TUNING = ("nikon-d7000", "nikon-d90", "nikon-d40", "sony-a7r3", "samsung-s7")
COMMON = dict(config="small", batch_size=8, crop=96, lr=5e-4, lr_step_every=400, lr_gamma=0.8, val_samples=32, seed=42)
PRETRAIN_STEPS = 2000
FINETUNE_STEPS = 300
VARIANTS = {"paramisp": {}, "nodropout": {"optics_dropout_p": 0.0}, "colour": {"embedding": "colour"},
            "none": {"embedding": "none"}}  # fmt: skip


def run(settings: TrainSettings, run_dir: Path) -> None:
    """Train one run unless it is finished; continue it if it stopped."""
    state = run_dir / "state.pt"
    done = all((run_dir / f"{d}.last.safetensors").exists() for d in settings.directions)
    if done and state.exists():
        import torch

        if torch.load(state, weights_only=False)["step"] >= settings.steps:
            print(f"{run_dir}: finished, skipped", flush=True)
            return
    t0 = time.time()
    scores = Trainer(settings, run_dir, resume=state.exists(), progress=False).run()
    print(f"{run_dir}: {settings.steps} steps in {time.time() - t0:.0f} s; validation {scores}", flush=True)


def main(root: Path) -> None:
    sim = "sim:" + ",".join(TUNING)
    for variant, changes in VARIANTS.items():
        for direction in ("forward", "inverse"):
            run(TrainSettings(stage="pretrain", direction=direction, data=sim, steps=PRETRAIN_STEPS, val_every=250,
                              **{**COMMON, **changes}), root / "pretrain" / variant / direction)  # fmt: skip
    generic = root / "pretrain" / "paramisp"
    for profile in TUNING:
        for direction in ("forward", "inverse"):
            init = {f"init_{direction}": str(generic / direction / f"{direction}.best.safetensors")}
            run(TrainSettings(stage="finetune", direction=direction, data=f"sim:{profile}", steps=FINETUNE_STEPS,
                              val_every=100, **COMMON, **init), root / "finetune" / profile / direction)  # fmt: skip
    # The real camera: the D30 RAW and its embedded JPEG, same scene, disjoint halves.
    cache = root / "d30" / "cache"
    if not (cache / "index.json").exists():
        folder = root / "d30" / "raw"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "tests" / "data" / "raw" / "canon_eos_d30.crw", folder)
        prepare_folder(folder, cache, overwrite=True, progress=False)
        split_pair_spatially(cache, "canon_eos_d30", train_fraction=0.6, guard_px=128)
    for direction in ("forward", "inverse"):
        init = {f"init_{direction}": str(generic / direction / f"{direction}.best.safetensors")}
        settings = TrainSettings(stage="finetune", direction=direction, data=str(cache), steps=FINETUNE_STEPS,
                                 val_every=100, **{**COMMON, "val_samples": 16}, **init)  # fmt: skip
        run(settings, root / "d30" / direction)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "runs" / "defaults")
