"""Does deblurring in RAW beat deblurring in sRGB? Scored on blur a simulated camera really records.

    python -m benchmarks.deblur_eval [--weights apps/deblur/weights] [--scenes 12] [--size 192,288] [--gopro-crop 0]
                                     [--timing-mp 12] [--methods a,b,c,d] [--pair separate|joint] [--split test]
                                     [--out runs/deblur-eval]

Test set: per camera (``nikon-d7000``, ``sony-a7r3``, and ``canon-550d``, held out: never used to make training
data or tune anything, run through its body with the camera-agnostic ISP weights as ``blur_realism`` does), the same
``--scenes`` TEST-split scenes (drawn before the camera, so cameras share scenes), each under its own hand-shake
path and the program AE's settings: :func:`core_isp.simulation.blur_capture.capture_blur` averages the linear scene
over the path and runs the sensor and the camera's own JPEG engine. The input is that blurry JPEG with its EXIF;
the target the unmoved scene rendered noise-free by the camera's pipeline at the blurry shot's settings. Nothing
here comes from the tool under test.

Methods, all the same network (:class:`apps.deblur.DeblurNet`) and training budget (``tools/train_deblur.py``):
(a) the blurry input; (b) trained in sRGB on sRGB-averaged blur (mean of the frames' JPEGs, centre frame as target);
(c) trained in sRGB on synth-blur's sRGB pairs; (d) trained in RAW on synth-blur's RAW pairs, run through the
camera's inverse and forward ISPs. Weights are read from ``--weights`` (default: the shipped three) as
``deblur-srgb-avg.safetensors``, ``deblur-srgb-synth.safetensors`` and ``deblur-raw.safetensors``.

(d) returns the photo plus the change the network made to the render (``Deblurrer(residual=True)``, the default).
Diagnosis rows, not methods: (d) rendering the deblurred RAW alone, and the photo through the camera's inverse and
forward ISPs with no network between them (the RAW net's weights with its output layer zeroed: the identity), the
uncorrected round trip's own cost; and the RAW net on the camera's own RAW of the blurry shot, rendered by the camera's
own pipeline, beside that RAW rendered without it: the network's effect with no ISP in the way. ``--methods`` runs a
subset (by letter; the diagnoses come with d), ``--pair`` chooses which of each camera's ISP pairs (d) runs through
(``load_isp(pair=...)``); ``--split val`` scores on validation scenes, where choices are made.

Scores: PSNR, SSIM and ST-LPIPS against the target; (d) minus (b) and (d) minus (c) with 95 % bootstrap intervals
over scenes (each scene's difference averaged over cameras first, since the cameras share scenes). Then the real
GoPro pairs (``--gopro``; no EXIF: the documented defaults): PSNR/SSIM of input and outputs against the sharp frame,
and a figure of crops (``--figure``, default ``docs/figures/deblur_gopro.jpg``); and time and peak memory per
megapixel of ``paramisp deblur`` on a ``--timing-mp`` photo (0: skip).
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from apps.deblur import Deblurrer, deblur_mosaic
from benchmarks._figures import contact_sheet
from benchmarks.bench_large_photo import run as run_command
from benchmarks.bench_large_photo import synthetic_photo
from benchmarks.blur_realism import BOOTSTRAP, quantised, shot_as_photo
from core_isp.cameras import get_camera
from core_isp.image import CameraImage
from core_isp.io.image_reader import read_image
from core_isp.io.writers import write_jpeg
from core_isp.isp import PAIRS, InferenceOptions
from core_isp.metrics import bootstrap_interval, psnr, ssim, st_lpips
from core_isp.simulation.blur_capture import BlurCapture, capture_blur
from core_isp.simulation.camera_pipeline import render_camera_srgb
from core_isp.simulation.profiles import get_profile
from core_isp.simulation.scenes import Scene, draw_view, load_manifest
from paramisp.machine import machine_line

CAMERAS = ("nikon-d7000", "sony-a7r3", "canon-550d")
#: Method -> weight file in ``--weights`` (None: the blurry input itself).
METHODS = {
    "a: blurry input": None,
    "b: sRGB net, sRGB-averaged blur": "deblur-srgb-avg.safetensors",
    "c: sRGB net, synth-blur sRGB": "deblur-srgb-synth.safetensors",
    "d: RAW net through the ISPs": "deblur-raw.safetensors",
}
#: The diagnosis row (module notes): the RAW weights with an identity output.
ROUND_TRIP = "diagnosis: ISP round trip, no network"
DIRECT = "diagnosis: (d) without the round-trip correction"
#: The RAW net without the ISPs: on the camera's own (noisy) RAW of the blurry shot, rendered by the camera's own
#: pipeline, and that RAW rendered without it (the network's effect alone, on the RAW it was meant for).
TRUE_RAW = "diagnosis: RAW net on the camera's RAW, camera's rendering"
TRUE_RAW_INPUT = "diagnosis: the camera's RAW, camera's rendering, no network"
DIAGNOSES = (ROUND_TRIP, DIRECT, TRUE_RAW, TRUE_RAW_INPUT)
FIGURE = Path("docs/figures/deblur_gopro.jpg")
SIZE = (192, 288)
FRAMES = 7
SEED = 2024
GOPRO = Path(__file__).resolve().parents[2] / "shared" / "data" / "blur" / "gopro_pairs"


def scenes(split: str, count: int, size: tuple[int, int], seed: int) -> list[Scene]:
    """``count`` views of one split (:func:`draw_view`), as :mod:`benchmarks.blur_realism` draws its test scenes."""
    sources = [s for s in load_manifest() if s.split == split]
    rng = np.random.default_rng(seed)
    cache: dict[str, np.ndarray] = {}
    return [draw_view(sources, rng, size, cache) for _ in range(count)]


def blurry_photo(capture: BlurCapture) -> CameraImage:
    """The blurry shot as a user has it: its JPEG and EXIF (the frames' conversion, applied to the blurry shot)."""
    return shot_as_photo(capture.blurry)


def scores(out: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    out = quantised(out)
    return {"psnr": float(psnr(out, target)), "ssim": float(ssim(out, target)),
            "st_lpips": float(st_lpips(out, target))}  # fmt: skip


def load_methods(weights: Path, letters: str = "abcd") -> dict[str, Path | None]:
    """The methods whose letter is in ``letters``, each with its weight file (the diagnoses ride with d)."""
    files = {m: None if f is None else weights / f for m, f in METHODS.items() if m[0] in letters}
    missing = [str(f) for f in files.values() if f is not None and not f.exists()]
    if missing:
        raise SystemExit(f"missing weights: {', '.join(missing)} (train them with tools/train_deblur.py)")
    raw_net = list(METHODS)[3]
    return {**files, **dict.fromkeys(DIAGNOSES, files[raw_net])} if raw_net in files else files


@functools.cache
def deblurrer(weights: Path, camera: str | None, options: InferenceOptions, identity: bool = False,
              residual: bool = True, pair: str = "separate") -> Deblurrer:  # fmt: skip
    """One per weights and camera: the network and the camera's ISPs are loaded once. ``identity``: the network's
    output layer zeroed, so it returns its input (its output is the input plus that layer's residual)."""
    loaded = Deblurrer.load(weights, camera, options, residual=residual, pair=pair)
    if identity:
        torch.nn.init.zeros_(loaded.model.ending.weight)
        torch.nn.init.zeros_(loaded.model.ending.bias)
    return loaded


def run_method(files: dict[str, Path | None], method: str, photo: CameraImage, camera: str | None,
               options: InferenceOptions, pair: str = "separate",
               capture: BlurCapture | None = None) -> torch.Tensor:  # fmt: skip
    """One method's sRGB output for ``photo``; the true-RAW diagnoses need the ``capture`` the photo came from."""
    weights = files[method]
    if weights is None:
        return photo.pixels
    loaded = deblurrer(weights, camera, options, method == ROUND_TRIP, method not in (ROUND_TRIP, DIRECT), pair)
    if method in (TRUE_RAW, TRUE_RAW_INPUT):
        if capture is None:
            raise ValueError(f"{method} needs the simulated capture")
        shot, profile = capture.blurry, get_profile(camera or "")
        raw = shot.noisy_raw
        if method == TRUE_RAW:
            raw = deblur_mosaic(loaded.model, raw, [shot.metadata], torch.tensor([float(shot.settings.iso)]), options)
        return render_camera_srgb(raw, shot.metadata, shot.settings, profile.lens, profile.mid_grey_raw,
                                  profile.style)  # fmt: skip
    return loaded.deblur(photo).srgb.pixels


def evaluate_simulated(files: dict[str, Path | None], cameras: list[str], all_scenes: list[Scene],
                       options: InferenceOptions, pair: str = "separate") -> list[dict]:  # fmt: skip
    rows = []
    for camera in cameras:
        profile = get_profile(camera)
        get_camera(camera)  # an unknown camera fails before any work
        for i, scene in enumerate(all_scenes):
            capture = capture_blur(profile, scene, SEED + i, frames=FRAMES)
            photo, target = blurry_photo(capture), quantised(capture.sharp_clean_srgb)
            s = capture.blurry.settings
            for method in files:
                out = run_method(files, method, photo, camera, options, pair, capture)
                rows.append({"camera": camera, "scene": i, "method": method, **scores(out, target), "iso": s.iso,
                             "exposure_time_s": s.exposure_time_s,
                             "extent_px": capture.path.extent_px(scene_size(scene))})  # fmt: skip
            line = ", ".join(f"{r['method'][:1]} {r['psnr']:.2f}" for r in rows[-len(files) :])
            print(f"{camera} scene {i} (ISO {s.iso:g}): {line}", flush=True)
    return rows


def scene_size(scene: Scene) -> tuple[int, int]:
    return int(scene.linear_rgb.shape[-2]), int(scene.linear_rgb.shape[-1])


def evaluate_gopro(files: dict[str, Path | None], folder: Path, crop: int, options: InferenceOptions,
                   figure: Path | None, pair: str = "separate") -> list[dict]:  # fmt: skip
    """The real pairs: no EXIF, so every method runs on the documented defaults (``crop`` > 0: centre crops).
    ``figure``: a contact sheet of a 256-pixel centre crop of each pair, input, the methods' outputs and the sharp
    frame."""
    rows, panels = [], []
    for blurry_path in sorted(folder.glob("*_blur*.png")):
        sharp_path = blurry_path.with_name(blurry_path.name.replace("_blur", "_sharp"))
        photo, sharp = read_image(blurry_path), read_image(sharp_path).pixels
        if crop:
            h, w = photo.size_hw
            y, x = (h - crop) // 2 // 2 * 2, (w - crop) // 2 // 2 * 2
            photo = photo.with_pixels(photo.pixels[..., y : y + crop, x : x + crop],
                                      metadata=[photo.meta.replace(image_size_hw=(crop, crop))])  # fmt: skip
            sharp = sharp[..., y : y + crop, x : x + crop]
        megapixels = photo.size_hw[0] * photo.size_hw[1] / 1e6
        y0, x0 = (photo.size_hw[0] - 256) // 2, (photo.size_hw[1] - 256) // 2
        for method in [m for m in files if m not in (TRUE_RAW, TRUE_RAW_INPUT)]:
            t0 = time.perf_counter()
            out = quantised(run_method(files, method, photo, None, options, pair))
            seconds = time.perf_counter() - t0
            if method not in DIAGNOSES:
                panels.append((out[..., y0 : y0 + 256, x0 : x0 + 256], f"{blurry_path.stem[:8]} {method[:1]}"))
            rows.append({"pair": blurry_path.stem, "method": method, "psnr": float(psnr(out, sharp)),
                         "ssim": float(ssim(out, sharp)), "s_per_mp": seconds / megapixels})  # fmt: skip
            print(f"GoPro {blurry_path.stem} {method}: {rows[-1]['psnr']:.2f} dB", flush=True)
        panels.append((sharp[..., y0 : y0 + 256, x0 : x0 + 256], f"{blurry_path.stem[:8]} sharp"))
    if figure is not None and panels:
        columns = len([m for m in files if m not in DIAGNOSES]) + 1
        write_jpeg(figure, contact_sheet(panels, columns=columns), quality=90, overwrite=True)
    return rows


def timing(files: dict[str, Path | None], megapixels: float, threads: int) -> list[str]:
    """``paramisp deblur`` on a synthetic photo with a camera's EXIF, each method in its own process (peak RSS)."""
    lines = ["| method | image | peak RSS (GiB) | time (s) | s / MP |", "|---|---|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "large.jpg"
        width, height = synthetic_photo(photo, megapixels)
        mp = width * height / 1e6
        for method, weights in files.items():
            if weights is None or method in DIAGNOSES:  # the diagnoses time like (d)
                continue
            seconds, peak = run_command(["deblur", str(photo), "-o", str(Path(tmp) / "out.png"), "--weights",
                                         str(weights), "--overwrite", "--camera", "nikon-d7000",
                                         "--threads", str(threads)])  # fmt: skip
            lines.append(f"| {method} | {width} x {height} ({mp:.1f} MP) | {peak:.2f} | {seconds:.0f} | "
                         f"{seconds / mp:.2f} |")  # fmt: skip
    return lines


def markdown(rows: list[dict], cameras: list[str]) -> str:
    def mean(method: str, key: str, camera: str | None = None) -> float:
        return float(np.mean([r[key] for r in rows if r["method"] == method and camera in (None, r["camera"])]))

    lines = ["| method | " + " | ".join(f"{c} PSNR" for c in cameras) + " | all: PSNR | SSIM | ST-LPIPS |",
             "|---|" + "---:|" * (len(cameras) + 3)]  # fmt: skip
    present = [m for m in [*METHODS, *DIAGNOSES] if any(r["method"] == m for r in rows)]
    for m in present:
        cells = " | ".join(f"{mean(m, 'psnr', c):.2f}" for c in cameras)
        lines.append(f"| {m} | {cells} | {mean(m, 'psnr'):.2f} | {mean(m, 'ssim'):.4f} | {mean(m, 'st_lpips'):.4f} |")
    scene_ids = sorted({r["scene"] for r in rows})

    def per_scene(method: str, key: str) -> np.ndarray:
        return np.array([np.mean([r[key] for r in rows if r["scene"] == s and r["method"] == method])
                         for s in scene_ids])  # fmt: skip

    baselines = [m for m in list(METHODS)[:3] if m in present]
    for d, label in ((list(METHODS)[3], "(d)"), (DIRECT, "(d) without the correction")):
        if d not in present or not baselines:
            continue
        lines += ["", f"{label} minus each baseline, per-scene means over cameras, 95 % bootstrap over "
                  f"{len(scene_ids)} scenes:"]  # fmt: skip
        for baseline in baselines:
            for key, unit in (("psnr", "dB"), ("ssim", ""), ("st_lpips", "")):
                m, lo, hi = bootstrap_interval(per_scene(d, key) - per_scene(baseline, key), samples=BOOTSTRAP)
                lines.append(f"- vs {baseline[:1]}, {key}: {m:+.3f} {unit} [{lo:+.3f}, {hi:+.3f}]")
    return "\n".join(lines)


def gopro_markdown(rows: list[dict]) -> str:
    pairs = sorted({r["pair"] for r in rows})
    lines = ["| method | " + " | ".join(f"{p} PSNR / SSIM" for p in pairs) + " | s / MP |",
             "|---|" + "---:|" * (len(pairs) + 1)]  # fmt: skip
    for m in [name for name in [*METHODS, *DIAGNOSES] if any(r["method"] == name for r in rows)]:
        sel = {r["pair"]: r for r in rows if r["method"] == m}
        cells = " | ".join(f"{sel[p]['psnr']:.2f} / {sel[p]['ssim']:.4f}" for p in pairs)
        lines.append(f"| {m} | {cells} | {np.mean([r['s_per_mp'] for r in sel.values()]):.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=Path("apps/deblur/weights"),
                        help="folder of the three weight files")
    parser.add_argument("--scenes", type=int, default=12)
    parser.add_argument("--size", default=f"{SIZE[0]},{SIZE[1]}", help="scene height,width")
    parser.add_argument("--cameras", default=",".join(CAMERAS))
    parser.add_argument("--gopro", type=Path, default=GOPRO, help="folder of NAME_blurK.png / NAME_sharpK.png pairs")
    parser.add_argument("--gopro-crop", type=int, default=0, help="centre crops of this size (0: whole frames)")
    parser.add_argument("--figure", type=Path, default=FIGURE, help="where the GoPro contact sheet goes")
    parser.add_argument("--timing-mp", type=float, default=12.0, help="photo size for time and memory (0: skip)")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--split", default="test", help="scene split (choices are made on val, never on test)")
    parser.add_argument("--methods", default="a,b,c,d", help="letters of the methods to run (the diagnoses: with d)")
    parser.add_argument("--pair", choices=PAIRS, default="separate", help="which of each camera's ISP pairs d runs")
    parser.add_argument("--out", type=Path, default=Path("runs/deblur-eval"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    options = InferenceOptions(tile=args.tile, device=args.device)
    files = load_methods(args.weights, args.methods.replace(",", ""))
    cameras = args.cameras.split(",")
    size = tuple(int(v) for v in args.size.split(","))
    all_scenes = scenes(args.split, args.scenes, size, SEED)  # type: ignore[arg-type]
    rows = evaluate_simulated(files, cameras, all_scenes, options, args.pair)
    report = [f"Machine: {machine_line()}", "", markdown(rows, cameras)]
    gopro = evaluate_gopro(files, args.gopro, args.gopro_crop, options, args.figure,
                           args.pair) if args.gopro.is_dir() else []  # fmt: skip
    if gopro:
        report += ["", "Real GoPro pairs (no EXIF: documented defaults):", "", gopro_markdown(gopro)]
    if args.timing_mp > 0:
        report += ["", f"paramisp deblur, {args.threads} threads:", "", *timing(files, args.timing_mp, args.threads)]
    (args.out / "rows.json").write_text(json.dumps({"simulated": rows, "gopro": gopro}, indent=1))
    print("\n" + "\n".join(report) + f"\n\nThis call took {time.perf_counter() - t0:.0f} s.")


if __name__ == "__main__":
    main()
