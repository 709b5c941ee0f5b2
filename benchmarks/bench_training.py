"""Training throughput (patches per second) for both configs at 128 and 448 crops, on this machine.

    python -m benchmarks.bench_training [--cases base-96 base-448] [--layouts NCHW channels-last] [--autocast bf16]
                                        [--compile]

"model step": forward + backward + AdamW on a ready batch; "with simulated data": the whole step
including rendering the batch's shots on the fly (``core_isp.training.data``). ``--autocast bf16`` runs the steps
under CPU bf16 autocast (the precision rule of ``docs/decisions.md`` 14), each after the fp32 step of the same case.
``--compile`` also times each case with the model under ``torch.compile`` (the compile is the warm-up step, its
time printed); a case that fails to compile is printed as a row with the error's first line.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch

from benchmarks.bench_gpu import synchronise
from core_isp.models.config import get_config
from core_isp.models.paramisp import ParamISP
from core_isp.training.data import Batch, SimulatedCameras, collate
from core_isp.training.trainer import stage_loss
from paramisp.machine import machine_line

#: (config, crop, batch): the paper's 448-pixel crops and the small crops of the CPU recipes.
CASES = {"small-128": ("small", 128, 8), "small-448": ("small", 448, 2), "base-96": ("base", 96, 16),
         "base-96-b64": ("base", 96, 64), "base-128": ("base", 128, 8), "base-448": ("base", 448, 2)}  # fmt: skip
STEPS = 3


def rates(
    config: str,
    crop: int,
    batch: int,
    direction: str,
    channels_last: bool,
    autocast: torch.dtype | None = None,
    device: torch.device | str = "cpu",
    steps: int = STEPS,
    compile_model: bool = False,
) -> tuple[float, float, float]:
    """Patches/s of the model step alone and of the whole step with the batch rendered on the fly (in this
    process, on the CPU), the model on ``device``; and the seconds the warm-up step took (with ``compile_model``,
    mostly the compile)."""
    device = torch.device(device)
    source = SimulatedCameras(["nikon-d7000"], "train", (crop, crop))
    model = ParamISP(get_config(config), direction).train().to(device)  # type: ignore[arg-type]
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4)
    data = collate(source, 0, range(batch)).to(device)

    run = torch.compile(model) if compile_model else model

    def step(b: Batch) -> None:
        opt.zero_grad()
        with torch.autocast(device.type, dtype=autocast) if autocast else nullcontext():
            loss = stage_loss({direction: run}, b, "pretrain")[0]
        loss.backward()
        opt.step()

    def timed(batches: Callable[[int], Batch]) -> float:
        synchronise(device)
        t0 = time.perf_counter()
        for i in range(steps):
            step(batches(i))
        synchronise(device)
        return steps * batch / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    step(data)  # warm-up
    warm_up_s = time.perf_counter() - t0
    model_rate = timed(lambda i: data)
    return model_rate, timed(lambda i: collate(source, 0, range(i * batch, (i + 1) * batch)).to(device)), warm_up_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=["small-128", "small-448", "base-128", "base-448"],
                        choices=tuple(CASES))  # fmt: skip
    parser.add_argument("--layouts", nargs="+", default=["NCHW"], choices=("NCHW", "channels-last"))
    parser.add_argument("--autocast", choices=("bf16",), help="also time each case under bf16 autocast")
    parser.add_argument("--compile", action="store_true", help="also time each case under torch.compile")
    args = parser.parse_args()
    print(f"Machine: {machine_line()}\n")
    print("| config | crop | batch | direction | layout | precision | model | model step (patches/s) | with simulated "
          "data (patches/s) | warm-up step (s) |\n|---|---|---|---|---|---|---|---:|---:|---:|")  # fmt: skip
    precisions = {"fp32": None} | ({"bf16 autocast": torch.bfloat16} if args.autocast else {})
    for name in args.cases:
        config, crop, batch = CASES[name]
        for direction in ("forward", "inverse"):
            for layout in args.layouts:
                for label, dtype in precisions.items():
                    for compiled in (False, True) if args.compile else (False,):
                        head = (f"| {config} | {crop} | {batch} | {direction} | {layout} | {label} | "
                                f"{'compiled' if compiled else 'eager'} |")  # fmt: skip
                        try:
                            cells = rates(config, crop, batch, direction, layout == "channels-last", dtype,
                                          compile_model=compiled)  # fmt: skip
                        except Exception as error:  # a failed compile is a result here; anything else a crash
                            if not compiled:
                                raise
                            first = (str(error).strip().splitlines() or [""])[0][:150]
                            print(f"{head} failed: {type(error).__name__}: {first} | | |", flush=True)
                            continue
                        print(head + "".join(f" {c:.2f} |" for c in cells), flush=True)


if __name__ == "__main__":
    main()
