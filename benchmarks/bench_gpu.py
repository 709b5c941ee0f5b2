"""The shipped ISP on an accelerator: ms/MP, peak device memory and accuracy against fp32, per direction and size.

    python -m benchmarks.bench_gpu                                   # cuda, base, 1, 8.6 and 24 MP
    python -m benchmarks.bench_gpu --device cpu --config small --megapixels 0.05 --repeats 1 --no-training   # on CPU

The one prepared script for a lent GPU (issue 17): every variant and size in a single process, so one device
session measures them all. Variants: fp32 NCHW (the reference), fp32 channels-last, bf16 autocast channels-last,
and LocalNet in bf16 weights and activations, channels-last (``localnet_dtype``), each in one call over the whole
image (``tile=None``) and in the default tiles with the default halo (:class:`core_isp.isp.InferenceOptions`). The
input is real: test shots of the simulated cameras side by side, repeated to the size. Each row gives the best of
``--repeats`` timed runs after a warm-up (synchronised), the peak device memory of the call
(``torch.cuda.max_memory_allocated``; on CPU the process's peak RSS), and the largest and mean absolute difference
from the fp32 reference of the same layout. A variant that fails (out of memory, index limits) is reported with its
error, not skipped. Then the PSNR of each precision on 48 test shots, the cost bf16 may have (at most 0.1 dB is the
goal). Then, unless ``--no-training``, training throughput (patches/s) for :data:`TRAINING_CASES` in fp32 NCHW (the
trainer's default) and under bf16 autocast (``paramisp train --bf16``), NCHW and channels-last: the model step on a
ready batch, and the step with the batch rendered on the fly in this one process (the trainer's ``--workers``
render ahead instead)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from benchmarks.eval_isp import test_shots
from core_isp.inference import DEFAULT_HALO, DEFAULT_TILE, forward_isp, inverse_isp
from core_isp.isp import load_isp
from core_isp.metrics import paper_protocol_scores
from core_isp.models import DIRECTIONS, ParamISP, get_config
from core_isp.simulation.profiles import PROFILES
from paramisp.machine import machine_line, peak_rss_mib

#: label and the options of :func:`~core_isp.inference.forward_isp` / ``inverse_isp``; the first is the reference.
VARIANTS: tuple[tuple[str, dict[str, object]], ...] = (
    ("fp32, NCHW", dict(channels_last=False)),
    ("fp32, channels-last", dict(channels_last=True)),
    ("bf16 autocast, channels-last", dict(autocast_dtype=torch.bfloat16, channels_last=True)),
    ("bf16 LocalNet, channels-last", dict(localnet_dtype=torch.bfloat16, channels_last=True)),
)
RUN: dict[str, Callable[..., torch.Tensor]] = {"forward": forward_isp, "inverse": inverse_isp}
#: Training cases: config, crop, batch. The trainer's recipe (96 px, batch 16), the same at a batch a GPU holds
#: easily, and the paper's (448 px, batch 2).
TRAINING_CASES = (("base", 96, 16), ("base", 96, 64), ("base", 448, 2))
#: Training variants: label, bf16 autocast, channels-last; the first is the trainer's default.
TRAINING_VARIANTS = (("fp32, NCHW", False, False), ("bf16 autocast, NCHW", True, False),
                     ("bf16 autocast, channels-last", True, True))  # fmt: skip


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_gib(device: torch.device) -> float:
    """Peak memory since the last reset: the device's allocator on a GPU, the process's resident set on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return peak_rss_mib() / 1024


