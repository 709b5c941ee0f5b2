"""``paramisp synth-blur`` on real footage, through the command line, and the figure the docs show.

    python -m benchmarks.synth_real_inputs [--out runs/synth-real]

Inputs (the workplace's ``../shared/data``; not bundled): the 1280x720 cockatoo clip (20 fps; window 7, shard 0/20,
so 2 of its 40 samples) and the two GoPro_Large sharp frames (as photos: blurred by drawn hand-shake paths), whose
real blurry counterparts (averaged 240 fps frames) are shown beside them. Writes the datasets under ``--out`` and
``docs/figures/synth_blur_real.jpg``: per row, a 320x240 crop of the sharp target, the synthesised blurry image and
(GoPro) the real blurry capture.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from apps.dataset_synth.dataset import read_manifests

SHARED = Path("../shared/data")
FIGURE = Path("docs/figures/synth_blur_real.jpg")
CROP = (240, 320)


def synth(inputs: list[str], out: Path, *extra: str) -> tuple[list[dict], float]:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "paramisp", "synth-blur", *inputs, "-o", str(out), "--camera", "nikon-d7000", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"synth-blur failed: {done.stderr.strip().splitlines()[-1]}")
    # Every shard's manifest (a sharded run writes manifest-I-of-N.jsonl), in sample order.
    return list(read_manifests(out).values()), time.perf_counter() - t0


def crop(path: Path, top_left: tuple[int, int]) -> Image.Image:
    y, x = top_left
    return Image.open(path).convert("RGB").crop((x, y, x + CROP[1], y + CROP[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/synth-real"))
    args = parser.parse_args()
    clip = SHARED / "video" / "imageio_cockatoo.mp4"
    sharp = sorted((SHARED / "blur" / "gopro_pairs").glob("*_sharp1.png"))
    video_records, video_s = synth([str(clip)], args.out / "video", "--window", "7", "--shard", "0/20")
    photo_records, photo_s = synth([str(p) for p in sharp], args.out / "gopro")
    rows = []
    for r in video_records:
        base = args.out / "video"
        rows.append((f"cockatoo clip, frames {r['input']['frame_numbers']}", [crop(base / r["files"]["sharp"]["path"],
                     (200, 480)), crop(base / r["files"]["blurry"]["path"], (200, 480))]))  # fmt: skip
    for r, p in zip(photo_records, sharp, strict=True):
        base = args.out / "gopro"
        real = p.with_name(p.name.replace("_sharp1", "_blur1"))
        at = (240, 480)
        rows.append((f"{p.stem}: shake {r['shake_extent_px']:.0f} px", [crop(base / r["files"]["sharp"]["path"], at),
                     crop(base / r["files"]["blurry"]["path"], at), crop(real, at)]))  # fmt: skip
    header = 22
    canvas = Image.new("RGB", (3 * CROP[1] + 40, len(rows) * (CROP[0] + header) + header), "white")
    draw = ImageDraw.Draw(canvas)
    for k, title in enumerate(
        ("sharp target (synthesised)", "blurry (synthesised)", "real blurry (GoPro, 240 fps avg)")
    ):
        draw.text((10 + k * (CROP[1] + 10), 4), title, fill="black")
    for i, (label, tiles) in enumerate(rows):
        y = header + i * (CROP[0] + header)
        draw.text((10, y + 4), label, fill="black")
        for k, tile in enumerate(tiles):
            canvas.paste(tile, (10 + k * (CROP[1] + 10), y + header - 4))
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(FIGURE, quality=88)
    stats = {
        "video": {"samples": len(video_records), "wall_s": round(video_s, 1),
                  "clipped_share": [r["clipped_share"] for r in video_records],
                  "shots": [r["shot"] for r in video_records],
                  "interpolated_per_gap": [r["interpolated_per_gap"] for r in video_records]},
        "gopro": {"samples": len(photo_records), "wall_s": round(photo_s, 1),
                  "shake_extent_px": [r["shake_extent_px"] for r in photo_records]},
    }  # fmt: skip
    print(json.dumps(stats, indent=1))
    print(f"figure: {FIGURE} ({np.round(FIGURE.stat().st_size / 1024)} KiB)")


if __name__ == "__main__":
    main()
