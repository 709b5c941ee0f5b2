"""Evaluate the learned ISPs against the classic pipelines on held-out simulated shots (and the real D30).

    python -m benchmarks.eval_isp [--ablation-runs runs/defaults] [--shipped-runs runs/defaults-gpu] [--shots 32]
    python -m benchmarks.eval_isp --shipped-only [--shots 32] [--save runs/eval-isp/scores.json]
    python -m benchmarks.eval_isp --ablation-only --ablation-runs runs/ablation-quick --shots 16

Two studies, both from the runs of ``tools/train_default_weights.py``:

* the shipped weights (``core_isp/weights``, whatever the registry holds) against the canonical pipeline (plain,
  and brightness-matched: each image times the global gain that best fits its target, an oracle) and the
  UPI-style fixed pipeline, on every simulated camera, and on the real D30 (same-scene split);
* the ParamNet ablation of the CPU recipe: no ParamNet, its colour terms only, ParamISP with and without
  optics dropout, all with identical seeds, data and step budget; EXIF-stripped shots.

``--shipped-only`` runs the first study on the simulated cameras alone: it needs no run folder (no training
budgets, no ablation, no D30 fine-tune). ``--ablation-only`` runs the second one alone, for example on the runs
of the quick recipe (``tools/train_default_weights.py --recipe quick``), which reproduces it on this CPU in under
30 minutes, training and scoring included.

Test set: for every profile, ``N_SHOTS`` shots rendered from the *test* split's scene sources (disjoint from
training and validation by source), as many from each source, seeds fixed. Metrics: the paper protocol (five
128-pixel crops, border 2, PSNR over the crop batch, Gaussian SSIM) for both directions, ST-LPIPS for the
forward one; the inverse is scored against the clean RAW (what can be recovered) and the noisy RAW (what the
camera recorded). Paired per-image differences come with a 95 % bootstrap interval over test *scenes*: shot
``k`` of every camera renders the same scene ``k`` (see :func:`test_shots`), so a resample draws whole scenes,
with all their cameras' shots.
Prints Markdown.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core_isp.canonical import CanonicalParams, develop, undevelop
from core_isp.canonical.upi import upi_process, upi_unprocess
from core_isp.checkpoint import load_checkpoint
from core_isp.inference import forward_isp, inverse_isp
from core_isp.isp import LearnedISP, load_isp
from core_isp.metadata import OPTICAL_FIELDS, CameraMetadata
from core_isp.metrics import bootstrap_interval, brightness_matched, paper_protocol_scores, st_lpips
from core_isp.models.paramisp import ParamISP
from core_isp.simulation.capture_folder import shot_seed, simulate_shot
from core_isp.simulation.profiles import HELD_OUT_PROFILES, TUNING_PROFILES, get_profile
from core_isp.simulation.scenes import load_manifest
from paramisp.machine import machine_line

EVAL_SEED = 20261126
N_SHOTS = 32
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
    scene: int  # the test scene's index: the same scene for shot k of every camera
    source: str  # the scene source it was cut from


def test_shots(profile: str, n_shots: int = N_SHOTS, hand_set: bool = False) -> list[Shot]:
    """The profile's ``n_shots`` test shots (``hand_set``: the same scenes, the settings drawn as set by hand).

    The test set is stratified by source: shot ``i`` is cut from test source ``i mod S`` (manifest order), so every
    source, dead leaves included, gets the same share of shots. Shot ``i`` is seeded by ``(EVAL_SEED, i)`` alone,
    and :func:`simulate_shot` draws the luminance and the crop from that seed before anything depends on the
    camera: every camera's shot ``i`` renders the same scene ``i``, which is why the intervals resample scenes,
    not images.
    """
    sources = [s for s in load_manifest() if s.split == "test"]
    cache: dict[str, np.ndarray] = {}
    shots = []
    for i in range(n_shots):
        stratum = [sources[i % len(sources)]]
        shot, source = simulate_shot(get_profile(profile), stratum, shot_seed(EVAL_SEED, i), SIZE, image_cache=cache,
                                     hand_set=hand_set)  # fmt: skip
        m = shot.metadata
        shots.append(Shot(shot.noisy_raw, shot.clean_raw, shot.camera_srgb, m, m.iso, m.exposure_time_s, i,  # type: ignore[arg-type]
                          source.source_id))  # fmt: skip
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


Fit = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def as_is(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """No fit: the prediction is scored as it comes (clipped to [0, 1] by the protocol)."""
    return pred


def matched(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The clipped prediction times its best global gain for ``target``: clipping first, so the oracle may fix the
    exposure but cannot bring back highlights the pipeline clipped."""
    return brightness_matched(pred.clamp(0, 1), target)


