"""Teach the camera-agnostic ISPs ParamNet's gain-rule input: a sensor gain held a stop below the recorded ISO.

    python -m tools.train_gain_rule [--start joint|separate] [--directions forward,inverse] [--steps 400]
                                    [--out runs/gain-rule]

The camera-agnostic weights were trained before the input existed, so they meet a body with highlight-tone priority
(or Active D-Lighting) knowing only its ISO: on the D7000's frames at ISO 1250-1600 the RAW level the forward ISP
agreed with was 1.2-1.35x the true one (``benchmarks/RESULTS.md``, "The body's gain rule told to the camera-agnostic
ISPs"). This fine-tune trains only the term's 64 weights (``TrainSettings.trainable="gain_rule"``), so a shot whose
gain was not held runs exactly as before, on simulated TRAIN-split shots of the tuning bodies that have such a rule
(``nikon-d7000``, from ISO 800; the held-out ``canon-550d`` is not used), half of them set by hand so that many are
held. AdamW at 5e-3, batch 8 of 96-pixel crops. Writes ``OUT/<start>/<direction>/`` (the run;
``<direction>.last.safetensors`` is what ``python tools/ship_default_weights.py --gain-rule`` ships).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from core_isp.cameras.shipped import GENERIC, generic_weights, joint_weights
from core_isp.simulation.profiles import TUNING_PROFILES, get_profile
from core_isp.training.trainer import Trainer, TrainSettings

#: Tuning bodies that hold their gain at some ISO: the only shots that teach the term.
RULED_PROFILES = tuple(p for p in TUNING_PROFILES if get_profile(p).htp_min_iso is not None)


def settings(start: str, direction: str, steps: int) -> TrainSettings:
    """The fine-tune of the camera-agnostic ``start`` pair's ``direction``."""
    weights = joint_weights(GENERIC) if start == "joint" else generic_weights()
    init = {f"init_{direction}": str(weights.path(direction))}
    return TrainSettings(stage="finetune", direction=direction, data="sim:" + ",".join(RULED_PROFILES), steps=steps,
                         config="base", batch_size=8, crop=96, lr=5e-3, lr_step_every=10_000, val_every=50,
                         val_samples=24, seed=11, trainable="gain_rule", manual_exposure_p=0.5,
                         **init)  # type: ignore[arg-type]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", choices=("joint", "separate"), default="joint")
    parser.add_argument("--directions", default="forward,inverse")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--out", type=Path, default=Path("runs/gain-rule"))
    args = parser.parse_args()
    for direction in args.directions.split(","):
        run_dir, run = args.out / args.start / direction, settings(args.start, direction, args.steps)
        state = run_dir / "state.pt"
        if not (state.is_file() and torch.load(state, weights_only=False)["step"] >= run.steps):
            print(Trainer(run, run_dir, resume=state.is_file()).run(), flush=True)
        print(f"{args.start} {direction}: {run_dir / f'{direction}.last.safetensors'}", flush=True)


if __name__ == "__main__":
    main()