def real_input(shots: list, direction: str, height: int, width: int) -> torch.Tensor:
    """``(1, C, height, width)``: the shots' network inputs side by side, repeated to the size."""
    row = torch.cat([s.raw if direction == "forward" else s.srgb for s in shots], dim=-1)
    reps = (-(-height // row.shape[-2]), -(-width // row.shape[-1]))
    return row.repeat(1, 1, *reps)[..., :height, :width].contiguous()


def time_variants(model: ParamISP, direction: str, x: torch.Tensor, meta: list, device: torch.device,
                  repeats: int) -> list[str]:  # fmt: skip
    """Markdown rows for every variant and layout of one direction on one input."""
    rows = []
    mp = x.shape[-2] * x.shape[-1] / 1e6
    for tile, halo in ((None, None), (DEFAULT_TILE, DEFAULT_HALO)):
        reference = None
        for label, variant in VARIANTS:
            options = dict(tile=tile, halo=halo, device=device, **variant)
            layout = "one call" if tile is None else f"tile {tile}, halo {halo}"
            try:
                out = RUN[direction](model, x, meta, **options)  # warm-up, and the output compared
                best = float("inf")
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                for _ in range(repeats):
                    synchronise(device)
                    start = time.perf_counter()
                    RUN[direction](model, x, meta, **options)
                    synchronise(device)
                    best = min(best, time.perf_counter() - start)
            except (RuntimeError, torch.OutOfMemoryError) as e:  # reported, not skipped
                rows.append(f"| {direction} | {mp:.2f} | {layout} | {label} | failed: {str(e).splitlines()[0][:80]} "
                            "| | | |")  # fmt: skip
                print(rows[-1], flush=True)
                continue
            reference = out if reference is None else reference
            diff = (out - reference).abs()
            rows.append(f"| {direction} | {mp:.2f} | {layout} | {label} | {best * 1000 / mp:,.1f} | "
                        f"{peak_memory_gib(device):.2f} | {diff.max():.1e} | {diff.mean():.1e} |")  # fmt: skip
            print(rows[-1], flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
        model.to(memory_format=torch.contiguous_format)
    return rows


def mean_test_psnr(model: ParamISP, shots: list, device: torch.device, **variant: object) -> float:
    """Mean paper-protocol PSNR of one model and variant (options of :data:`VARIANTS`) over test shots, each in one
    window, against the camera's JPEG (forward) or the clean RAW (inverse)."""
    psnrs = []
    with torch.no_grad():
        for s in shots:
            x, target = (s.raw, s.srgb) if model.direction == "forward" else (s.srgb, s.clean)
            pred = RUN[model.direction](model, x, [s.meta], tile=None, device=device, **variant)
            psnrs.append(paper_protocol_scores(pred.float().clamp(0, 1), target, crop_size=128).psnr_db)
    return sum(psnrs) / len(psnrs)


def test_set_psnr(models: dict[str, ParamISP], device: torch.device, shots: list) -> list[str]:
    """Markdown rows: :func:`mean_test_psnr` of each precision."""
    rows = []
    for direction, model in models.items():
        for label, variant in VARIANTS:
            rows.append(f"| {direction} | {label} | {mean_test_psnr(model, shots, device, **variant):.3f} |")
            print(rows[-1], flush=True)
    return rows


def training_rates(device: torch.device, cases: tuple[tuple[str, int, int], ...] = TRAINING_CASES,
                   steps: int = 3) -> list[str]:  # fmt: skip
    """Markdown rows: patches/s of a training step per case and variant, forward and inverse, with a ready batch
    (the model step) and with the batch rendered on the fly in this process (``benchmarks.bench_training``)."""
    from benchmarks.bench_training import rates

    rows = []
    for config, crop, batch in cases:
        for direction in DIRECTIONS:
            for label, bf16, channels_last in TRAINING_VARIANTS:
                try:
                    model_rate, full_rate, _ = rates(config, crop, batch, direction, channels_last,
                                                  torch.bfloat16 if bf16 else None, device, steps)  # fmt: skip
                    cells = f"{model_rate:.1f} | {full_rate:.1f}"
                except (RuntimeError, torch.OutOfMemoryError) as e:  # reported, not skipped
                    cells = f"failed: {str(e).splitlines()[0][:80]} |"
                rows.append(f"| {config} | {crop} | {batch} | {direction} | {label} | {cells} |")
                print(rows[-1], flush=True)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--config", default="base", help="base: the shipped weights; small: untrained, for checks")
    parser.add_argument("--megapixels", default="1,8.6,24", help="comma-separated sizes (3:2 images)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shots-per-camera", type=int, default=8)
    parser.add_argument("--no-training", action="store_true", help="skip the training throughput rows")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{machine_line()}; device {name}\n")
    if args.config == "base":
        isp = load_isp()
        models = {"forward": isp.forward_model, "inverse": isp.inverse_model}
    else:
        models = {d: ParamISP(get_config(args.config), d).eval() for d in DIRECTIONS}  # type: ignore[arg-type]
    models = {d: m.to(device) for d, m in models.items()}
    shots = [s for p in PROFILES for s in test_shots(p, args.shots_per_camera)]
    print("| direction | MP | layout | variant | ms / MP | peak memory (GiB) | max abs diff | mean abs diff |\n"
          "|---|---:|---|---|---:|---:|---:|---:|")  # fmt: skip
    for megapixels in (float(m) for m in args.megapixels.split(",")):
        width = int((megapixels * 1e6 * 1.5) ** 0.5) // 4 * 4
        height = int(width / 1.5) // 4 * 4
        for direction, model in models.items():
            time_variants(model, direction, real_input(shots[:12], direction, height, width), [shots[0].meta], device,
                          args.repeats)  # fmt: skip
    print("\n| direction | variant | test-shot PSNR (dB) |\n|---|---|---:|")
    test_set_psnr(models, device, shots)
    if not args.no_training:
        print("\n| config | crop | batch | direction | variant | model step (patches/s) | with simulated data "
              "(patches/s) |\n|---|---:|---:|---|---|---:|---:|")  # fmt: skip
        training_rates(device)


if __name__ == "__main__":
    main()