def score_shots(
    shots: list[Shot], forward: Forward | None, inverse: Forward | None, fit: Fit = as_is, perceptual: bool = True
) -> dict[str, np.ndarray]:
    """Per-image scores; ``fit`` adjusts each prediction to the target it is scored against (the inverse is fitted
    once to the clean RAW and once to the noisy RAW); ``perceptual=False`` skips ST-LPIPS, a third of the cost."""
    out: dict[str, list[float]] = defaultdict(list)
    with torch.no_grad():
        for s in shots:
            if forward is not None:
                pred = fit(forward(s), s.srgb)
                sc = paper_protocol_scores(pred, s.srgb, crop_size=CROP)
                out["fwd_psnr"].append(sc.psnr_db)
                out["fwd_ssim"].append(sc.ssim)
                if perceptual:
                    out["fwd_stlpips"].append(float(st_lpips(pred, s.srgb)))
            if inverse is not None:
                raw = inverse(s)
                clean = paper_protocol_scores(fit(raw, s.clean), s.clean, crop_size=CROP)
                noisy = paper_protocol_scores(fit(raw, s.raw.clamp(0, 1)), s.raw.clamp(0, 1), crop_size=CROP)
                out["inv_psnr"].append(clean.psnr_db)
                out["inv_ssim"].append(clean.ssim)
                out["inv_psnr_noisy"].append(noisy.psnr_db)
                out["inv_ssim_noisy"].append(noisy.ssim)
    return {k: np.asarray(v) for k, v in out.items()}


def fmt(x: float, digits: int = 2) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


SHIPPED_GENERIC = "shipped, camera-agnostic"
SHIPPED_TUNED = "shipped, this camera's weights"
CANONICAL = "canonical"
MATCHED = "canonical, brightness-matched (oracle gain)"
UPI = "UPI-style fixed (Brooks et al.)"
ABLATION = {  # method name -> run folder of the CPU recipe's pre-training variants
    "no ParamNet": "none",
    "ParamNet colour terms only": "colour",
    "ParamISP, no optics dropout": "nodropout",
    "ParamISP": "paramisp",
}
STRIPPED = {"ParamISP, EXIF stripped": "ParamISP", "ParamISP no dropout, EXIF stripped": "ParamISP, no optics dropout"}
Results = dict[str, dict[str, dict[str, np.ndarray]]]
Scenes = dict[str, np.ndarray]  # profile -> the scene index of each of its test shots
PAIRED = "Paired per-image differences (tuning cameras' test shots), dB, mean [95 % bootstrap over scenes]"


def training_budget(run: Path, direction: str) -> tuple[dict, float]:
    """A run's settings (from its best checkpoint) and its training wall time in seconds (from its log)."""
    _, info = load_checkpoint(run / direction / f"{direction}.best.safetensors", direction=direction)  # type: ignore[arg-type]
    settings = json.loads(info.training)
    with open(run / direction / "log.csv", newline="") as f:
        seconds = sum(settings["batch_size"] / float(r["patches_per_s"]) for r in csv.DictReader(f))
    return settings, seconds


