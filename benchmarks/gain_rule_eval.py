"""What ParamNet's gain-rule input gives the camera-agnostic ISPs, on the simulated test split.

    python -m benchmarks.gain_rule_eval [--shots 32] [--cameras nikon-d7000,canon-550d] [--directions forward,inverse]

Per camera, the test shots of ``benchmarks.eval_isp`` (the same scenes, seeds and size), set by the program AE
and, on the same scenes, by hand (ISO 100-3200 drawn apart from the light, as bracket frames are). Each
camera-agnostic ISP (the separate pair's and the joint pair's, both directions) runs on each shot twice: told the
body's gain rule (the metadata as the body records it; ``nikon-d7000`` holds its gain from ISO 800, the held-out
``canon-550d`` from 400) and not told (``highlight_priority_iso`` None, as before the input existed). PSNR (paper
protocol; the forward against the camera's JPEG, the inverse against the clean RAW) on the shots whose gain was
held, with a 95 % bootstrap interval of the difference over scenes; on the other shots the two outputs must be
identical (checked: largest absolute difference).
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch

from benchmarks.eval_isp import CROP, test_shots
from core_isp.isp import InferenceOptions, load_isp
from core_isp.metrics import bootstrap_interval, paper_protocol_scores
from paramisp.machine import machine_line

PAIRS = ("separate", "joint")
WHOLE = InferenceOptions(tile=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", type=int, default=32)
    parser.add_argument("--cameras", default="nikon-d7000,canon-550d")
    parser.add_argument("--directions", default="forward,inverse")
    args = parser.parse_args()
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    isps = {p: load_isp(None, pair=p) for p in PAIRS}
    lines = ["| camera | shots | ISP | held shots (scenes) | PSNR, rule not told | PSNR, rule told | "
             "told minus not told |", "|---|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for camera, hand_set in itertools.product(args.cameras.split(","), (False, True)):
        shots = test_shots(camera, args.shots, hand_set)
        held = [s for s in shots if s.meta.gain_held]
        setting = "hand-set" if hand_set else "AE"
        for (pair, isp), direction in itertools.product(isps.items(), args.directions.split(",")):
            run = getattr(isp, direction)
            scores: dict[bool, list[float]] = {True: [], False: []}
            worst = 0.0
            with torch.no_grad():
                for s in shots:
                    x, target = (s.raw, s.srgb) if direction == "forward" else (s.srgb, s.clean)
                    told = run(x, [s.meta], WHOLE)
                    untold = run(x, [s.meta.replace(highlight_priority_iso=None)], WHOLE)
                    if not s.meta.gain_held:
                        worst = max(worst, float((told - untold).abs().max()))
                        continue
                    for rule, out in ((True, told), (False, untold)):
                        scores[rule].append(paper_protocol_scores(out, target, crop_size=CROP).psnr_db)
            diff = np.array(scores[True]) - np.array(scores[False])
            mean, lo, hi = bootstrap_interval(diff, clusters=[s.scene for s in held])
            scenes = len({s.scene for s in held})
            lines.append(f"| {camera} | {setting} | camera-agnostic {pair}, {direction} | {len(held)} ({scenes}) | "
                         f"{np.mean(scores[False]):.2f} | {np.mean(scores[True]):.2f} | "
                         f"{mean:+.2f} [{lo:+.2f}, {hi:+.2f}] |")  # fmt: skip
            print(f"{camera} {setting} {pair} {direction}: other shots' largest difference {worst:g}", flush=True)
    took = f"This call took {time.perf_counter() - t0:.0f} s."
    print(f"\nMachine: {machine_line()}\n\n" + "\n".join(lines) + f"\n\n{took}")


if __name__ == "__main__":
    main()
