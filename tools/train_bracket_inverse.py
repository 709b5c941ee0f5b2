"""Fine-tune a shipped inverse ISP on shots set as a bracket's frames are (ISO apart from the light), for HDR merges.

    python -m tools.train_bracket_inverse [--cameras nikon-d7000,sony-a7r3] [--variants manual,manual+stops]
                                          [--steps 400] [--out runs/bracket-inverse]

Per camera and variant: stage ``finetune`` of the camera's shipped inverse (``generic``: the camera-agnostic one, on
the five tuning cameras) on its simulated TRAIN-split shots, half of them set by hand
(``TrainSettings.manual_exposure_p`` 0.5: :func:`core_isp.simulation.render.manual_settings`); variant
``manual+stops`` adds the loss in stops (``TrainSettings.stops_loss_weight`` 0.1). ParamNet and the modulation layers
only (what maps the shot's parameters to the networks), AdamW at 5e-4, batch 8 of 96-pixel crops, ``--steps`` steps.
Then ``OUT/VARIANT/weights/<camera>.inverse.safetensors`` (the ``last`` checkpoints) for
``python -m benchmarks.hdr_eval --inverse-weights`` and ``python -m benchmarks.inverse_bracket_bias``. Rerunning
skips finished runs; ``python tools/ship_default_weights.py --brackets`` ships the ``manual+stops`` runs as the
inverses' bracket conditioning (``load_isp(pair="brackets")``, what ``paramisp hdr`` runs). ``benchmarks/RESULTS.md``
("HDR: the inverse ISP on bracket frames", "The inverse conditioned for brackets") has what it gave.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from core_isp.cameras import get_camera
from core_isp.cameras.shipped import generic_weights
from core_isp.simulation.profiles import TUNING_PROFILES
from core_isp.training.trainer import Trainer, TrainSettings

VARIANTS = {"manual": {"manual_exposure_p": 0.5}, "manual+stops": {"manual_exposure_p": 0.5, "stops_loss_weight": 0.1}}


def settings(camera: str, variant: str, steps: int) -> TrainSettings:
    """The fine-tune of one camera's shipped inverse in one variant."""
    start = generic_weights() if camera == "generic" else get_camera(camera).weights
    data = "sim:" + (",".join(TUNING_PROFILES) if camera == "generic" else camera)
    return TrainSettings(stage="finetune", direction="inverse", data=data, steps=steps, config="base", batch_size=8,
                         crop=96, lr=5e-4, lr_step_every=10_000, val_every=50, val_samples=24, seed=7,
                         init_inverse=str(start.path("inverse")), trainable="paramnet",
                         **VARIANTS[variant])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", default="nikon-d7000,sony-a7r3")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--out", type=Path, default=Path("runs/bracket-inverse"))
    args = parser.parse_args()
    for variant in args.variants.split(","):
        weights = args.out / variant / "weights"
        weights.mkdir(parents=True, exist_ok=True)
        for camera in args.cameras.split(","):
            run_dir, run = args.out / variant / camera, settings(camera, variant, args.steps)
            state = run_dir / "state.pt"
            if not (state.is_file() and torch.load(state, weights_only=False)["step"] >= run.steps):
                print(Trainer(run, run_dir, resume=state.is_file()).run(), flush=True)
            shutil.copyfile(run_dir / "inverse.last.safetensors", weights / f"{camera}.inverse.safetensors")
        print(f"{variant}: {weights}", flush=True)


if __name__ == "__main__":
    main()