def evaluate(ablation_root: Path | None, n_shots: int, shipped: bool = True) -> tuple[Results, dict[str, list[Shot]]]:
    """Score every method on every profile's test shots; without ``ablation_root`` the shipped weights and the
    classic pipelines only, without ``shipped`` the ablation and the classic pipelines only."""
    ablation = {
        name: {d: load(ablation_root / "pretrain" / v / d / f"{d}.best.safetensors", d) for d in ("forward", "inverse")}
        for name, v in ABLATION.items()
    } if ablation_root is not None else {}  # fmt: skip
    generic = load_isp() if shipped else None
    # ST-LPIPS only where the shipped weights are scored: the ablation's claims are PSNR, and its quick recipe has a
    # half-hour budget.
    score = functools.partial(score_shots, perceptual=shipped)
    results: Results = {}
    shots_by_profile = {p: test_shots(p, n_shots) for p in (*TUNING_PROFILES, *HELD_OUT_PROFILES)}
    canonical = (lambda s: develop(s.raw, params(s)), lambda s: undevelop(s.srgb, params(s)))
    for profile, shots in tqdm(shots_by_profile.items(), desc="profiles", unit="camera"):
        res = {
            CANONICAL: score(shots, *canonical),
            MATCHED: score(shots, *canonical, fit=matched),
            UPI: score(shots, lambda s: upi_process(s.raw, params(s)), lambda s: upi_unprocess(s.srgb, params(s))),
        }  # fmt: skip
        if generic is not None:
            res[SHIPPED_GENERIC] = shipped_score(shots, generic)
        if generic is not None and profile in TUNING_PROFILES:
            res[SHIPPED_TUNED] = shipped_score(shots, load_isp(profile))
        for name, pair in ablation.items():
            res[name] = score(shots, learned_forward(pair["forward"]), learned_inverse(pair["inverse"]))
        for name, full in STRIPPED.items() if ablation else ():
            pair = ablation[full]
            res[name] = score(shots, learned_forward(pair["forward"], True), learned_inverse(pair["inverse"], True))
        results[profile] = res
    return results, shots_by_profile


def shipped_score(shots: list[Shot], isp: LearnedISP) -> dict[str, np.ndarray]:
    return score_shots(shots, learned_forward(isp.forward_model), learned_inverse(isp.inverse_model))  # type: ignore[arg-type]


def pooled(results: Results, profiles: list[str], method: str, metric: str) -> np.ndarray:
    return np.concatenate([results[p][method][metric] for p in profiles])


def pooled_scenes(scenes: Scenes, profiles: list[str]) -> np.ndarray:
    """Scene labels aligned with :func:`pooled`'s values."""
    return np.concatenate([scenes[p] for p in profiles])


def ci_cell(diff: np.ndarray, scene: np.ndarray) -> str:
    mean, lo, hi = bootstrap_interval(diff, clusters=scene, samples=BOOTSTRAP)
    return f"{mean:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def widening(
    results: Results, scenes: Scenes, profiles: list[str], pairs: list[tuple[str, str]]
) -> tuple[float, float]:
    """Smallest and largest ratio of the scene-resampled interval's width to the image-resampled one's, over the
    pairs and the three PSNRs: what treating the images as independent would have understated."""
    ratios = []
    for ours, other in pairs:
        for m in ("fwd_psnr", "inv_psnr", "inv_psnr_noisy"):
            diff = pooled(results, profiles, ours, m) - pooled(results, profiles, other, m)
            _, lo, hi = bootstrap_interval(diff, clusters=pooled_scenes(scenes, profiles), samples=BOOTSTRAP)
            _, lo1, hi1 = bootstrap_interval(diff, samples=BOOTSTRAP)
            if hi1 > lo1:  # a constant difference has no width to compare
                ratios.append((hi - lo) / (hi1 - lo1))
    return (min(ratios), max(ratios)) if ratios else (math.nan, math.nan)


def camera_tables(results: Results, methods: list[str], title: str) -> None:
    """Per-camera PSNR and pooled means, one table per direction and target."""
    tuning = list(TUNING_PROFILES)
    tables = (
        ("Forward (RAW -> sRGB)", ("fwd_psnr", "fwd_ssim", "fwd_stlpips")),
        ("Inverse (sRGB -> RAW), clean-RAW target", ("inv_psnr", "inv_ssim")),
        ("Inverse (sRGB -> RAW), noisy-RAW target", ("inv_psnr_noisy", "inv_ssim_noisy")),
    )
    for direction, metrics in tables:
        print(f"\n#### {title} — {direction}: PSNR (dB) per tuning camera, test scenes\n")
        lpips = len(metrics) > 2 and all(metrics[2] in results[p][m] for p in tuning for m in methods)
        print("| method | " + " | ".join(tuning) + " | mean PSNR | mean SSIM |" + (" ST-LPIPS |" if lpips else ""))
        print("|---" * (len(tuning) + 3 + lpips) + "|")
        for method in methods:
            cells = [fmt(results[p][method][metrics[0]].mean()) for p in tuning]
            means = [pooled(results, tuning, method, m).mean() for m in metrics[: 2 + lpips]]
            extra = f" {fmt(means[2], 4)} |" if lpips else ""
            print(f"| {method} | " + " | ".join(cells) + f" | {fmt(means[0])} | {fmt(means[1], 4)} |" + extra)


