"""Speed and memory of the ParamISP networks on this machine.

    python -m benchmarks.bench_isp speed            # ms per megapixel, both configs and directions
    python -m benchmarks.bench_isp rss --config small --direction forward --megapixels 24
    python -m benchmarks.bench_isp all              # both, each RSS run in a fresh process
    python -m benchmarks.bench_isp precision        # shipped weights: fp32 against bf16, speed and accuracy
    python -m benchmarks.bench_isp halo             # shipped weights: tile overlap against speed and exactness

Untrained weights (speed does not depend on them). Timings are the best of ``--repeats`` runs after a
warm-up, in eval mode, fp32, through the full-resolution API (:mod:`core_isp.inference`).

Peak memory is the process's ``VmHWM`` (peak resident set of its own address space), not
``getrusage().ru_maxrss``: on Linux a child started by fork/exec inherits in ``ru_maxrss`` the resident size
of the parent it was forked from, which here is the speed benchmark's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import torch

from core_isp.inference import DEFAULT_TILE, forward_isp, inverse_isp, round_up
from core_isp.metadata import CameraMetadata
from core_isp.models import CONFIGS, DIRECTIONS, ParamISP, get_config
from paramisp.machine import machine_line, peak_rss_mib

META = CameraMetadata(
    cfa_pattern="RGGB",
    wb_gains=(2.0, 1.0, 1.6),
    ccm_wb_cam_to_srgb=((1.6, -0.4, -0.2), (-0.3, 1.5, -0.2), (0.1, -0.6, 1.5)),
    exposure_time_s=0.01,
    iso=400.0,
    f_number=4.0,
    focal_length_mm=35.0,
)
ISP = {"forward": forward_isp, "inverse": inverse_isp}
#: The large-image runs of ``all``: config, direction, tile, channels-last.
RSS_RUNS = (
    ("small", "forward", DEFAULT_TILE, False),
    ("small", "inverse", DEFAULT_TILE, False),
    ("base", "forward", DEFAULT_TILE, False),
    ("base", "forward", 1024, True),
)


def image(direction: str, height: int, width: int) -> torch.Tensor:
    """A random network input (speed does not depend on content)."""
    return torch.rand(1, 1 if direction == "forward" else 3, height, width, generator=torch.Generator().manual_seed(0))


def ms_per_megapixel(
    config: str, direction: str, size: int, tile: int | None, channels_last: bool, repeats: int
) -> float:
    """Best-of-``repeats`` wall time of one direction on a ``size x size`` image, in ms per megapixel."""
    model = ParamISP(get_config(config), direction).eval()  # type: ignore[arg-type]
    x = image(direction, size, size)
    run = ISP[direction]
    run(model, x, [META], tile=tile, channels_last=channels_last)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run(model, x, [META], tile=tile, channels_last=channels_last)
        best = min(best, time.perf_counter() - start)
    return best * 1000 / (size * size / 1e6)


def speed(repeats: int) -> list[str]:
    """Markdown rows: config, direction, layout, ms/MP."""
    rows = []
    for config in CONFIGS:
        for direction in DIRECTIONS:
            for label, size, tile in (
                ("512 x 512, one pass", 512, None),
                (f"1024 x 1024, tile {DEFAULT_TILE}", 1024, DEFAULT_TILE),
            ):
                for channels_last in (False, True):
                    ms = ms_per_megapixel(config, direction, size, tile, channels_last, repeats)
                    layout = "channels-last" if channels_last else "NCHW"
                    rows.append(f"| {config} | {direction} | {label} | {layout} | {ms:,.0f} |")
                    print(rows[-1], flush=True)
    return rows


def precision(repeats: int, shots_per_camera: int = 8) -> list[str]:
    """Markdown rows: the shipped camera-agnostic weights in each of :data:`benchmarks.bench_gpu.VARIANTS`, per
    direction: ms/MP on a 1024 x 1024 input in one window and in tiles, the largest and mean absolute difference
    from the fp32 output, and the PSNR against the ground truth on test shots of every simulated camera (the
    evaluation's first ``shots_per_camera`` shots, one per test source), next to fp32's."""
    from benchmarks.bench_gpu import VARIANTS, mean_test_psnr, real_input
    from benchmarks.eval_isp import test_shots
    from core_isp.isp import load_isp
    from core_isp.simulation.profiles import PROFILES

    isp = load_isp()
    shots = [s for p in PROFILES for s in test_shots(p, shots_per_camera)]
    rows = []
    for direction in DIRECTIONS:
        model = isp.forward_model if direction == "forward" else isp.inverse_model
        run = ISP[direction]
        big = real_input(shots[:12], direction, 1024, 1024)
        reference: dict[str, torch.Tensor] = {}
        for label, variant in VARIANTS:
            cells = []
            for tile in (None, DEFAULT_TILE):
                options = dict(tile=tile, **variant)
                out = run(model, big, [shots[0].meta], **options)  # warm-up, and the output compared
                best = float("inf")
                for _ in range(repeats):
                    start = time.perf_counter()
                    run(model, big, [shots[0].meta], **options)
                    best = min(best, time.perf_counter() - start)
                diff = (out.float() - reference.setdefault(str(tile), out).float()).abs()
                cells += [f"{best * 1000 / (1024 * 1024 / 1e6):,.0f}", f"{diff.max():.4f}", f"{diff.mean():.5f}"]
            psnr = mean_test_psnr(model, shots, torch.device("cpu"), **variant)
            rows.append(f"| {direction} | {label} | " + " | ".join(cells) + f" | {psnr:.3f} |")
            print(rows[-1], flush=True)
            if variant["channels_last"]:  # the weights were converted in place: back to the reference layout
                model.to(memory_format=torch.contiguous_format)
    return rows


#: ``halo`` runs: tile, halo (None: the model's whole reach, the exact reference).
HALOS = ((None, None), (DEFAULT_TILE, None), (DEFAULT_TILE, 64), (DEFAULT_TILE, 32), (DEFAULT_TILE, 16), (256, 32))


def halo_study(repeats: int) -> list[str]:
    """Markdown rows: the shipped camera-agnostic weights (fp32, channels-last) on a 1024 x 1536 mosaic of 16 real
    test shots (nikon-d7000's and canon-550d's first 8) per tile and overlap of :data:`HALOS`: ms/MP, and the
    largest and mean absolute difference from the exact tiled output and the fraction of 8-bit codes it changes."""
    from benchmarks.eval_isp import test_shots
    from core_isp.isp import load_isp

    isp = load_isp()
    shots = [s for p in ("nikon-d7000", "canon-550d") for s in test_shots(p, 8)]
    rows = []
    for direction in DIRECTIONS:
        model = isp.forward_model if direction == "forward" else isp.inverse_model
        run = ISP[direction]
        xs = [s.raw if direction == "forward" else s.srgb for s in shots]
        x = torch.cat([torch.cat(xs[i : i + 4], dim=-1) for i in range(0, 16, 4)], dim=-2)
        exact = run(model, x, [shots[0].meta], tile=DEFAULT_TILE, halo=None)
        for tile, halo in HALOS:
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                out = run(model, x, [shots[0].meta], tile=tile, halo=halo)
                best = min(best, time.perf_counter() - start)
            diff = (out - exact).abs()
            codes = ((out.clamp(0, 1) * 255).round() != (exact.clamp(0, 1) * 255).round()).float().mean()
            label = "one window" if tile is None else f"{tile}"
            halo_label = f"{round_up(model.reach)} (reach)" if halo is None else f"{halo}"
            ms = best * 1000 / (x.shape[-2] * x.shape[-1] / 1e6)
            rows.append(f"| {direction} | {label} | {halo_label if tile else '—'} | {ms:,.0f} | {diff.max():.1e} | "
                        f"{diff.mean():.1e} | {codes:.5%} |")  # fmt: skip
            print(rows[-1], flush=True)
    return rows


def rss(config: str, direction: str, megapixels: float, tile: int, channels_last: bool) -> str:
    """Run one direction on a 3:2 image of ``megapixels`` in this process; a markdown row with peak RSS."""
    width = int((megapixels * 1e6 * 1.5) ** 0.5) // 4 * 4
    height = int(width / 1.5) // 4 * 4
    model = ParamISP(get_config(config), direction).eval()  # type: ignore[arg-type]
    x = image(direction, height, width)
    before = peak_rss_mib() / 1024
    start = time.perf_counter()
    out = ISP[direction](model, x, [META], tile=tile, channels_last=channels_last)
    seconds = time.perf_counter() - start
    peak = peak_rss_mib() / 1024
    assert torch.isfinite(out).all()
    mp = height * width / 1e6
    layout = "channels-last" if channels_last else "NCHW"
    return (
        f"| {config} | {direction} | {width} x {height} ({mp:.1f} MP) | {tile} | {layout} | {before:.2f} | "
        f"{peak:.2f} | {seconds:,.0f} | {seconds * 1000 / mp:,.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("speed", "rss", "all", "precision", "halo"))
    parser.add_argument("--config", default="small", choices=tuple(CONFIGS))
    parser.add_argument("--direction", default="forward", choices=DIRECTIONS)
    parser.add_argument("--megapixels", type=float, default=24.0)
    parser.add_argument("--tile", type=int, default=DEFAULT_TILE)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(machine_line(), flush=True)
    if args.what in ("speed", "all"):
        print("| config | direction | input | layout | ms / MP |\n|---|---|---|---|---:|", flush=True)
        speed(args.repeats)
    if args.what == "precision":
        print(f"| direction | variant | one window: ms / MP | max abs diff | mean abs diff | tile {DEFAULT_TILE}: "
              "ms / MP | max abs diff | mean abs diff | test-shot PSNR (dB) |\n"
              "|---|---|---:|---:|---:|---:|---:|---:|---:|", flush=True)  # fmt: skip
        precision(args.repeats)
    if args.what == "halo":
        print("| direction | tile | halo | ms / MP | max abs diff | mean abs diff | 8-bit codes changed |\n"
              "|---|---|---|---:|---:|---:|---:|", flush=True)  # fmt: skip
        halo_study(args.repeats)
    if args.what == "rss":
        print(rss(args.config, args.direction, args.megapixels, args.tile, args.channels_last), flush=True)
    if args.what == "all":
        print(
            "| config | direction | image | tile | layout | RSS before (GiB) | peak RSS (GiB) | s | ms / MP |\n"
            "|---|---|---|---:|---|---:|---:|---:|---:|",
            flush=True,
        )
        for config, direction, tile, channels_last in RSS_RUNS:
            cmd = [sys.executable, "-m", "benchmarks.bench_isp", "rss", "--config", config, "--direction", direction]
            cmd += ["--megapixels", str(args.megapixels), "--tile", str(tile)]
            subprocess.run(cmd + (["--channels-last"] if channels_last else []), check=True)


if __name__ == "__main__":
    main()
