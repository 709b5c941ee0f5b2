"""Hand-held brackets and moving objects: what ``hdr merge --align`` and ``--deghost`` do, against exact ground truth.

    python -m benchmarks.hdr_handheld [--cameras nikon-d7000,sony-a7r3,canon-550d] [--views 2] [--size 256x384]
                                      [--iso 100] [--bracket 3x2] [--split test] [--bootstrap 2000]
                                      [--pair brackets]

The HDR benchmark's shots (:func:`core_isp.simulation.bracket.render_bracket`, test-split radiance maps unless
``--split`` says otherwise, the held-out ``canon-550d`` with the camera-agnostic weights), with the frames other
than the middle (reference) one seeing a changed scene:

* **hand-held**: each such frame sees the whole view translated by a random sub-pixel shift, up to ``MAX_SHIFT_PX``
  on each axis (bilinear, mirrored at the borders; :func:`core_isp.simulation.blur_capture.warp_scene`);
* **moving object**: a ``OBJECT_PX`` square of the view, taken from elsewhere in it, is pasted at a row and moves
  ``OBJECT_STEP_PX`` to the right from frame to frame: an object crossing the scene between exposures.

The truth is what the reference frame sees: the unmoved view, or the view with the object where the reference frame
has it. Scores as in ``benchmarks/hdr_eval.py`` (log2-RMSE of luminance, PU21-PSNR of luminance and per channel, one
global scale fitted in the log domain), on the view less a ``MARGIN_PX`` border (content a shifted frame mirrors
in); for the moving object also on the band the object crosses ("object band", with its own scale fit). Methods:
this tool as shipped (``MergeSettings()``: no alignment, no de-ghosting, but its outlier pass), with ``align`` /
``deghost``; OpenCV's Debevec merge with its own response calibration, without and (hand-held) with OpenCV's
median-threshold-bitmap alignment (``AlignMTB``, translation only) first. Means over cameras per view, 95 % bootstrap
over views. Needs ``opencv-python-headless`` (benchmark only). Prints Markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np
import torch

from apps.hdr import DEFAULT_PAIR, HdrMaker, MergeSettings
from benchmarks.hdr_eval import CachedInverse, classic_merge, interval_cell, per_scene
from core_isp.cameras import get_camera
from core_isp.isp import PAIRS, InferenceOptions, load_isp
from core_isp.metrics.hdr import HDR_SCORE_KEYS, hdr_scores
from core_isp.simulation.blur_capture import warp_scene
from core_isp.simulation.bracket import bracket_evs, bracket_photos, hdr_scene_views, render_bracket
from core_isp.simulation.scenes import Scene
from paramisp.machine import machine_line

MAX_SHIFT_PX = 6.0
MARGIN_PX = 12
OBJECT_PX = 48
OBJECT_STEP_PX = 24
SEED = 23
#: Method -> merge settings of this tool (None: an OpenCV merge).
TOOL = {
    "this tool, as shipped": MergeSettings(),
    "this tool, --align": MergeSettings(align=True),
    "this tool, --deghost": MergeSettings(deghost=True),
    "this tool, --align --deghost": MergeSettings(align=True, deghost=True),
}
DEBEVEC = "Debevec (OpenCV)"
ALIGNED_DEBEVEC = "AlignMTB + Debevec (OpenCV)"
CASES = ("hand-held", "moving object")


def shifted(scene: Scene, dx: float, dy: float) -> Scene:
    """The view translated by ``(dx, dy)`` pixels (content moves right and down for positive values)."""
    affine = torch.tensor([[[1.0, 0.0, dx], [0.0, 1.0, dy]]], dtype=torch.float64)
    return dataclasses.replace(scene, linear_rgb=warp_scene(scene.linear_rgb, affine)[0].float())


def with_object(scene: Scene, source_yx: tuple[int, int], top: int, left: int) -> Scene:
    """The view with its ``OBJECT_PX`` square at ``source_yx`` pasted with its top-left corner at ``(top, left)``."""
    rgb = scene.linear_rgb.clone()
    y, x = source_yx
    rgb[:, top : top + OBJECT_PX, left : left + OBJECT_PX] = scene.linear_rgb[:, y : y + OBJECT_PX, x : x + OBJECT_PX]
    return dataclasses.replace(scene, linear_rgb=rgb)


def frame_scenes(case: str, scene: Scene, evs: list[float], rng: np.random.Generator) -> tuple[dict, Scene, tuple]:
    """What each frame sees, the truth (what the reference frame sees) and the object band ``(top, bottom)`` rows
    (the whole view for hand-held)."""
    height, width = scene.linear_rgb.shape[-2:]
    if case == "hand-held":
        seen = {ev: shifted(scene, *rng.uniform(-MAX_SHIFT_PX, MAX_SHIFT_PX, size=2)) for ev in evs if ev != 0.0}
        return seen, scene, (0, height)
    top = int(rng.integers(MARGIN_PX, height - OBJECT_PX - MARGIN_PX))
    source = (int(rng.integers(0, height - OBJECT_PX)), int(rng.integers(0, width - OBJECT_PX)))
    span = OBJECT_STEP_PX * (len(evs) - 1)
    start = int(rng.integers(MARGIN_PX, width - OBJECT_PX - span - MARGIN_PX))
    seen = {ev: with_object(scene, source, top, start + OBJECT_STEP_PX * k) for k, ev in enumerate(evs)}
    return seen, seen[0.0], (top, top + OBJECT_PX)


def evaluate(args: argparse.Namespace) -> list[dict]:
    size = tuple(int(v) for v in args.size.split("x"))
    scenes = hdr_scene_views(args.split, args.views, size, np.random.default_rng(SEED))  # type: ignore[arg-type]
    count, spacing = args.bracket.split("x")
    evs = bracket_evs(int(count), float(spacing))
    rows = []
    for camera_name in args.cameras.split(","):
        camera = get_camera(camera_name)
        learned = CachedInverse(load_isp(camera, directions=("inverse",), pair=args.pair))
        makers = {m: HdrMaker(camera, learned, s, InferenceOptions(tile=512)) for m, s in TOOL.items()}
        for v, scene in enumerate(scenes):
            for c, case in enumerate(CASES):
                rng = np.random.default_rng(SEED + 100 * v + c)
                seen, truth_scene, (top, bottom) = frame_scenes(case, scene, evs, rng)
                learned.results.clear()
                shots = bracket_photos(render_bracket(camera_name, scene, args.iso, evs, SEED + 1000 * v + c, seen))
                frames = [shots[ev] for ev in evs]
                outputs = {m: maker.merge(frames).image.pixels[0].double().numpy() for m, maker in makers.items()}
                outputs[DEBEVEC] = classic_merge(DEBEVEC, frames)
                outputs[ALIGNED_DEBEVEC] = classic_merge(DEBEVEC, frames, align=True)
                truth = truth_scene.linear_rgb.double().numpy()
                inner = (slice(None), slice(MARGIN_PX, -MARGIN_PX), slice(MARGIN_PX, -MARGIN_PX))
                band = (slice(None), slice(top, bottom), slice(MARGIN_PX, -MARGIN_PX))
                for method, pred in outputs.items():
                    row = {"camera": camera_name, "scene": v, "task": case, "method": method,
                           **hdr_scores(pred[inner], truth[inner])}  # fmt: skip
                    if case == "moving object":
                        row.update({f"band_{k}": s for k, s in hdr_scores(pred[band], truth[band]).items()})
                    rows.append(row)
                done = [r for r in rows if r["camera"] == camera_name and r["scene"] == v and r["task"] == case]
                line = ", ".join(f"{r['method']} {r['pu21_psnr_y']:.1f}" for r in done)
                print(f"{camera_name} view {v} {case}: {line}", file=sys.stderr, flush=True)
    return rows


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = [f"Machine: {machine_line()}", "",
             f"{args.views} views of each {args.split} HDR map, {args.size}, cameras {args.cameras}, ISO {args.iso:g}, "
             f"{args.bracket} EV bracket; shifts up to {MAX_SHIFT_PX:g} px, a {OBJECT_PX} px object moving "
             f"{OBJECT_STEP_PX} px per frame; 95 % bootstrap over views.", ""]  # fmt: skip
    for case in CASES:
        keys = list(HDR_SCORE_KEYS) + (["band_log2_rmse", "band_pu21_psnr_y"] if case == "moving object" else [])
        head = ["log2-RMSE Y (stops)", "PU21-PSNR Y (dB)", "PU21-PSNR RGB (dB)"]
        head += ["object band: log2-RMSE Y", "object band: PU21-PSNR Y"] if case == "moving object" else []
        lines += [f"**{case}**", "", "| method | " + " | ".join(head) + " |", "|---|" + "---:|" * len(keys)]
        for method in methods:
            cells = [interval_cell(per_scene(rows, case, method, k), args.bootstrap, 3 if "log2" in k else 2)
                     for k in keys]  # fmt: skip
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", default="nikon-d7000,sony-a7r3,canon-550d")
    parser.add_argument("--views", type=int, default=2, help="views of each test HDR map")
    parser.add_argument("--size", default="256x384")
    parser.add_argument("--split", default="test", help="the radiance maps' split (train and val: for development)")
    parser.add_argument("--iso", type=float, default=100.0)
    parser.add_argument("--bracket", default="3x2", help="frames x EV spacing")
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--pair", default=DEFAULT_PAIR, choices=PAIRS, help="the cameras' weights (load_isp's pair)")
    args = parser.parse_args()
    torch.manual_seed(SEED)
    print(markdown(evaluate(args), args))


if __name__ == "__main__":
    main()