def paired_table(
    results: Results, scenes: Scenes, profiles: list[str], pairs: list[tuple[str, str]], caption: str
) -> None:
    labels = pooled_scenes(scenes, profiles)
    print(f"\n{caption} ({len(labels)} shots of {len(set(labels))} scenes)\n")
    print("| comparison | forward PSNR | inverse PSNR (clean RAW) | inverse PSNR (noisy RAW) |")
    print("|---|---|---|---|")
    for ours, other in pairs:
        cells = [ci_cell(pooled(results, profiles, ours, m) - pooled(results, profiles, other, m), labels)
                 for m in ("fwd_psnr", "inv_psnr", "inv_psnr_noisy")]  # fmt: skip
        print(f"| {ours} − {other} | " + " | ".join(cells) + " |")


SHORT = {SHIPPED_TUNED: "tuned", SHIPPED_GENERIC: "generic", "ParamNet colour terms only": "colour only"}
BINS = {
    "ISO <= 200": lambda s: s.iso <= 200,
    "ISO 250-800": lambda s: 200 < s.iso <= 800,
    "ISO > 800": lambda s: s.iso > 800,
    "t >= 1/30 s": lambda s: s.exposure_time_s >= 1 / 30 - 1e-9,
    "1/250 <= t < 1/30 s": lambda s: 1 / 250 - 1e-9 <= s.exposure_time_s < 1 / 30 - 1e-9,
    "t < 1/250 s": lambda s: s.exposure_time_s < 1 / 250 - 1e-9,
}


def grouped_table(
    results: Results,
    shots_by_profile: dict[str, list[Shot]],
    profiles: list[str],
    groups: dict[str, Callable[[Shot], bool]],
    methods: list[str],
    pairs: list[tuple[str, str]],
    heading: str,
) -> None:
    """Mean PSNRs of ``methods`` and the paired differences of ``pairs`` over the shots of ``profiles`` in each group
    (a row per group that has shots), each difference with an interval over the group's scenes. A scene may fall in
    a group on some cameras only (ISO and shutter are drawn per camera), so the clusters may be of unequal sizes."""
    print(f"\n#### {heading}\n")
    print("PSNR in dB, forward / inverse (clean RAW); each difference with its 95 % bootstrap interval over the "
          "group's scenes.\n")  # fmt: skip
    diff_heads = [f"{SHORT.get(a, a)} − {SHORT.get(b, b)}, {d}" for a, b in pairs for d in ("forward", "inverse")]
    print("| group | shots (scenes) | " + " | ".join(methods + diff_heads) + " |")
    print("|---" * (2 + len(methods) + len(diff_heads)) + "|")
    scene = pooled_scenes({p: np.array([s.scene for s in shots_by_profile[p]]) for p in profiles}, profiles)
    for name, member in groups.items():
        sel = np.concatenate([[member(s) for s in shots_by_profile[p]] for p in profiles]).astype(bool)
        if not sel.any():
            continue

        def sub(method: str, metric: str, sel=sel) -> np.ndarray:
            return pooled(results, profiles, method, metric)[sel]

        cells = [f"{sub(m, 'fwd_psnr').mean():.2f} / {sub(m, 'inv_psnr').mean():.2f}" for m in methods]
        diffs = [ci_cell(sub(a, m) - sub(b, m), scene[sel]) for a, b in pairs for m in ("fwd_psnr", "inv_psnr")]
        print(f"| {name} | {int(sel.sum())} ({len(set(scene[sel]))}) | " + " | ".join(cells + diffs) + " |")


