"""The prepared GPU benchmark runs the same code on CPU: every variant gives a row with numbers, the reference
differs from itself by nothing, and the other variants stay close to it; every training variant gives a rate."""

from __future__ import annotations

import torch

from benchmarks import bench_gpu, eval_isp
from core_isp.models import DIRECTIONS, ParamISP, get_config


def test_every_variant_gives_a_row_close_to_the_fp32_reference():
    shots = eval_isp.test_shots("nikon-d7000", 1)
    cpu = torch.device("cpu")
    for direction in DIRECTIONS:
        model = ParamISP(get_config("small"), direction).eval()  # type: ignore[arg-type]
        x = shots[0].raw if direction == "forward" else shots[0].srgb
        rows = bench_gpu.time_variants(model, direction, x, [shots[0].meta], cpu, repeats=1)
        assert len(rows) == 2 * len(bench_gpu.VARIANTS) and not any("failed" in r for r in rows)
        cells = [r.strip("|").split("|") for r in rows]
        assert all(float(c[-2]) == 0.0 for c in (cells[0], cells[len(bench_gpu.VARIANTS)]))  # the references
        assert all(float(c[-2]) < 0.05 for c in cells)  # bf16 included
        psnr = [float(r.split("|")[-2]) for r in bench_gpu.test_set_psnr({direction: model}, cpu, shots)]
        assert max(psnr) - min(psnr) < 0.1  # the bf16 budget of issue 17


def test_training_rows_give_positive_rates_for_every_variant():
    rows = bench_gpu.training_rates(torch.device("cpu"), cases=(("small", 32, 2),), steps=1)
    assert len(rows) == len(DIRECTIONS) * len(bench_gpu.TRAINING_VARIANTS)
    assert all(float(cell) > 0 for r in rows for cell in r.strip("|").split("|")[-2:])
