"""Large photos through ``paramisp to-raw`` and back through ``paramisp to-srgb``: peak memory and time.

    python -m benchmarks.bench_large_photo [--precision bf16] [MEGAPIXELS ...]        # default 60

Each photo is a synthetic JPEG (5:3; 10000 x 6000 at 60 MP) carrying a real camera's EXIF
(tests/data/exif/Canon_40D.jpg); each command runs in its own process and reports its own peak resident
memory (``VmHWM``, see :mod:`benchmarks._memory` for why not ``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from paramisp.machine import machine_line

ROOT = Path(__file__).resolve().parents[1]
#: The ``paramisp`` command line, printing its process's peak RSS on exit.
CHILD = (
    "import atexit, sys; from paramisp.machine import peak_rss_mib; "
    "atexit.register(lambda: print(f'peak-rss-gib {peak_rss_mib() / 1024}', file=sys.stderr)); "
    "sys.argv[0] = 'paramisp'; from paramisp.cli.main import main; main()"
)


def synthetic_photo(path: Path, megapixels: float) -> tuple[int, int]:
    """A smooth colourful gradient with fine texture, stored as a JPEG with a camera's EXIF."""
    width = round((megapixels * 1e6 * 5 / 3) ** 0.5 / 4) * 4
    height = round(megapixels * 1e6 / width / 4) * 4
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    texture = np.random.default_rng(0).random((height, width), dtype=np.float32) * 0.1
    rgb = np.stack([0.2 + 0.6 * x + texture, 0.3 + 0.5 * y * x + texture, 0.7 - 0.5 * y + texture], axis=-1)
    exif = Image.open(ROOT / "tests" / "data" / "exif" / "Canon_40D.jpg").getexif()
    Image.fromarray((rgb.clip(0, 1) * 255).astype(np.uint8)).save(path, quality=92, exif=exif.tobytes())
    return width, height


def run(args: list[str]) -> tuple[float, float]:
    """Wall time (s) and peak RSS (GiB) of one CLI command in a fresh process."""
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CHILD, *args], check=True, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    peak = next(float(line.split()[1]) for line in res.stderr.splitlines() if line.startswith("peak-rss-gib"))
    return seconds, peak


def main(sizes_mp: list[float], precision: str) -> None:
    print(f"Machine: {machine_line()}; --precision {precision}\n")
    print("| command | image | peak RSS (GiB) | time (s) | s / MP |\n|---|---|---:|---:|---:|")
    for megapixels in sizes_mp:
        one_size(megapixels, precision)


def one_size(megapixels: float, precision: str) -> None:
    """Both commands on one synthetic photo of about ``megapixels`` at ``--precision``, one table row each."""
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "large.jpg"
        width, height = synthetic_photo(photo, megapixels)
        mp = width * height / 1e6
        for args in (["to-raw", str(photo), "-o", tmp, "--camera", "nikon-d7000"],
                     ["to-srgb", str(Path(tmp) / "large.dng"), "-o", str(Path(tmp) / "large.png"),
                      "--camera", "nikon-d7000"]):  # fmt: skip
            seconds, peak = run([*args, "--precision", precision])
            print(f"| paramisp {args[0]} | {width} x {height} ({mp:.1f} MP) | {peak:.2f} | {seconds:.0f} | "
                  f"{seconds / mp:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("megapixels", nargs="*", type=float, default=[60.0])
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    args = parser.parse_args()
    main(args.megapixels, args.precision)