def bins_table(
    results: Results, shots_by_profile: dict[str, list[Shot]], methods: list[str], pairs: list[tuple[str, str]]
) -> None:
    """:func:`grouped_table` of the tuning cameras' shots by ISO and exposure-time bin."""
    grouped_table(results, shots_by_profile, list(TUNING_PROFILES), BINS, methods, pairs,
                  "By ISO and exposure time (tuning cameras' test shots)")  # fmt: skip


def source_table(results: Results, shots_by_profile: dict[str, list[Shot]], pairs: list[tuple[str, str]]) -> None:
    """:func:`grouped_table` of every camera's shots by the test source they were cut from; then the differences
    pooled, with an interval over *sources* (each source's scenes resampled as one cluster: the most conservative
    reading, with few clusters)."""
    profiles = [*TUNING_PROFILES, *HELD_OUT_PROFILES]
    source = np.concatenate([[s.source for s in shots_by_profile[p]] for p in profiles])
    names = sorted(set(source))
    methods = list(dict.fromkeys(m for pair in pairs for m in pair))
    groups = {name: (lambda s, name=name: s.source == name) for name in names}
    grouped_table(results, shots_by_profile, profiles, groups, methods, pairs,
                  "By scene source (every camera, the held-out one included)")  # fmt: skip
    cells = [ci_cell(pooled(results, profiles, a, m) - pooled(results, profiles, b, m), source)
             for a, b in pairs for m in ("fwd_psnr", "inv_psnr")]  # fmt: skip
    print(f"| all, interval over the {len(names)} sources | {len(source)} | " + " | ".join(["—"] * len(methods) + cells)
          + " |")  # fmt: skip


