"""A user's own camera end to end, through the command line only: ``camera add``, then ``--camera`` on new shots.

    python -m benchmarks.eval_user_cameras [--out runs/eval-user-cameras] [--budget-min M]

For the two cameras of :mod:`benchmarks.user_cameras` (the held-out ``canon-550d`` and the out-of-family
``outsider-gbrg``), each a 40-shot folder written as ``paramisp simulate`` writes one: the user's folder holds
shots 1-30 (``val`` scenes), DNG and camera JPEG only (no ground truth: a user has none); ``paramisp camera add``
makes the camera from it with the default budget, in a private ``PARAMISP_HOME``. Shots 31-40 (``test`` scenes,
unseen) are then converted with ``paramisp to-srgb --camera`` (DNG -> PNG, scored against the camera's JPEG) and
``paramisp to-raw --camera`` (JPEG -> DNG, scored against the noise-free RAW and the noisy one), with the camera's
fine-tuned weights and, for comparison, with the camera-agnostic weights (``-w``) on the same body. ``to-raw``
runs twice: with the shot's true white balance (``--wb R,G,B`` from its DNG, the paper's protocol, which gives
the networks the true metadata) and with the white balance estimated from the EXIF (what a user without the
RAW gets). The canonical pipeline with the shot's true metadata is the classic baseline. Metrics: the paper's
protocol (five 128-pixel crops, border 2); 95 % bootstrap intervals over the 10 test shots (one scene each).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
import torch

from benchmarks.user_cameras import ADAPT_SHOTS, CAMERAS, TEST_SHOTS, write_folder
from core_isp.cameras import NoiseModel, generic_weights
from core_isp.canonical import CanonicalParams, develop, undevelop
from core_isp.io.image_reader import read_image
from core_isp.io.raw_reader import read_raw
from core_isp.metrics import bootstrap_interval, paper_protocol_scores
from core_isp.simulation.capture_folder import stem_for
from paramisp.machine import machine_line

CROP = 128
BOOTSTRAP = 10000


def cli(*args: object, home: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "PARAMISP_HOME": str(home)}
    if "-o" in args:  # a single-file output goes into a folder that must exist
        Path(args[args.index("-o") + 1]).parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "paramisp", *map(str, args)], capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"paramisp {' '.join(map(str, args))} failed: {res.stderr[-2000:]}")
    return res, time.perf_counter() - t0


def user_folder(source: Path, target: Path) -> Path:
    """Shots 1-30 as a user has them: the RAW and the camera's JPEG, nothing else."""
    target.mkdir(parents=True, exist_ok=True)
    for index in range(1, ADAPT_SHOTS + 1):
        for suffix in (".DNG", ".JPG"):
            link = target / f"{stem_for(index)}{suffix}"
            if not link.exists():
                link.symlink_to((source / link.name).resolve())
    return target


def score_forward(png: Path, jpeg: Path) -> dict[str, float]:
    s = paper_protocol_scores(read_image(png).pixels, read_image(jpeg).pixels, crop_size=CROP)
    return {"psnr": s.psnr_db, "ssim": s.ssim}


def score_inverse(pred: torch.Tensor, folder: Path, stem: str) -> dict[str, float]:
    clean = torch.from_numpy(tifffile.imread(folder / f"{stem}.clean.tiff").astype(np.float32))[None, None]
    noisy = read_raw(folder / f"{stem}.DNG").tensor().clamp(0, 1)
    a = paper_protocol_scores(pred, clean, crop_size=CROP)
    b = paper_protocol_scores(pred, noisy, crop_size=CROP)
    return {"psnr": a.psnr_db, "ssim": a.ssim, "psnr_noisy": b.psnr_db}


