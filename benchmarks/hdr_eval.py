"""HDR from simulated brackets against exact ground truth: ``paramisp hdr merge`` and ``hdr expand`` beside classic
merges and inverse tone mapping.

    python -m benchmarks.hdr_eval [--cameras A,B,...] [--views 4] [--size 384x576] [--brackets 3x2,3x1.5,5x2,5x1.5]
                                  [--isos 100,800] [--split test] [--bootstrap 2000] [--no-timing] [--json ROWS]
                                  [--inverse-weights DIR] [--pair brackets] [--no-response]
    python -m benchmarks.hdr_eval --report ROWS [the same options]     # the report again from saved rows

Scenes: ``--views`` random views of every HDR radiance map of the split (``core_isp.simulation.bracket``; the test split
holds two maps, so views of one map are not independent). Each camera (``core_isp.simulation.profiles``: noise, its JPEG
engine with scene- and exposure-dependent tone curves, JPEG compression) shoots each view at f/8 and the longest focal
length (least vignetting), under one illuminant per view (3000-7000 K, uniform in mired); the middle frame is metered
(ISO 2720, K = 12.5) at the given ISO, the others ``spacing`` EV apart. Every method sees the JPEGs and their EXIF only.
The truth is the scene's linear RGB (sRGB primaries, D65); the in-camera lens-shading correction is partial, so a
RAW-domain result keeps up to ~0.1 stop more corner falloff than the JPEGs (neither method corrects it).

Merges: this tool (the camera's learned inverse ISP, conditioned for brackets as ``paramisp hdr`` runs it; ``--pair
separate`` for the plain one, whose merge fits the response correction, ``--no-response`` to switch that off;
``canon-550d``, held out, has the camera-agnostic weights, as ``get_camera`` gives it); three ablations of it: the same
merge with the canonical inverse (sRGB curve, the camera's matrix), the same merged RAW demosaicked in light instead of
in stops, and every frame given the middle frame's exposure time on its way through the inverse ISP (the exposure
normalisation still uses each frame's own: what the per-frame parameters are worth); OpenCV's Debevec and Robertson
merges each with its own response calibration, OpenCV's Debevec merge through the plain sRGB curve, and the middle frame
alone, sRGB-decoded. Expand (on each middle frame): the frame sRGB-decoded, the inverse of Reinhard's global operator
(Banterle et al. 2006 without their expand map; ``L_white`` the best of 4, 16, 64 on these scenes, in the baseline's
favour), this tool's inverse ISP without and with highlight extension.

Scores (``core_isp.metrics.hdr``), after one global scale fitted in the log domain (least squares on log luminance) and
the truth scaled to a median luminance of 100 cd/m^2: log2-RMSE of luminance (stops; both floored at 0.005 cd/m^2) and
PSNR of PU21-encoded values (Mantiuk & Azimi 2021, ``banding_glare``, absolute cd/m^2 clamped to [0.005, 10000], peak
256, as their ``pu21_metric``) of luminance and of the three channels together (each channel encoded as a luminance).
Means over cameras and ISOs per scene, then 95 % percentile-bootstrap intervals over scenes. Timing: one 5-frame bracket
per method in a fresh process: seconds per megapixel per frame (this tool's weights loading excluded), the process's
peak resident memory and its rise over a process that only imports the same modules.

The report also gives this tool, its canonical-inverse ablation and the best classic merge per radiance map and ISO.
Needs ``opencv-python-headless`` (benchmark only). Prints Markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from apps.hdr import DEFAULT_PAIR, HdrMaker, HighlightSettings, MergeSettings
from apps.hdr.merge import bracket_conditioned
from apps.hdr.output import raw_to_linear
from core_isp.cameras import Camera, get_camera
from core_isp.canonical import srgb_decode
from core_isp.image import CameraImage
from core_isp.isp import ISP, PAIRS, InferenceOptions, canonical_isp, load_isp, uses_generic_weights
from core_isp.metadata import CameraMetadata
from core_isp.metrics import bootstrap_interval
from core_isp.metrics.hdr import HDR_SCORE_KEYS, hdr_scores, log_fit_scale
from core_isp.simulation.bracket import bracket_evs, bracket_photos, hdr_scene_views, render_bracket
from core_isp.simulation.scenes import Scene, luminance
from paramisp.machine import machine_line, peak_rss_mib

CAMERAS = ("nikon-d7000", "sony-a7r3", "canon-550d")
MERGES = ("this tool", "this merge, canonical inverse", "this merge, demosaicked in light",
          "this merge, one exposure time for every frame", "Debevec (OpenCV)", "Robertson (OpenCV)",
          "sRGB-curve merge (OpenCV)", "middle frame, sRGB-decoded")  # fmt: skip
CLASSIC = MERGES[4:7]
#: Timed only: this tool with ``--precision bf16`` (LocalNet of the inverse ISP in bfloat16).
THIS_TOOL_BF16 = "this tool, --precision bf16"
BASELINES = MERGES[4:]
EXPANDS = ("middle frame, sRGB-decoded", "inverse Reinhard", "this tool, no extension", "this tool (hdr expand)")
REINHARD_WHITES = (4.0, 16.0, 64.0)
SEED = 14
METRICS = HDR_SCORE_KEYS


# -- methods --------------------------------------------------------------------------------------------------------


def _bgr8(photo: CameraImage) -> np.ndarray:
    rgb = (photo.pixels[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255.0).round().astype(np.uint8)
    return np.ascontiguousarray(rgb[..., ::-1])


def _from_bgr(hdr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(hdr[..., ::-1].transpose(2, 0, 1))


def srgb_response() -> np.ndarray:
    """The sRGB curve as an OpenCV camera response ``(256, 1, 3)`` (code 0 at half a code, as log needs > 0)."""
    codes = torch.tensor(np.maximum(np.arange(256), 0.5) / 255.0, dtype=torch.float32)
    linear = srgb_decode(codes.view(1, 1, 256, 1).expand(1, 3, 256, 1))[0, :, :, 0].T.numpy()
    return np.ascontiguousarray(linear[:, None, ::-1], dtype=np.float32)


def classic_merge(method: str, frames: Sequence[CameraImage], align: bool = False) -> np.ndarray:
    """OpenCV's merges of the JPEGs (``(3, H, W)`` linear, relative); exposure times from EXIF. ``align``: OpenCV's
    median-threshold-bitmap translation (``AlignMTB``) of the JPEGs to each other first."""
    images = [_bgr8(f) for f in frames]
    if align:
        cv2.createAlignMTB().process(images, images)
    times = np.array([f.meta.exposure_time_s for f in frames], dtype=np.float32)
    if method == "Debevec (OpenCV)":
        response = cv2.createCalibrateDebevec().process(images, times)
        return _from_bgr(cv2.createMergeDebevec().process(images, times, response))
    if method == "Robertson (OpenCV)":
        response = cv2.createCalibrateRobertson().process(images, times)
        return _from_bgr(cv2.createMergeRobertson().process(images, times, response))
    if method == "sRGB-curve merge (OpenCV)":
        return _from_bgr(cv2.createMergeDebevec().process(images, times, srgb_response()))
    raise ValueError(method)


def inverse_reinhard(photo: CameraImage, white: float) -> np.ndarray:
    """The inverse of Reinhard's global curve ``L (1 + L / w^2) / (1 + L)`` on the decoded photo's luminance."""
    rgb = srgb_decode(photo.pixels)[0].double().numpy()
    shown = np.clip(luminance(rgb), 0.0, 1.0)
    world = 0.5 * white**2 * (shown - 1.0 + np.sqrt((1.0 - shown) ** 2 + 4.0 * shown / white**2))
    return rgb * np.where(shown > 0, world / np.maximum(shown, 1e-12), 0.0)


@dataclass
class _Wrapped:
    """An ISP around another, whose forward and bracket conditioning it passes on."""

    isp: ISP

    @property
    def bracket_conditioned(self) -> bool:
        return bracket_conditioned(self.isp)

    def forward(self, raw, meta, options=None):  # type: ignore[no-untyped-def]
        return self.isp.forward(raw, meta, options)


@dataclass
class OneExposureInverse(_Wrapped):
    """An ISP whose inverse is told one exposure time for every frame (the per-frame EXIF ablation)."""

    exposure_time_s: float
    name: str = "one exposure"
    description: str = ""

    def inverse(self, srgb, meta, options=None):  # type: ignore[no-untyped-def]
        return self.isp.inverse(srgb, [m.replace(exposure_time_s=self.exposure_time_s) for m in meta], options)


@dataclass
class CachedInverse(_Wrapped):
    """An ISP whose inverse remembers its results per input tensor: the frames shared by several brackets (and the
    middle frame ``expand`` takes) go through the network once."""

    name: str = "cached"
    description: str = ""
    results: dict[tuple, torch.Tensor] = field(default_factory=dict)

    def inverse(self, srgb, meta, options=None):  # type: ignore[no-untyped-def]
        key = (srgb.data_ptr(), tuple(srgb.shape), tuple(meta))
        if key not in self.results:
            self.results[key] = self.isp.inverse(srgb, meta, options)
        return self.results[key]


# -- the run --------------------------------------------------------------------------------------------------------


def evaluate(args: argparse.Namespace, scenes: list[Scene]) -> list[dict]:
    rows = []
    brackets = [tuple(float(v) for v in b.split("x")) for b in args.brackets.split(",")]
    isos = [float(v) for v in args.isos.split(",")]
    canonical = CachedInverse(canonical_isp())
    for camera_name in args.cameras.split(","):
        camera = get_camera(camera_name)
        learned = CachedInverse(load_isp(camera, directions=("inverse",), pair=args.pair,
                                         inverse_weights=other_inverse(camera, args.inverse_weights)))
        options = InferenceOptions(tile=512)
        merge = MergeSettings(response=None) if args.no_response else MergeSettings()
        tool = HdrMaker(camera, learned, merge, options)
        ablation = HdrMaker(camera, canonical, MergeSettings(), options)
        no_extension = dataclasses.replace(merge, highlights=HighlightSettings(max_stops=0.0))
        flat = HdrMaker(camera, learned, no_extension, options)
        for s, scene in enumerate(scenes):
            truth = scene.linear_rgb.double().numpy()
            for iso in isos:
                # Cached results are keyed by tensor address, which freed tensors hand on: one shoot at a time.
                learned.results.clear()
                canonical.results.clear()
                evs = sorted({ev for n, sp in brackets for ev in bracket_evs(int(n), sp)})
                shots = bracket_photos(render_bracket(camera_name, scene, iso, evs, SEED + 1000 * s + int(iso)))
                base = {"camera": camera_name, "scene": s, "iso": iso}
                for n, spacing in brackets:
                    frames = [shots[ev] for ev in bracket_evs(int(n), spacing)]
                    merged = tool.merge(frames)
                    one_exposure = OneExposureInverse(learned, float(shots[0.0].meta.exposure_time_s))  # type: ignore[arg-type]
                    outputs = {
                        MERGES[0]: merged.image.pixels[0].double().numpy(),
                        MERGES[1]: ablation.merge(frames).image.pixels[0].double().numpy(),
                        # The global scale fit makes the cd/m^2 scale irrelevant.
                        MERGES[2]: raw_to_linear(merged.raw.pixels.double(), merged.raw.metadata, in_stops=False)[0]
                        .numpy(),
                        MERGES[3]: HdrMaker(camera, one_exposure, merge, options).merge(frames)
                        .image.pixels[0].double().numpy(),
                        **{m: classic_merge(m, frames) for m in CLASSIC},
                        MERGES[7]: srgb_decode(shots[0.0].pixels)[0].double().numpy(),
                    }
                    for method, pred in outputs.items():
                        rows.append({**base, "task": f"{int(n)} frames, {spacing:g} EV", "method": method,
                                     **hdr_scores(pred, truth)})  # fmt: skip
                middle = shots[0.0]
                clipped = middle.pixels[0].amax(dim=0).numpy() >= HighlightSettings.clipped_code
                expanded = {
                    EXPANDS[0]: srgb_decode(middle.pixels)[0].double().numpy(),
                    **{f"{EXPANDS[1]} (L_white {w:g})": inverse_reinhard(middle, w) for w in REINHARD_WHITES},
                    EXPANDS[2]: flat.expand(middle).image.pixels[0].double().numpy(),
                    EXPANDS[3]: tool.expand(middle).image.pixels[0].double().numpy(),
                }
                for method, pred in expanded.items():
                    row = {**base, "task": "expand", "method": method, **hdr_scores(pred, truth),
                           "clipped_pct": float(clipped.mean() * 100)}  # fmt: skip
                    row["clipped_log2_rmse"] = clipped_error(pred, truth, clipped)
                    rows.append(row)
                done = [r for r in rows if r["camera"] == camera_name and r["scene"] == s and r["iso"] == iso]
                summary = ", ".join(f"{r['method'][:14]} {r['pu21_psnr_y']:.1f}" for r in done if r["task"] != "expand")
                print(f"{camera_name} view {s} ISO {iso:g}: {summary}", file=sys.stderr, flush=True)
    return rows


def other_inverse(camera: Camera, folder: Path | None) -> Path | None:
    """``folder``'s inverse weights for ``camera``: ``<name>.inverse.safetensors``, or for a camera whose own inverse
    is the camera-agnostic one, ``generic.inverse.safetensors``; None (the camera's own) when there is no such file."""
    if folder is None:
        return None
    name = "generic" if uses_generic_weights(camera, "inverse") else camera.name
    path = folder / f"{name}.inverse.safetensors"
    return path if path.is_file() else None


def clipped_error(pred: np.ndarray, truth: np.ndarray, clipped: np.ndarray) -> float | None:
    """log2-RMSE of luminance over the photo's clipped pixels, after a global fit as ``hdr_scores``'s on the others."""
    if not clipped.any():
        return None
    truth_y = luminance(truth)
    pred_y = np.maximum(luminance(pred), 1e-12)
    scale = log_fit_scale(pred_y, truth_y, ~clipped & (truth_y > 0))
    error = np.log2(pred_y[clipped] * scale) - np.log2(np.maximum(truth_y[clipped], 1e-12))
    return float(np.sqrt(np.mean(error**2)))


# -- report ---------------------------------------------------------------------------------------------------------


def per_scene(rows: list[dict], task: str, method: str, key: str) -> np.ndarray:
    """Each scene's mean over cameras and ISOs."""
    by_scene: dict[int, list[float]] = {}
    for r in rows:
        if r["task"] == task and r["method"] == method and r.get(key) is not None:
            by_scene.setdefault(r["scene"], []).append(r[key])
    return np.array([np.mean(v) for _, v in sorted(by_scene.items())])


def interval_cell(values: np.ndarray, samples: int, digits: int) -> str:
    mean, lo, hi = bootstrap_interval(values, samples=samples)
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def best_reinhard(rows: list[dict]) -> str:
    names = {r["method"] for r in rows if r["method"].startswith(EXPANDS[1])}
    return max(names, key=lambda m: np.mean([r["pu21_psnr_y"] for r in rows if r["method"] == m]))


def markdown(rows: list[dict], args: argparse.Namespace, scenes: list[Scene]) -> str:
    samples = args.bootstrap
    tasks = list(dict.fromkeys(r["task"] for r in rows if r["task"] != "expand"))
    lines = [f"Machine: {machine_line()}", "",
             f"{len(scenes)} views ({args.views} per map) of {', '.join(sorted({s.source_id for s in scenes}))} "
             f"({args.split} split), {args.size}, cameras {args.cameras}, ISO {args.isos}; intervals: 95 % bootstrap "
             f"over views ({samples} resamples).", ""]  # fmt: skip
    for task in tasks:
        lines += [f"**{task}**", "", "| method | log2-RMSE Y (stops) | PU21-PSNR Y (dB) | PU21-PSNR RGB (dB) |",
                  "|---|---:|---:|---:|"]  # fmt: skip
        for method in MERGES:
            cells = [interval_cell(per_scene(rows, task, method, k), samples, 3 if k == "log2_rmse" else 2)
                     for k in METRICS]  # fmt: skip
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        best = max(CLASSIC, key=lambda m: per_scene(rows, task, m, "pu21_psnr_y").mean())
        ours = per_scene(rows, task, MERGES[0], "pu21_psnr_y")
        gap = bootstrap_interval(ours - per_scene(rows, task, best, "pu21_psnr_y"), samples=samples)
        ahead_all = all(ours.mean() > per_scene(rows, task, m, "pu21_psnr_y").mean() for m in BASELINES)
        rmse = per_scene(rows, task, MERGES[0], "log2_rmse").mean()
        lines += ["", f"This tool minus the best classic merge ({best}): {gap[0]:+.2f} dB PU21-PSNR-Y "
                  f"[{gap[1]:+.2f}, {gap[2]:+.2f}]; log2-RMSE {rmse:.3f} stops; ahead of every baseline: "
                  f"{'yes' if ahead_all else 'no'}.", ""]  # fmt: skip
    lines += per_camera(rows, tasks)
    lines += per_map(rows, tasks, scenes)
    lines += expand_table(rows, samples)
    return "\n".join(lines)


def per_camera(rows: list[dict], tasks: list[str]) -> list[str]:
    cameras = list(dict.fromkeys(r["camera"] for r in rows))
    isos = sorted({r["iso"] for r in rows})
    head = " | ".join(f"{c} ISO {i:g}" for c in cameras for i in isos)
    lines = ["PU21-PSNR-Y (dB) of this tool / the best classic merge, by camera and ISO:", "",
             f"| bracket | {head} |", "|---|" + "---:|" * (len(cameras) * len(isos))]  # fmt: skip
    for task in tasks:
        cells = []
        for c in cameras:
            for i in isos:
                sel = [r for r in rows if r["task"] == task and r["camera"] == c and r["iso"] == i]
                ours = np.mean([r["pu21_psnr_y"] for r in sel if r["method"] == MERGES[0]])
                best = max(np.mean([r["pu21_psnr_y"] for r in sel if r["method"] == m]) for m in CLASSIC)
                cells.append(f"{ours:.1f} / {best:.1f}")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def per_map(rows: list[dict], tasks: list[str], scenes: list[Scene]) -> list[str]:
    """This tool against the same merge through the canonical inverse and the best classic merge, per radiance map
    and ISO: where the learned inverse carries the merge and where it holds it back."""
    maps = list(dict.fromkeys(s.source_id for s in scenes))
    isos = sorted({r["iso"] for r in rows})
    head = " | ".join(f"{m} ISO {i:g}" for m in maps for i in isos)
    lines = [f"PU21-PSNR-Y (dB) of this tool / {MERGES[1]} / the best classic merge, by map and ISO (means over "
             "cameras and views):", "", f"| bracket | {head} |", "|---|" + "---:|" * (len(maps) * len(isos))]
    for task in tasks:
        cells = []
        for m in maps:
            for i in isos:
                sel = [r for r in rows if r["task"] == task and scenes[r["scene"]].source_id == m and r["iso"] == i]

                def mean(method: str, sel: list[dict] = sel) -> float:
                    return float(np.mean([r["pu21_psnr_y"] for r in sel if r["method"] == method]))

                cells.append(f"{mean(MERGES[0]):.1f} / {mean(MERGES[1]):.1f} / {max(mean(c) for c in CLASSIC):.1f}")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def expand_table(rows: list[dict], samples: int) -> list[str]:
    reinhard = best_reinhard(rows)
    methods = [EXPANDS[0], reinhard, EXPANDS[2], EXPANDS[3]]
    clipped = np.mean([r["clipped_pct"] for r in rows if r["task"] == "expand" and r["method"] == EXPANDS[3]])
    lines = [f"**hdr expand** (one middle frame; {clipped:.1f} % of its pixels clipped on average)", "",
             "| method | log2-RMSE Y (stops) | PU21-PSNR Y (dB) | PU21-PSNR RGB (dB) | log2-RMSE on clipped pixels |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    for method in methods:
        keys = [*METRICS, "clipped_log2_rmse"]
        cells = [interval_cell(per_scene(rows, "expand", method, k), samples, 2 if k.startswith("pu21") else 3)
                 for k in keys]  # fmt: skip
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return [*lines, ""]


# -- timing ---------------------------------------------------------------------------------------------------------


def measure(method: str, bracket: Path, camera: str) -> None:
    """Run one method on a saved bracket in this (fresh) process; print its time and the peak memory."""
    data = torch.load(bracket)
    frames = [CameraImage(p, (CameraMetadata.from_dict(m),), "srgb") for p, m in zip(data["pixels"], data["metas"],
                                                                                     strict=True)]  # fmt: skip
    start = time.perf_counter()
    if method == "imports only":
        pass
    elif method in (MERGES[0], THIS_TOOL_BF16):
        dtype = torch.bfloat16 if method == THIS_TOOL_BF16 else torch.float32
        inverse = load_isp(camera, directions=("inverse",), pair=DEFAULT_PAIR)
        maker = HdrMaker(get_camera(camera), inverse, MergeSettings(), InferenceOptions(tile=512, localnet_dtype=dtype))
        start = time.perf_counter()  # the weights' loading is not the merge's
        maker.merge(frames)
    else:
        classic_merge(method, frames)
    wall = time.perf_counter() - start
    print(json.dumps({"wall_s": wall, "peak_rss_mib": peak_rss_mib()}))


def timing(args: argparse.Namespace, scene: Scene) -> list[str]:
    camera = args.cameras.split(",")[0]
    shots = bracket_photos(render_bracket(camera, scene, 100.0, bracket_evs(5, 2.0), SEED))
    frames = list(shots.values())
    megapixels = frames[0].size_hw[0] * frames[0].size_hw[1] / 1e6
    lines = [f"Time and memory, one 5-frame bracket of {args.size} ({camera}, {torch.get_num_threads()} threads), each "
             "method in a fresh process (peak resident memory, and its rise over a process that only imports the same "
             "modules):", "", "| method | s per megapixel per frame | peak RSS (MiB) | above imports (MiB) |",
             "|---|---:|---:|---:|"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bracket.pt"
        torch.save({"pixels": [f.pixels for f in frames], "metas": [f.meta.to_dict() for f in frames]}, path)
        results = {}
        for method in ("imports only", MERGES[0], THIS_TOOL_BF16, *CLASSIC):
            command = [sys.executable, "-m", "benchmarks.hdr_eval", "--measure", method, "--bracket", str(path),
                       "--cameras", camera]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results[method] = json.loads(done.stdout.strip().splitlines()[-1])
        base = results.pop("imports only")["peak_rss_mib"]
        for method, result in results.items():
            per, peak = result["wall_s"] / (megapixels * len(frames)), result["peak_rss_mib"]
            lines.append(f"| {method} | {per:.2f} | {peak:.0f} | {peak - base:.0f} |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", default=",".join(CAMERAS))
    parser.add_argument("--views", type=int, default=4, help="views of each HDR map")
    parser.add_argument("--sources", default="", help="only these source ids (comma-separated)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--size", default="384x576")
    parser.add_argument("--brackets", default="3x2,3x1.5,5x2,5x1.5", help="frames x EV spacing, comma-separated")
    parser.add_argument("--isos", default="100,800")
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every row here")
    parser.add_argument("--inverse-weights", type=Path, help="a folder of <camera>.inverse.safetensors (generic.* for "
                        "cameras with the camera-agnostic weights) to use instead of the shipped inverse where present")
    parser.add_argument("--pair", default=DEFAULT_PAIR, choices=PAIRS, help="the cameras' weights (load_isp's pair)")
    parser.add_argument("--no-response", action="store_true", help="merge without the response correction (ablation)")
    parser.add_argument("--report", type=Path, help="print the report of rows an earlier --json wrote (same options)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--bracket", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.measure:
        measure(args.measure, args.bracket, args.cameras.split(",")[0])
        return
    size = tuple(int(v) for v in args.size.split("x"))
    only = [s for s in args.sources.split(",") if s]
    scenes = hdr_scene_views(args.split, args.views, size, np.random.default_rng(SEED), only)  # type: ignore[arg-type]
    if args.report:
        print(markdown(json.loads(args.report.read_text()), args, scenes))
        return
    start = time.perf_counter()
    rows = evaluate(args, scenes)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(markdown(rows, args, scenes))
    if not args.no_timing:
        print("\n".join(timing(args, scenes[0])))
    print(f"Wall time of the evaluation: {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