def held_out_table(results: Results, scenes: Scenes, ablation: bool, shipped: bool = True) -> None:
    tuning = list(TUNING_PROFILES)
    print("\n#### Camera kept out of training and tuning" + (", and EXIF-stripped shots\n" if ablation else "\n"))
    print("PSNR in dB, forward / inverse (clean RAW)." + (" EXIF stripped: exposure time, ISO, f-number and focal "
          "length unknown to ParamNet (masked), as in a photo without EXIF." if ablation else "") + "\n")  # fmt: skip
    cols = [*HELD_OUT_PROFILES, "tuning cameras (pooled)"]
    print("| method | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    methods = [CANONICAL, MATCHED, UPI, *[SHIPPED_GENERIC] * shipped, *((*ABLATION, *STRIPPED) if ablation else ())]
    for method in methods:
        cells = [f"{results[c][method]['fwd_psnr'].mean():.2f} / {results[c][method]['inv_psnr'].mean():.2f}"
                 for c in HELD_OUT_PROFILES]  # fmt: skip
        f, i = (pooled(results, tuning, method, m).mean() for m in ("fwd_psnr", "inv_psnr"))
        print(f"| {method} | " + " | ".join(cells) + f" | {f:.2f} / {i:.2f} |")
    held = list(HELD_OUT_PROFILES)
    caption = f"Paired differences on the held-out camera ({', '.join(held)}), dB, mean [95 % bootstrap over scenes]"
    pairs = [(SHIPPED_GENERIC, CANONICAL), (SHIPPED_GENERIC, MATCHED), (SHIPPED_GENERIC, UPI)] if shipped else []
    ablation_pairs = [("ParamISP", "ParamNet colour terms only"), ("ParamISP", "no ParamNet")]
    paired_table(results, scenes, held, ablation_pairs * ablation + pairs, caption)
    if ablation:
        paired_table(results, scenes, tuning, [("ParamISP, EXIF stripped", "ParamISP"),
                                               ("ParamISP no dropout, EXIF stripped", "ParamISP, no optics dropout")],
                     "What stripping the EXIF costs (tuning cameras), dB, mean [95 % bootstrap over scenes]")


def d30(root: Path) -> None:
    """The real camera: fine-tuned on the left part of the D30 pair, scored on the right part (same scene)."""
    from tools.train_default_weights import d30_cache

    cache = d30_cache(root)
    index = json.loads((cache / "index.json").read_text())
    part = next(p for p in index["pairs"] if p["split"] == "val")
    base = cache / "pairs" / part["name"]
    raw = torch.from_numpy(np.load(f"{base}.raw.npy"))[None, None]
    srgb = torch.from_numpy(np.load(f"{base}.srgb.npy").astype(np.float32) / 255).permute(2, 0, 1)[None]
    meta = CameraMetadata.from_dict(json.loads(Path(f"{base}.json").read_text())["metadata"])
    p = CanonicalParams.from_metadata([meta])
    fwd = load(root / "d30/forward/forward.best.safetensors", "forward")
    inv = load(root / "d30/inverse/inverse.best.safetensors", "inverse")
    generic = load_isp()
    crop = min(512, *raw.shape[-2:])
    with torch.no_grad():
        rows = {
            CANONICAL: (develop(raw, p), undevelop(srgb, p)),
            UPI: (upi_process(raw, p), upi_unprocess(srgb, p)),
            f"{SHIPPED_GENERIC} (simulated cameras only)": (generic.forward(raw, meta), generic.inverse(srgb, meta)),
            "shipped camera-agnostic, fine-tuned on the left part": (
                forward_isp(fwd, raw, [meta]), inverse_isp(inv, srgb, [meta])),
        }  # fmt: skip
    split = index["same_scene_split"]
    print("\n### Real camera, same-scene result: Canon EOS D30 RAW + its camera JPEG\n")
    print(
        f"Pairs at the JPEG's resolution (downscaled RAW); trained on columns {split['train_columns']}, scored on "
        f"columns {split['val_columns']} ({part['size_hw'][0]}x{part['size_hw'][1]} px), guard band "
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


def budgets(ablation_root: Path, shipped_root: Path | None) -> None:
    print("\n### Training budgets\n")
    print("| weights | config | steps x batch x crop | data | training time |")
    print("|---|---|---|---|---|")
    shipped = [] if shipped_root is None else [
        ("shipped: camera-agnostic", shipped_root / "pretrain" / "paramisp"),
        *((f"shipped: {p} fine-tune", shipped_root / "finetune" / p) for p in TUNING_PROFILES),
    ]  # fmt: skip
    for label, run in [(f"ablation: {n}", ablation_root / "pretrain" / v) for n, v in ABLATION.items()] + shipped:
        cells = []
        for d in ("forward", "inverse"):
            st, sec = training_budget(run, d)
            cells.append((st, sec))
        st = cells[0][0]
        minutes = " + ".join(f"{sec / 60:.1f}" for _, sec in cells)
        print(f"| {label} | {st['config']} | {st['steps']} x {st['batch_size']} x {st['crop']}² (each direction) | "
              f"{st['data']} | {minutes} min (forward + inverse) |")  # fmt: skip


def test_set_line(shots_by_profile: dict[str, list[Shot]]) -> str:
    """The test scenes and the sources they were cut from (the same for every camera)."""
    shots = next(iter(shots_by_profile.values()))
    counts: dict[str, int] = defaultdict(int)
    for s in shots:
        counts[s.source] += 1
    sources = ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"Test set: {len(shots)} scenes per camera, shot k of every camera on scene k; by source: {sources}."


def save_scores(path: Path, results: Results, shots_by_profile: dict[str, list[Shot]]) -> None:
    """Per-image scores with each shot's scene, ISO and exposure time, for analyses that need no rerun."""
    payload = {
        p: {"scene": [s.scene for s in shots], "source": [s.source for s in shots], "iso": [s.iso for s in shots],
            "exposure_time_s": [s.exposure_time_s for s in shots],
            "scores": {m: {k: v.tolist() for k, v in res.items()} for m, res in results[p].items()}}
        for p, shots in shots_by_profile.items()
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1))


def main(
    ablation_root: Path | None, shipped_root: Path | None, n_shots: int, save: Path | None = None, shipped: bool = True
) -> None:
    """Print the Markdown report; ``None`` roots skip the parts that need them (ablation and budgets; the D30), and
    ``shipped=False`` skips the shipped weights."""
    t0 = time.time()
    print(f"Evaluated on: {machine_line()}\n")
    if ablation_root is not None:
        budgets(ablation_root, shipped_root)
    results, shots_by_profile = evaluate(ablation_root, n_shots, shipped)
    if save is not None:
        save_scores(save, results, shots_by_profile)
    scenes = {p: np.array([s.scene for s in shots]) for p, shots in shots_by_profile.items()}
    tuning = list(TUNING_PROFILES)
    bin_methods, bin_pairs, source_pairs = [CANONICAL, MATCHED], [], []
    if shipped:
        print(f"\n### Shipped weights against the classic pipelines ({n_shots} test shots per camera)\n")
        print(test_set_line(shots_by_profile))
        camera_tables(results, [CANONICAL, MATCHED, UPI, SHIPPED_GENERIC, SHIPPED_TUNED], "Shipped")
        shipped_pairs = [(SHIPPED_TUNED, CANONICAL), (SHIPPED_TUNED, MATCHED), (SHIPPED_TUNED, UPI),
                         (SHIPPED_GENERIC, CANONICAL), (SHIPPED_GENERIC, MATCHED), (SHIPPED_GENERIC, UPI),
                         (SHIPPED_TUNED, SHIPPED_GENERIC)]  # fmt: skip
        paired_table(results, scenes, tuning, shipped_pairs, PAIRED)
        lo, hi = widening(results, scenes, tuning, shipped_pairs)
        print(f"\nResampling scenes rather than images widens these intervals {lo:.1f}x to {hi:.1f}x.")
        bin_methods += [SHIPPED_GENERIC, SHIPPED_TUNED]
        bin_pairs.append((SHIPPED_TUNED, SHIPPED_GENERIC))
        source_pairs.append((SHIPPED_GENERIC, MATCHED))
    if ablation_root is not None:
        print(f"\n### ParamNet ablation (identical seeds, data and budget; {n_shots} test shots per camera)\n")
        print(test_set_line(shots_by_profile))
        camera_tables(results, [CANONICAL, MATCHED, *ABLATION], "Ablation")
        paired_table(results, scenes, tuning, [("ParamISP", "ParamNet colour terms only"), ("ParamISP", "no ParamNet"),
                                               ("ParamISP", CANONICAL), ("ParamISP", MATCHED), ("ParamISP", UPI),
                                               ("ParamISP", "ParamISP, no optics dropout")],
                     PAIRED)  # fmt: skip
        bin_methods += ["ParamNet colour terms only", "ParamISP"]
        bin_pairs.append(("ParamISP", "ParamNet colour terms only"))
        source_pairs.append(("ParamISP", "no ParamNet"))
    bins_table(results, shots_by_profile, bin_methods, bin_pairs)
    source_table(results, shots_by_profile, source_pairs)
    held_out_table(results, scenes, ablation_root is not None, shipped)
    if shipped_root is not None:
        d30(shipped_root)
    print(f"\nEvaluation took {time.time() - t0:.0f} s on this machine.")


if __name__ == "__main__":
    runs = Path(__file__).resolve().parents[1] / "runs"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ablation-runs", type=Path, default=runs / "defaults", help="the CPU recipe's runs")
    parser.add_argument("--shipped-runs", type=Path, default=runs / "defaults-gpu",
                        help="the runs the shipped weights came from (budgets, the D30 fine-tune)")  # fmt: skip
    parser.add_argument("--shipped-only", action="store_true",
                        help="the shipped weights and the classic pipelines on the simulated cameras only: no run "
                             "folders needed (skips the training budgets, the ablation and the D30)")  # fmt: skip
    parser.add_argument("--ablation-only", action="store_true",
                        help="the ablation runs (e.g. the quick recipe's) and the classic pipelines only: no shipped "
                             "weights, no D30")  # fmt: skip
    parser.add_argument("--shots", type=int, default=N_SHOTS, help="test shots per camera")
    parser.add_argument("--save", type=Path, default=None, help="write the per-image scores (JSON) here")
    args = parser.parse_args()
    if args.shipped_only:
        main(None, None, args.shots, args.save)
    elif args.ablation_only:
        main(args.ablation_runs, None, args.shots, args.save, shipped=False)
    else:
        main(args.ablation_runs, args.shipped_runs, args.shots, args.save)
