"""Large photos through ``paramisp to-raw`` and back through ``paramisp to-srgb``: peak memory and time.

    python -m benchmarks.bench_large_photo [MEGAPIXELS ...] [--precision fp32 bf16]        # default 60 MP, fp32

Each photo is a synthetic JPEG (5:3; 10000 x 6000 at 60 MP) carrying a real camera's EXIF
(tests/data/exif/Canon_40D.jpg); each command runs in its own process and reports its own peak resident
memory (``VmHWM``, see :mod:`benchmarks._memory` for why not ``ru_maxrss``). With several ``--precision`` values
each command runs at each, and the files it writes are compared with the first precision's.
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

from paramisp.cli.common import PRECISIONS
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


def main(sizes_mp: list[float], precisions: list[str]) -> None:
    print(f"Machine: {machine_line()}\n")
    print("| command | image | precision | peak RSS (GiB) | time (s) | s / MP | max / mean abs diff from "
          f"{precisions[0]} |\n|---|---|---|---:|---:|---:|---|")  # fmt: skip
    for megapixels in sizes_mp:
        one_size(megapixels, precisions)


def stored_values(path: Path) -> np.ndarray:
    """What a written file stores: a DNG's mosaic (DN) or a PNG's 8-bit codes, as int32."""
    if path.suffix == ".dng":
        import rawpy

        with rawpy.imread(str(path)) as raw:
            return raw.raw_image_visible.astype(np.int32)
    return np.asarray(Image.open(path), dtype=np.int32)


def one_size(megapixels: float, precisions: list[str]) -> None:
    """Both commands on one synthetic photo of about ``megapixels`` at each ``--precision``, one table row each.

    ``to-srgb`` always develops the first precision's DNG, so each command's files differ by that command's
    precision alone; later precisions are compared with the first, in DN (DNG) and 8-bit codes (PNG)."""
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "large.jpg"
        width, height = synthetic_photo(photo, megapixels)
        mp = width * height / 1e6
        dng = Path(tmp) / precisions[0] / "large.dng"
        for command, source, name in (("to-raw", photo, "large.dng"), ("to-srgb", dng, "large.png")):
            reference = None
            for precision in precisions:
                target = Path(tmp) / precision / name
                target.parent.mkdir(exist_ok=True)
                seconds, peak = run([command, str(source), "-o", str(target), "--camera", "nikon-d7000",
                                     "--precision", precision])  # fmt: skip
                values = stored_values(target)
                reference = values if reference is None else reference
                diff = np.abs(values - reference)
                cells = [f"paramisp {command}", f"{width} x {height} ({mp:.1f} MP)", precision, f"{peak:.2f}",
                         f"{seconds:.0f}", f"{seconds / mp:.2f}", f"{diff.max()} / {diff.mean():.3f}"]  # fmt: skip
                print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("megapixels", nargs="*", type=float, default=[60.0])
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=PRECISIONS,
                        help="each precision in turn; later ones are compared with the first")  # fmt: skip
    args = parser.parse_args()
    main(args.megapixels, args.precision)
