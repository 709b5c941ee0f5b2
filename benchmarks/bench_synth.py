"""Throughput and memory of ``synth-blur`` on a 1280x720 clip: in-process (fp32 and ``--precision bf16``), 1 and 2
worker processes, and Ray.

    python -m benchmarks.bench_synth [--clip PATH] [--samples 3] [--window 7] [--out runs/bench-synth]

The clip is ``../shared/data/video/imageio_cockatoo.mp4`` (1280x720, 20 fps) cut to ``samples * window`` frames, or,
where that file is absent, a 1280x720 clip made from a bundled scene panned by code. Each configuration runs the same
job (nikon-d7000, its own weights, PNG outputs) into a fresh folder, in a fresh process, so peak memory is its own:
the main process's peak RSS and the largest of its descendants' (workers, Ray's processes), each its own
``VmHWM`` (:mod:`benchmarks._memory`). Ray runs a local instance with the same worker count; its
manifest is compared with the local pool's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

from paramisp.machine import machine_line

SHARED_CLIP = Path("../shared/data/video/imageio_cockatoo.mp4")
#: name, worker processes, backend, ``--precision`` of the ISPs.
CONFIGS = (
    ("in-process", 0, "local", "fp32"),
    ("in-process bf16", 0, "local", "bf16"),
    ("1 worker", 1, "local", "fp32"),
    ("2 workers", 2, "local", "fp32"),
    ("Ray 2 workers", 2, "ray", "fp32"),
)


def cut_clip(source: Path | None, target: Path, frames: int) -> str:
    """The first ``frames`` frames of ``source`` (or a panned synthetic scene) as a lossless-enough H.264 clip."""
    with av.open(str(target), "w") as out:
        stream = out.add_stream("libx264", rate=20, options={"crf": "12"})
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        if source is not None and source.is_file():
            with av.open(str(source)) as container:
                for k, frame in enumerate(container.decode(video=0)):
                    if k == frames:
                        break
                    out.mux(stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")))
            what = f"{source.name}, first {frames} frames"
        else:
            from core_isp.simulation.scenes import dead_leaves

            leaves = np.clip(dead_leaves(720, 1280 + 4 * frames, 3), 0, 1) ** (1 / 2.2)
            for k in range(frames):
                image = (leaves[:, :, 4 * k : 4 * k + 1280].transpose(1, 2, 0) * 255).astype(np.uint8)
                out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")))
            what = f"dead leaves panned 4 px/frame, {frames} frames"
        out.mux(stream.encode())
    return what


def run_config(clip: Path, out: Path, window: int, workers: int, backend: str, precision: str) -> dict:
    """One job in a fresh process; returns its report with peak memory."""
    code = (
        "import json, sys, torch\n"
        "from pathlib import Path\n"
        "from apps.dataset_synth.dataset import JobSpec, run_job\n"
        "from benchmarks._memory import DescendantPeaks\nfrom paramisp.machine import peak_rss_mib\n"
        "from paramisp.cli.common import inference_options\n"
        f"spec = JobSpec(({str(clip)!r},), 'nikon-d7000', window={window}, seed=0)\n"
        f"options = inference_options(512, 'cpu', {precision!r})\n"
        "with DescendantPeaks() as children:\n"
        f"    r = run_job(spec, Path({str(out)!r}), options, workers={workers}, backend={backend!r}, progress=False)\n"
        "if r.made == 0: sys.exit('nothing made')\n"
        "print(json.dumps({**r.to_dict(), 'main_rss_mib': peak_rss_mib(), 'children_rss_mib': children.largest_mib}))\n"
    )
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    if done.returncode != 0:
        raise SystemExit(f"{workers} workers/{backend} failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {**report, "process_s": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, default=SHARED_CLIP)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--window", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-synth"))
    parser.add_argument("--configs", default=",".join(c[0] for c in CONFIGS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    clip = args.out / "clip.mp4"
    what = cut_clip(args.clip, clip, args.samples * args.window)
    wanted = args.configs.split(",")
    rows = {}
    for name, workers, backend, precision in CONFIGS:
        if name not in wanted:
            continue
        target = args.out / name.replace(" ", "-").replace(",", "")
        subprocess.run(["rm", "-rf", str(target)], check=True)
        rows[name] = run_config(clip, target, args.window, workers, backend, precision)
        rows[name]["manifest_text"] = (target / "manifest.jsonl").read_text()
        print(name, {k: v for k, v in rows[name].items() if k != "manifest_text"}, flush=True)
    cores = os.cpu_count() or 1
    frames = args.samples * args.window
    print(f"\nMachine: {machine_line()}\n\nClip: {what} (1280x720), window {args.window}, {args.samples} samples.\n")
    print(
        "| configuration | samples/s | frames/s | frames/s per core | wall s | peak RSS main / largest worker (MiB) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        fps = frames / r["wall_s"]
        print(f"| {name} | {r['samples_per_s']:.4f} | {fps:.3f} | {fps / cores:.3f} | {r['wall_s']:.0f} | "
              f"{r['main_rss_mib']:.0f} / {r['children_rss_mib']:.0f} |")  # fmt: skip
    if "2 workers" in rows and "Ray 2 workers" in rows:
        same = rows["2 workers"]["manifest_text"] == rows["Ray 2 workers"]["manifest_text"]
        print(f"\nRay's manifest {'is identical to' if same else 'DIFFERS from'} the local pool's.")


if __name__ == "__main__":
    main()
