"""How real is synthesised blur? Each method makes the blurry shot from the sharp frames of the same motion and is
scored against the blurry shot the simulated camera really takes (:mod:`core_isp.simulation.blur_capture`).

    python -m benchmarks.blur_realism [--scenes 8] [--cameras A,B,...] [--split test|val]
        [--pair separate|joint|brackets] [--inverse-pair PAIR] [--weights own|generic] [--out runs/blur-realism]

Per camera, the same ``--scenes`` test scenes (drawn before the camera, so scenes are shared across cameras; log-average
luminance log-uniform in 2-2000 cd/m^2, from dim interiors, where the AE raises ISO, to daylight), each under its own
hand-shake path and the program AE's settings: the camera takes one blurry shot over T and 7 frames of
T/7 at its auto ISO (its JPEGs, with EXIF). Every method sees only those frames' JPEGs and EXIF:

(a) the mean of the sRGB frames; (b) the mean after undoing the sRGB curve; (c) (b), clipped at 1, plus the camera's
Poisson-Gaussian noise for the blurry shot's ISO in linear sRGB (RSBlur-like without a camera RAW space);
(d) the synthesis chain with a UPI-style fixed ISP (``upi_isp``) at both ends, without the residual (its ends are
exact inverses); (e) ``apps.dataset_synth`` with the camera's learned ISPs (``canon-550d``: held out, its body with the
camera-agnostic weights, as ``--camera`` gives it), with the round-trip residual (the default), and the same without
it (``--direct``).
``--pair joint`` runs (e) and the diagnosis rows with each camera's jointly fine-tuned pair (``load_isp(pair=...)``);
``--inverse-pair`` takes the inverse from another of its pairs. ``--weights generic`` runs every body on the
camera-agnostic weights, as the held-out ``canon-550d`` runs: on the tuning cameras' validation scenes, the place to
choose what the 550D gets.
(d) and (e) are given the blurry shot's exposure time, ISO, f-number and focal length (as ``synth-blur
--exposure-time ... --iso ...`` would be), nothing else.

Scores: PSNR against the true blurry JPEG and against its noise-free render; noise level (std of the residual of a
3x3 box filter, 8-bit codes, on flat areas of the noise-free truth) and clipped area (share of pixels with a channel
at 255) against the truth's. Differences come with 95 % bootstrap intervals over scenes (each scene's difference
averaged over cameras first, since the cameras share scenes).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from apps.dataset_synth import BlurShotSpec, BlurSynthesizer, SynthSettings, blur_from_raw
from core_isp.cameras import NoiseModel, get_camera
from core_isp.canonical.tone import srgb_decode, srgb_encode
from core_isp.image import CameraImage
from core_isp.isp import PAIRS, load_isp, upi_isp
from core_isp.metrics import bootstrap_interval, psnr
from core_isp.simulation.blur_capture import BlurCapture, capture_blur
from core_isp.simulation.profiles import get_profile
from core_isp.simulation.render import SIMULATED, RenderedShot
from core_isp.simulation.scenes import draw_view, load_manifest
from paramisp.machine import machine_line

CAMERAS = ("nikon-d7000", "sony-a7r3", "canon-550d")
METHODS = ("a: sRGB mean", "b: linearised mean", "c: b + clip + noise", "d: UPI-style chain", "e: paramisp synth",
           "e, direct (no residual)")
#: Diagnosis, not methods (they see what a user never has): (e) on the frames' true noise-free RAW (a perfect
#: inverse ISP), and the learned forward ISP on the true blurry RAW (its own error: a ceiling for (e)).
ORACLES = ("e with true frame RAW", "forward on true blurry RAW")
SIZE = (192, 288)
FRAMES = 7
SEED = 2024
BOOTSTRAP = 10000
#: Flat areas: local std of the noise-free truth under this many 8-bit codes.
FLAT_CODES = 1.0


def scenes(count: int, split: str = "test") -> list:
    sources = [s for s in load_manifest() if s.split == split]
    rng = np.random.default_rng(SEED)
    cache: dict[str, np.ndarray] = {}
    return [draw_view(sources, rng, SIZE, cache) for _ in range(count)]


def frames_as_photos(capture: BlurCapture) -> list[CameraImage]:
    """What a user has: each frame's JPEG pixels and its EXIF (no RAW, no white balance)."""
    return [shot_as_photo(f) for f in capture.frames]


