"""Training throughput (patches per second) for both configs at 128 and 448 crops, on this machine.

    python -m benchmarks.bench_training

"model step": forward + backward + AdamW on a ready batch; "with simulated data": the whole step
including rendering the batch's shots on the fly (``core_isp.training.data``).
"""

from __future__ import annotations

import time

import torch

from core_isp.models.config import get_config
from core_isp.models.paramisp import ParamISP
from core_isp.training.data import SimulatedCameras, collate
from core_isp.training.trainer import stage_loss
from paramisp.machine import machine_line

CASES = (("small", 128, 8), ("small", 448, 2), ("base", 128, 8), ("base", 448, 2))
STEPS = 3


def main() -> None:
    print(f"Machine: {machine_line()}\n")
    print("| config | crop | batch | direction | model step (patches/s) | with simulated data (patches/s) |")
    print("|---|---|---|---|---|---|")
    for config, crop, batch in CASES:
        source = SimulatedCameras(["nikon-d7000"], "train", (crop, crop))
        for direction in ("forward", "inverse"):
            model = ParamISP(get_config(config), direction).train()  # type: ignore[arg-type]
            opt = torch.optim.AdamW(model.parameters(), lr=2e-4)
            data = collate(source, 0, range(batch))
            stage_loss({direction: model}, data, "pretrain")[0].backward()  # warm-up
            t0 = time.perf_counter()
            for _ in range(STEPS):
                opt.zero_grad()
                stage_loss({direction: model}, data, "pretrain")[0].backward()
                opt.step()
            model_rate = STEPS * batch / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            for step in range(STEPS):
                b = collate(source, 0, range(step * batch, (step + 1) * batch))
                opt.zero_grad()
                stage_loss({direction: model}, b, "pretrain")[0].backward()
                opt.step()
            full_rate = STEPS * batch / (time.perf_counter() - t0)
            print(f"| {config} | {crop} | {batch} | {direction} | {model_rate:.2f} | {full_rate:.2f} |", flush=True)


if __name__ == "__main__":
    main()
