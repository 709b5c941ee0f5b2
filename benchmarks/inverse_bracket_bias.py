"""How far the inverse ISP's RAW of each bracket frame is from the frame's true RAW, in stops, by EV offset and ISO.

    python -m benchmarks.inverse_bracket_bias [--cameras nikon-d7000,sony-a7r3] [--split val] [--views 2]
                                              [--size 256x384] [--isos 100,800] [--inverse-weights DIR ...]

Brackets of 5 frames 1.5 EV apart (-3 ... +3 EV), shot as ``benchmarks.hdr_eval`` shoots them
(:func:`core_isp.simulation.bracket.render_bracket`), of ``--views`` views of each HDR map of ``--split`` (``val``
by default: the HDR benchmark's choices are made there, never on ``test``). Each frame goes through the inverse ISP
with its own EXIF and the true white balance (what the frame's RAW looked like is the question here, not the white
balance); the error is ``log2(estimate / truth)`` of the clean RAW at the sites whose true level is well exposed
(0.05-0.9 of white) and at the shadows (0.002-0.05). Mean (bias) and mean absolute error per frame, averaged over
views. A bias shared by every frame is a global scale, which an HDR merge is scored after; one that changes with the
exposure bends the merge's response. ``--inverse-weights``: folders of ``<camera>.inverse.safetensors`` (as
``hdr_eval`` takes) to compare with the shipped inverse. Prints Markdown.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from benchmarks.hdr_eval import other_inverse
from core_isp.cameras import get_camera
from core_isp.chain import to_raw
from core_isp.isp import InferenceOptions, load_isp
from core_isp.simulation.bracket import bracket_evs, hdr_scene_views, photo_of, render_bracket
from core_isp.simulation.scenes import Scene
from paramisp.machine import machine_line

SEED = 20261201
BANDS = {"well exposed": (0.05, 0.9), "shadows": (0.002, 0.05)}


def frame_errors(camera_name: str, folders: list[Path | None], scenes: list[Scene], isos: list[float]) -> list[dict]:
    """Per weights folder (None: the shipped inverse), {(ISO, band): {EV: [(bias, mae) per view]}} of one camera's
    inverse; each bracket is rendered once and goes through every inverse."""
    camera = get_camera(camera_name)
    isps = [load_isp(camera, directions=("inverse",), inverse_weights=other_inverse(camera, f)) for f in folders]
    out: list[dict] = [{} for _ in isps]
    for iso in isos:
        for s, scene in enumerate(scenes):
            for ev, shot in render_bracket(camera_name, scene, iso, bracket_evs(5, 1.5), SEED + s).items():
                photo = photo_of(shot)
                truth = shot.clean_raw.double()
                meta = camera.raw_metadata(photo.meta, shot.metadata.wb_gains, "as_shot")
                meta = meta.replace(image_size_hw=tuple(truth.shape[-2:]))
                for isp, errors in zip(isps, out, strict=True):
                    raw = to_raw(photo, isp, [meta], InferenceOptions(tile=512)).pixels.double()
                    error = torch.log2(raw.clamp(min=1e-6) / truth.clamp(min=1e-6))
                    for band, (lo, hi) in BANDS.items():
                        e = error[(truth > lo) & (truth < hi)]
                        if e.numel():
                            by_ev = errors.setdefault((iso, band), {})
                            by_ev.setdefault(ev, []).append((float(e.mean()), float(e.abs().mean())))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", default="nikon-d7000,sony-a7r3")
    parser.add_argument("--split", default="val")
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--size", default="256x384")
    parser.add_argument("--isos", default="100,800")
    parser.add_argument("--inverse-weights", type=Path, nargs="*", default=[])
    args = parser.parse_args()
    torch.set_num_threads(2)
    evs = bracket_evs(5, 1.5)
    print(f"Per-frame RAW error of the inverse ISP (stops), bias / mean absolute, {args.views} views of each HDR map "
          f"of the {args.split} split, {args.size}; {machine_line()}\n")  # fmt: skip
    print("| camera | inverse | ISO | sites | " + " | ".join(f"{ev:+g} EV" for ev in evs) + " |")
    print("|---|---|---:|---|" + "---:|" * len(evs))
    size = tuple(int(v) for v in args.size.split("x"))
    scenes = hdr_scene_views(args.split, args.views, size, np.random.default_rng(SEED))  # type: ignore[arg-type]
    isos = [float(v) for v in args.isos.split(",")]
    for camera in args.cameras.split(","):
        folders = [None, *(w for w in args.inverse_weights if other_inverse(get_camera(camera), w) is not None)]
        for weights, errors in zip(folders, frame_errors(camera, folders, scenes, isos), strict=True):
            for (iso, band), by_ev in errors.items():
                cells = [f"{np.mean([b for b, _ in by_ev[ev]]):+.2f} / {np.mean([m for _, m in by_ev[ev]]):.2f}"
                         if ev in by_ev else "" for ev in evs]  # fmt: skip
                print(f"| {camera} | {weights or 'shipped'} | {iso:g} | {band} | " + " | ".join(cells) + " |",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