def shot_as_photo(shot: RenderedShot) -> CameraImage:
    """One simulated shot as a user has it: its JPEG pixels and EXIF (no RAW, no white balance)."""
    keep = ("make", "model", "exposure_time_s", "iso", "f_number", "focal_length_mm", "orientation", "image_size_hw")
    exif = {k: getattr(shot.metadata, k) for k in keep}
    sources = {k: SIMULATED for k in ("exposure_time_source", "iso_source", "f_number_source", "focal_length_source")}
    return CameraImage(shot.camera_srgb, (type(shot.metadata)(**exif, **sources),), "srgb")


def classic(
    frames: torch.Tensor, kind: str, capture: BlurCapture, noise: NoiseModel, rng: np.random.Generator
) -> torch.Tensor:
    """(a)-(c) on frames ``(T, 3, H, W)``."""
    if kind.startswith("a"):
        return frames.mean(dim=0, keepdim=True)
    linear = srgb_decode(frames).mean(dim=0, keepdim=True)
    if kind.startswith("c"):
        linear = linear.clamp(max=1.0)
        std = noise.std(linear.double().clamp(min=0), capture.blurry.settings.analog_iso)
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
        linear = linear + (std * torch.randn(linear.shape, generator=gen, dtype=torch.float64)).float()
    return srgb_encode(linear.clamp(0, 1))