def evaluate_camera(name: str, folders: Path, out: Path, budget_min: float | None) -> dict:
    folder = folders / name / "folder"
    write_folder(CAMERAS[name], folder)  # complete shots are kept: the folder is the one the adaptation study used
    home, work = out / "home", out / name
    user = user_folder(folder, work / "user-folder")
    camera = f"user-{name}"
    result: dict = {"folder": str(folder)}
    if not (home / "cameras" / camera).is_dir():
        args = ["camera", "add", user, "--name", camera, "--json"]
        if budget_min is not None:
            args += ["--budget-min", budget_min]
        res, wall = cli(*args, home=home)
        result["camera_add_s"] = wall
        (work / "camera_add.json").write_text(res.stdout)
    added = json.loads((work / "camera_add.json").read_text())
    result["report"] = added["report"]
    generic = generic_weights()
    rows: dict[str, list[dict]] = {k: [] for k in (
        "forward/fine-tuned", "forward/camera-agnostic", "forward/canonical",
        "inverse/fine-tuned", "inverse/camera-agnostic", "inverse/canonical",
        "inverse/fine-tuned, estimated WB", "inverse/camera-agnostic, estimated WB")}  # fmt: skip
    for index in range(ADAPT_SHOTS + 1, ADAPT_SHOTS + TEST_SHOTS + 1):
        stem = stem_for(index)
        dng, jpeg = folder / f"{stem}.DNG", folder / f"{stem}.JPG"
        raw = read_raw(dng)
        meta = raw.meta
        wb = ",".join(f"{g:.6f}" for g in meta.wb_gains)
        for label, extra in (("fine-tuned", []), ("camera-agnostic", ["-w", generic.forward])):
            png = work / "srgb" / label / f"{stem}.png"
            if not png.exists():
                cli("to-srgb", dng, "-o", png, "--camera", camera, *extra, home=home)
            rows[f"forward/{label}"].append(score_forward(png, jpeg))
        for label, extra in (("fine-tuned", []), ("camera-agnostic", ["-w", generic.inverse])):
            for wb_label, wb_args in (("", ["--wb", wb]), (", estimated WB", [])):
                out_dng = work / "raw" / (label + wb_label).replace(", ", "-").replace(" ", "-") / f"{stem}.dng"
                if not out_dng.exists():
                    cli("to-raw", jpeg, "-o", out_dng, "--camera", camera, *extra, *wb_args, home=home)
                pred = read_raw(out_dng).tensor().clamp(0, 1)
                rows[f"inverse/{label}{wb_label}"].append(score_inverse(pred, folder, stem))
        params = CanonicalParams.from_metadata([meta])
        srgb = read_image(jpeg).pixels
        with torch.no_grad():
            forward = develop(raw.tensor(), params).clamp(0, 1)
            inverse = undevelop(srgb, params).clamp(0, 1)
        s = paper_protocol_scores(forward, srgb, crop_size=CROP)
        rows["forward/canonical"].append({"psnr": s.psnr_db, "ssim": s.ssim})
        rows["inverse/canonical"].append(score_inverse(inverse, folder, stem))
    result["rows"] = rows
    return result


def noise_accuracy(name: str, report: dict) -> dict[int, float]:
    """Fitted over true noise std at mid-grey per ISO (the truth at the analogue ISO the sensor ran at is not in
    the files; bodies with highlight-tone priority record a stop more at high ISO)."""
    fitted, truth = NoiseModel(**report["noise_fit"]["model"]), CAMERAS[name].noise
    return {iso: math.sqrt((fitted.read(iso) + fitted.shot(iso) * 0.18) / (truth.read(iso) + truth.shot(iso) * 0.18))
            for iso in (100, 400, 1600)}  # fmt: skip


def markdown(results: dict[str, dict]) -> str:
    lines = [f"Machine: {machine_line()}.", ""]
    for name, r in results.items():
        rep = r["report"]
        ft = rep["finetune"]["directions"]
        lines += [
            f"**{name}** (user folder: {rep['raws']} shots, {rep['pairs']['kept']} pairs kept, "
            f"{len(rep['pairs']['rejected'])} rejected, {rep['pairs']['resampled']} resampled; "
            + "; ".join(f"{d}: {v['steps']} steps in {v['train_s'] / 60:.1f} min, held-back frames "
                        f"{v['start_psnr']:.2f} -> {v['final_psnr']:.2f} dB, kept {v['kept']}" for d, v in ft.items())
            + (f"; `camera add` wall time {r['camera_add_s'] / 60:.1f} min" if "camera_add_s" in r else "") + ")",
            "",
            "Noise model fitted from the user's RAWs, noise std at level 0.18 relative to the simulator's true model: "
            + ", ".join(f"ISO {iso}: {ratio:.2f}" for iso, ratio in noise_accuracy(name, rep).items()) + ".",
            "",
            "| direction / ISP | PSNR (dB) | SSIM | PSNR vs noisy RAW |",
            "|---|---|---|---|",
        ]  # fmt: skip
        for key, vals in r["rows"].items():
            p = np.array([v["psnr"] for v in vals])
            s = np.array([v["ssim"] for v in vals])
            noisy = f"{np.mean([v['psnr_noisy'] for v in vals]):.2f}" if "psnr_noisy" in vals[0] else "-"
            lines.append(f"| {key} | {p.mean():.2f} | {s.mean():.4f} | {noisy} |")
        for d in ("forward", "inverse"):
            gain = np.array([v["psnr"] for v in r["rows"][f"{d}/fine-tuned"]]) - np.array(
                [v["psnr"] for v in r["rows"][f"{d}/camera-agnostic"]])  # fmt: skip
            m, lo, hi = bootstrap_interval(gain, samples=BOOTSTRAP)
            lines.append(f"\n{d}: fine-tuned minus camera-agnostic {m:+.2f} dB [{lo:+.2f}, {hi:+.2f}] (95 % bootstrap)")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/eval-user-cameras"))
    parser.add_argument("--budget-min", type=float, default=None, help="camera add's budget (default: its own)")
    parser.add_argument("--cameras", default=",".join(CAMERAS))
    parser.add_argument("--folders", type=Path, default=Path("runs/user-cameras"), help="the 40-shot folders")
    args = parser.parse_args()
    results = {}
    for name in args.cameras.split(","):
        results[name] = evaluate_camera(name, args.folders, args.out, args.budget_min)
        (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(markdown(results))


if __name__ == "__main__":
    main()
