"""Evaluate the learned ISPs against the classic pipelines on held-out simulated shots (and the real D30).

    python -m benchmarks.eval_isp [RUN_ROOT]          # RUN_ROOT: the runs of tools/train_default_weights.py

Test set: for every profile, ``N_SHOTS`` shots rendered from the *test* split's scene sources (disjoint from
training and validation by source), seeds fixed. Metrics: the paper protocol (five 128-pixel crops, border 2,
PSNR over the crop batch, Gaussian SSIM) for both directions, ST-LPIPS for the forward one; the inverse is
scored against the clean RAW (what can be recovered) and the noisy RAW (what the camera recorded). Paired
per-image differences come with a 95 % bootstrap interval. Prints Markdown.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks._machine import machine_line
from core_isp.canonical import CanonicalParams, develop, undevelop
from core_isp.canonical.upi import upi_process, upi_unprocess
from core_isp.checkpoint import load_checkpoint
from core_isp.inference import forward_isp, inverse_isp
from core_isp.metadata import OPTICAL_FIELDS, CameraMetadata
from core_isp.metrics import paper_protocol_scores, st_lpips
from core_isp.models.paramisp import ParamISP
from core_isp.simulation.capture_folder import shot_seed, simulate_shot
from core_isp.simulation.profiles import HELD_OUT_PROFILES, TUNING_PROFILES, get_profile
from core_isp.simulation.scenes import load_manifest

EVAL_SEED = 20261126
N_SHOTS = 24
SIZE = (256, 384)
CROP = 128
BOOTSTRAP = 10000


@dataclass
class Shot:
    raw: torch.Tensor
    clean: torch.Tensor
    srgb: torch.Tensor
    meta: CameraMetadata
    iso: float
    exposure_time_s: float


def test_shots(profile: str) -> list[Shot]:
    sources = [s for s in load_manifest() if s.split == "test"]
    cache: dict[str, np.ndarray] = {}
    shots = []
    for i in range(N_SHOTS):
        shot, _ = simulate_shot(get_profile(profile), sources, shot_seed(EVAL_SEED, i), SIZE, image_cache=cache)
        m = shot.metadata
        shots.append(Shot(shot.noisy_raw, shot.clean_raw, shot.camera_srgb, m, m.iso, m.exposure_time_s))  # type: ignore[arg-type]
    return shots


def strip_exif(meta: CameraMetadata) -> CameraMetadata:
    return meta.replace(**{f: None for f in OPTICAL_FIELDS})


def load(path: Path, direction: str) -> ParamISP:
    return load_checkpoint(path, direction=direction)[0]  # type: ignore[arg-type]


Forward = Callable[[Shot], torch.Tensor]


def learned_forward(model: ParamISP, strip: bool = False) -> Forward:
    return lambda s: forward_isp(model, s.raw, [strip_exif(s.meta) if strip else s.meta], tile=None).clamp(0, 1)


def learned_inverse(model: ParamISP, strip: bool = False) -> Forward:
    return lambda s: inverse_isp(model, s.srgb, [strip_exif(s.meta) if strip else s.meta], tile=None).clamp(0, 1)


def params(s: Shot) -> CanonicalParams:
    return CanonicalParams.from_metadata([s.meta])


def score(shots: list[Shot], forward: Forward | None, inverse: Forward | None) -> dict[str, np.ndarray]:
    out: dict[str, list[float]] = defaultdict(list)
    with torch.no_grad():
        for s in shots:
            if forward is not None:
                pred = forward(s)
                sc = paper_protocol_scores(pred, s.srgb, crop_size=CROP)
                out["fwd_psnr"].append(sc.psnr_db)
                out["fwd_ssim"].append(sc.ssim)
                out["fwd_stlpips"].append(float(st_lpips(pred, s.srgb)))
            if inverse is not None:
                pred = inverse(s)
                clean = paper_protocol_scores(pred, s.clean, crop_size=CROP)
                noisy = paper_protocol_scores(pred, s.raw.clamp(0, 1), crop_size=CROP)
                out["inv_psnr"].append(clean.psnr_db)
                out["inv_ssim"].append(clean.ssim)
                out["inv_psnr_noisy"].append(noisy.psnr_db)
                out["inv_ssim_noisy"].append(noisy.ssim)
    return {k: np.asarray(v) for k, v in out.items()}


def bootstrap_ci(diff: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    means = rng.choice(diff, size=(BOOTSTRAP, diff.size), replace=True).mean(axis=1)
    return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def fmt(x: float, digits: int = 2) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def main(root: Path) -> None:
    t0 = time.time()
    print(f"Machine: {machine_line()}\n")
    variants = {
        "no ParamNet": "none",
        "ParamNet colour terms only": "colour",
        "ParamISP, no optics dropout": "nodropout",
        "ParamISP (pre-trained, camera-agnostic)": "paramisp",
    }
    models = {
        name: {d: load(root / "pretrain" / v / d / f"{d}.best.safetensors", d) for d in ("forward", "inverse")}
        for name, v in variants.items()
    }
    budget = json.loads(load_checkpoint(root / "pretrain/paramisp/forward/forward.best.safetensors",
                                        direction="forward")[1].training)  # fmt: skip
    print(
        f"Learned variants: `small` config, {budget['steps']} steps x batch {budget['batch_size']} of "
        f"{budget['crop']}x{budget['crop']} crops, seed {budget['seed']}, data {budget['data']}; "
        "identical seeds, data and budget for every variant.\n"
    )

    results: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    shots_by_profile = {p: test_shots(p) for p in (*TUNING_PROFILES, *HELD_OUT_PROFILES)}
    for profile, shots in shots_by_profile.items():
        res = {
            "canonical": score(shots, lambda s: develop(s.raw, params(s)), lambda s: undevelop(s.srgb, params(s))),
            "UPI-style fixed (Brooks et al.)": score(
                shots, lambda s: upi_process(s.raw, params(s)), lambda s: upi_unprocess(s.srgb, params(s))
            ),
        }
        for name, pair in models.items():
            res[name] = score(shots, learned_forward(pair["forward"]), learned_inverse(pair["inverse"]))
        finetuned = root / "finetune" / profile
        if finetuned.exists():
            res["ParamISP (fine-tuned on this camera)"] = score(
                shots,
                learned_forward(load(finetuned / "forward/forward.best.safetensors", "forward")),
                learned_inverse(load(finetuned / "inverse/inverse.best.safetensors", "inverse")),
            )
        for strip_name, key in (("ParamISP, EXIF stripped", "ParamISP (pre-trained, camera-agnostic)"),
                                ("ParamISP no dropout, EXIF stripped", "ParamISP, no optics dropout")):  # fmt: skip
            pair = models[key]
            res[strip_name] = score(
                shots, learned_forward(pair["forward"], True), learned_inverse(pair["inverse"], True)
            )
        results[profile] = res
        print(f"<!-- {profile} done at {time.time() - t0:.0f} s -->", flush=True)

    report(results, shots_by_profile)
    d30(root)
    print(f"\nEvaluation took {time.time() - t0:.0f} s on this machine.")


METHOD_ORDER = [
    "canonical",
    "UPI-style fixed (Brooks et al.)",
    "no ParamNet",
    "ParamNet colour terms only",
    "ParamISP, no optics dropout",
    "ParamISP (pre-trained, camera-agnostic)",
    "ParamISP (fine-tuned on this camera)",
]


def report(results: dict, shots_by_profile: dict) -> None:
    tuning = list(TUNING_PROFILES)
    tables = (
        ("Forward (RAW -> sRGB)", ("fwd_psnr", "fwd_ssim", "fwd_stlpips")),
        ("Inverse (sRGB -> RAW), clean-RAW target", ("inv_psnr", "inv_ssim")),
        ("Inverse (sRGB -> RAW), noisy-RAW target", ("inv_psnr_noisy", "inv_ssim_noisy")),
    )
    for direction, metrics in tables:
        print(f"\n### {direction}: PSNR (dB) per tuning camera, test scenes\n")
        print(
            "| method | "
            + " | ".join(tuning)
            + " | mean PSNR | mean SSIM |"
            + (" ST-LPIPS |" if len(metrics) > 2 else "")
        )
        print("|---" * (len(tuning) + 3 + (len(metrics) > 2)) + "|")
        for method in METHOD_ORDER:
            if not all(method in results[p] for p in tuning):
                continue
            cells = [fmt(results[p][method][metrics[0]].mean()) for p in tuning]
            mean_psnr = np.mean([results[p][method][metrics[0]].mean() for p in tuning])
            mean_ssim = np.mean([results[p][method][metrics[1]].mean() for p in tuning])
            extra = (
                f" {fmt(np.mean([results[p][method][metrics[2]].mean() for p in tuning]), 4)} |"
                if len(metrics) > 2
                else ""
            )
            print(f"| {method} | " + " | ".join(cells) + f" | {fmt(mean_psnr)} | {fmt(mean_ssim, 4)} |" + extra)

    print("\n### Paired per-image differences (tuning cameras' test shots; mean and 95 % bootstrap interval, dB)\n")
    print("| comparison | forward PSNR | inverse PSNR (clean) |")
    print("|---|---|---|")
    ours = "ParamISP (pre-trained, camera-agnostic)"
    for other in ("canonical", "UPI-style fixed (Brooks et al.)", "ParamNet colour terms only", "no ParamNet"):
        cells = []
        for m in ("fwd_psnr", "inv_psnr"):
            diff = np.concatenate([results[p][ours][m] - results[p][other][m] for p in tuning])
            mean, lo, hi = bootstrap_ci(diff)
            cells.append(f"{mean:+.2f} [{lo:+.2f}, {hi:+.2f}]")
        print(f"| {ours} − {other} | " + " | ".join(cells) + " |")

    print("\n### By ISO and exposure time (tuning cameras, PSNR dB: forward / inverse)\n")
    bins = {
        "ISO <= 200": lambda s: s.iso <= 200,
        "ISO 250-800": lambda s: 200 < s.iso <= 800,
        "ISO > 800": lambda s: s.iso > 800,
        "t >= 1/30 s": lambda s: s.exposure_time_s >= 1 / 30 - 1e-9,
        "1/250 <= t < 1/30": lambda s: 1 / 250 - 1e-9 <= s.exposure_time_s < 1 / 30 - 1e-9,
        "t < 1/250 s": lambda s: s.exposure_time_s < 1 / 250 - 1e-9,
    }
    shown = ["canonical", "ParamNet colour terms only", ours]
    print("| bin | shots | " + " | ".join(shown) + " | ParamISP − colour only |")
    print("|---" * (len(shown) + 3) + "|")
    for name, pred in bins.items():
        sel = {p: np.array([pred(s) for s in shots_by_profile[p]]) for p in tuning}
        n = int(sum(v.sum() for v in sel.values()))
        if n == 0:
            continue
        cells = []
        for method in shown:
            f = np.concatenate([results[p][method]["fwd_psnr"][sel[p]] for p in tuning]).mean()
            i = np.concatenate([results[p][method]["inv_psnr"][sel[p]] for p in tuning]).mean()
            cells.append(f"{f:.2f} / {i:.2f}")
        df = np.concatenate(
            [
                (results[p][ours]["fwd_psnr"] - results[p]["ParamNet colour terms only"]["fwd_psnr"])[sel[p]]
                for p in tuning
            ]
        ).mean()
        di = np.concatenate(
            [
                (results[p][ours]["inv_psnr"] - results[p]["ParamNet colour terms only"]["inv_psnr"])[sel[p]]
                for p in tuning
            ]
        ).mean()
        print(f"| {name} | {n} | " + " | ".join(cells) + f" | {df:+.2f} / {di:+.2f} |")

    print("\n### Held-out camera (never used in training or tuning) and EXIF-stripped shots")
    print("\nPSNR (dB), forward / inverse.\n")
    cols = [*HELD_OUT_PROFILES, "tuning cameras (mean)"]
    print("| method | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    rows = ["canonical", "UPI-style fixed (Brooks et al.)", "ParamNet colour terms only", "ParamISP, no optics dropout",
            ours, "ParamISP no dropout, EXIF stripped", "ParamISP, EXIF stripped"]  # fmt: skip
    for method in rows:
        cells = []
        for c in HELD_OUT_PROFILES:
            r = results[c][method]
            cells.append(f"{r['fwd_psnr'].mean():.2f} / {r['inv_psnr'].mean():.2f}")
        f = np.mean([results[p][method]["fwd_psnr"].mean() for p in tuning])
        i = np.mean([results[p][method]["inv_psnr"].mean() for p in tuning])
        cells.append(f"{f:.2f} / {i:.2f}")
        print(f"| {method} | " + " | ".join(cells) + " |")


def d30(root: Path) -> None:
    """The real camera: fine-tuned on the left part of the D30 pair, scored on the right part (same scene)."""
    cache = root / "d30" / "cache"
    index = json.loads((cache / "index.json").read_text())
    part = next(p for p in index["pairs"] if p["split"] == "val")
    base = cache / "pairs" / part["name"]
    raw = torch.from_numpy(np.load(f"{base}.raw.npy"))[None, None]
    srgb = torch.from_numpy(np.load(f"{base}.srgb.npy").astype(np.float32) / 255).permute(2, 0, 1)[None]
    meta = CameraMetadata.from_dict(json.loads(Path(f"{base}.json").read_text())["metadata"])
    p = CanonicalParams.from_metadata([meta])
    fwd = load(root / "d30/forward/forward.best.safetensors", "forward")
    inv = load(root / "d30/inverse/inverse.best.safetensors", "inverse")
    gen_f = load(root / "pretrain/paramisp/forward/forward.best.safetensors", "forward")
    gen_i = load(root / "pretrain/paramisp/inverse/inverse.best.safetensors", "inverse")
    crop = min(512, *raw.shape[-2:])
    rows = {
        "canonical": (develop(raw, p), undevelop(srgb, p)),
        "ParamISP pre-trained on simulated cameras only": (
            forward_isp(gen_f, raw, [meta]),
            inverse_isp(gen_i, srgb, [meta]),
        ),
        "ParamISP fine-tuned on the left part": (forward_isp(fwd, raw, [meta]), inverse_isp(inv, srgb, [meta])),
    }
    split = index["same_scene_split"]
    print("\n### Real camera, same-scene result: Canon EOS D30 RAW + its camera JPEG\n")
    print(
        f"Pairs at the JPEG's resolution (960x1440, downscaled); trained on columns {split['train_columns']}, "
        f"scored on columns {split['val_columns']} ({part['size_hw'][0]}x{part['size_hw'][1]} px), guard band "
        f"{split['guard_px']} px. This is a same-scene result, not a generalisation claim.\n"
    )
    print("| method | forward PSNR / SSIM / ST-LPIPS | inverse PSNR / SSIM |")
    print("|---|---|---|")
    with torch.no_grad():
        for name, (f, i) in rows.items():
            sf = paper_protocol_scores(f.clamp(0, 1), srgb, crop_size=crop)
            si = paper_protocol_scores(i.clamp(0, 1), raw.clamp(0, 1), crop_size=crop)
            lp = float(st_lpips(f.clamp(0, 1), srgb))
            print(f"| {name} | {sf.psnr_db:.2f} / {sf.ssim:.4f} / {lp:.4f} | {si.psnr_db:.2f} / {si.ssim:.4f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "runs" / "defaults")