def quantised(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round() / 255


def noise_level(image: torch.Tensor, flat: torch.Tensor) -> float:
    residual = image - torch.nn.functional.avg_pool2d(image, 3, stride=1, padding=1, count_include_pad=False)
    return float(residual[flat.expand_as(residual)].std() * 255)


def flat_mask(clean: torch.Tensor) -> torch.Tensor:
    mean = torch.nn.functional.avg_pool2d(clean, 5, stride=1, padding=2, count_include_pad=False)
    sq = torch.nn.functional.avg_pool2d(clean**2, 5, stride=1, padding=2, count_include_pad=False)
    local_std = (sq - mean**2).clamp(min=0).sqrt().amax(dim=1, keepdim=True) * 255
    mask = local_std < FLAT_CODES
    mask[..., :4, :] = mask[..., -4:, :] = mask[..., :, :4] = mask[..., :, -4:] = False
    return mask


def clipped_share(image: torch.Tensor) -> float:
    return float((quantised(image) >= 1.0).any(dim=1).float().mean() * 100)


def evaluate(camera_name: str, all_scenes: list, isps: dict) -> list[dict]:
    profile = get_profile(camera_name)
    camera = get_camera(camera_name)
    rows = []
    for i, scene in enumerate(all_scenes):
        capture = capture_blur(profile, scene, SEED + i, frames=FRAMES)
        truth, clean = capture.blurry.camera_srgb, quantised(capture.blurry_clean_srgb)
        flat = flat_mask(clean)
        photos = frames_as_photos(capture)
        stack = torch.cat([p.pixels for p in photos])
        s = capture.blurry.settings
        shot = BlurShotSpec(s.exposure_time_s, s.iso, s.f_number, s.focal_length_mm)
        settings = SynthSettings(shot=shot)
        rng = np.random.default_rng(SEED + i)
        outputs = {m: classic(stack, m, capture, camera.noise, rng) for m in METHODS[:3]}
        for method, (inverse, forward) in (
            ("d: UPI-style chain", isps["upi"]),
            ("e: paramisp synth", isps[camera_name]),
            ("e, direct (no residual)", isps[camera_name]),
        ):
            # The fixed pipeline's two ends are exact inverses: nothing for a level fit to correct.
            fit = method.startswith("e")
            residual = method == "e: paramisp synth"
            synth = BlurSynthesizer(camera, inverse, forward, replace(settings, fit_level=fit, residual=residual))
            outputs[method] = synth.from_frames(photos, seed=SEED + i).blurry.pixels
        learned = isps[camera_name][1]
        true_frames = CameraImage(torch.cat([f.clean_raw for f in capture.frames]),
                                  tuple(f.metadata for f in capture.frames), "raw")  # fmt: skip
        outputs[ORACLES[0]] = blur_from_raw(true_frames, camera, learned, settings, np.random.default_rng(SEED + i),
                                            summed_exposure=True).blurry.pixels  # fmt: skip
        outputs[ORACLES[1]] = learned.forward(capture.blurry.noisy_raw, [capture.blurry.metadata])
        truth_noise = noise_level(truth, flat)
        for method, out in outputs.items():
            out = quantised(out)
            rows.append({
                "camera": camera_name, "scene": i, "method": method,
                "psnr": float(psnr(out, truth)), "psnr_clean": float(psnr(out, clean)),
                "noise_codes": noise_level(out, flat), "truth_noise_codes": truth_noise,
                "clipped_pct": clipped_share(out), "truth_clipped_pct": clipped_share(truth),
                "flat_pct": float(flat.float().mean() * 100), "iso": s.iso, "exposure_time_s": s.exposure_time_s,
                "frame_iso": capture.frames[0].settings.iso, "extent_px": capture.path.extent_px(SIZE),
            })  # fmt: skip
        scores = ", ".join(f"{r['method'][:12]} {r['psnr']:.2f}/{r['noise_codes']:.2f}" for r in rows[-len(outputs) :])
        print(f"{camera_name} scene {i}: {scores}", flush=True)
    return rows


def markdown(rows: list[dict], cameras: list[str]) -> str:
    def cell(cam: str | None, method: str, key: str, err_of: str | None = None) -> float:
        sel = [r for r in rows if r["method"] == method and (cam is None or r["camera"] == cam)]
        vals = [abs(r[key] - r[err_of]) if err_of else r[key] for r in sel]
        return float(np.nanmean(vals))  # a scene without flat areas has no noise level (NaN)

    lines = ["| method | " + " | ".join(f"{c} PSNR / clean" for c in cameras) + " | all: PSNR | vs noise-free | "
             "noise error (codes) | clipped-area error (pp) |",
             "|---|" + "---:|" * (len(cameras) + 4)]  # fmt: skip
    for m in METHODS + ORACLES:
        cells = [f"{cell(c, m, 'psnr'):.2f} / {cell(c, m, 'psnr_clean'):.2f}" for c in cameras]
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {cell(None, m, 'psnr'):.2f} | "
                     f"{cell(None, m, 'psnr_clean'):.2f} | {cell(None, m, 'noise_codes', 'truth_noise_codes'):.2f} | "
                     f"{cell(None, m, 'clipped_pct', 'truth_clipped_pct'):.2f} |")  # fmt: skip
    scenes_ids = sorted({r["scene"] for r in rows})

    def per_scene(method: str, key: str) -> np.ndarray:
        return np.array([np.mean([r[key] for r in rows if r["scene"] == s and r["method"] == method])
                         for s in scenes_ids])  # fmt: skip

    best = max(METHODS[:4], key=lambda m: per_scene(m, "psnr").mean())
    lines += ["", f"(e) minus the best of (a)-(d) ({best}), per-scene means over cameras, 95 % bootstrap over "
              f"{len(scenes_ids)} scenes:"]  # fmt: skip
    for method in METHODS[4:]:
        for key, label in (("psnr", "PSNR vs true blurry"), ("psnr_clean", "PSNR vs noise-free blurry")):
            mean, lo, hi = bootstrap_interval(per_scene(method, key) - per_scene(best, key), samples=BOOTSTRAP)
            lines.append(f"- {method}, {label}: {mean:+.2f} dB [{lo:+.2f}, {hi:+.2f}]")
    truth_noise = np.nanmean([r["truth_noise_codes"] for r in rows if r["method"] == METHODS[4]])
    truth_clip = np.mean([r["truth_clipped_pct"] for r in rows if r["method"] == METHODS[4]])
    lines.append(f"- true blurry shots: noise {truth_noise:.2f} codes on flat areas, {truth_clip:.2f} % clipped")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--cameras", default=",".join(CAMERAS))
    parser.add_argument("--split", default="test", help="scene split (choices are made on val, never on test)")
    parser.add_argument("--pair", choices=PAIRS, default="separate", help="which of each camera's ISP pairs (e) runs")
    parser.add_argument("--inverse-pair", choices=PAIRS, help="the inverse from this pair (default: --pair's)")
    parser.add_argument("--weights", choices=("own", "generic"), default="own",
                        help="each body's own ISPs (camera-agnostic where it has none) or the camera-agnostic ones")
    parser.add_argument("--out", type=Path, default=Path("runs/blur-realism"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    cameras = args.cameras.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    upi = upi_isp()
    isps = {"upi": (upi, upi)}
    for c in cameras:
        source = None if args.weights == "generic" else c
        forward = load_isp(source, pair=args.pair)
        isps[c] = (load_isp(source, pair=args.inverse_pair) if args.inverse_pair else forward, forward)
        print(f"{c}: inverse {isps[c][0].description}; forward {forward.description}", flush=True)
    all_scenes = scenes(args.scenes, args.split)
    rows = [r for c in cameras for r in evaluate(c, all_scenes, isps)]
    (args.out / "rows.json").write_text(json.dumps(rows, indent=1))
    print(
        f"\nMachine: {machine_line()}\n\n{markdown(rows, cameras)}\n\nThis call took {time.perf_counter() - t0:.0f} s."
    )


if __name__ == "__main__":
    main()
