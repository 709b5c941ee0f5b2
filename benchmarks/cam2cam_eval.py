"""Camera-to-camera transfer scored against the target camera's own rendering of the same scene.

    python -m benchmarks.cam2cam_eval [--scenes 24] [--fit-scenes 16] [--pairs A:B,...] [--no-d30]

Per pair A -> B and scene (views of the test split's sources, shared by every pair; log-average luminance
log-uniform in 2-2000 cd/m^2): an illuminant (2500-8000 K, uniform in mired), an exposure compensation (+-1 EV) and
a focal length both lenses reach are drawn; A's program AE meters the scene, and both cameras shoot it with those
settings (each with its own highlight-tone priority rule) under that light. Every method sees A's camera JPEG and
its EXIF only, read from the file as a user's photo is, and is scored against B's camera JPEG (the truth: B's noise
and compression) and against B's noise-free render (B's pipeline on the clean RAW, not compressed).

Methods. *none*: A's photo as it is. *Fair*, fitted on other scenes (views of the train/val sources shot the same
way by both cameras): Reinhard's Lab transfer with B's statistics over those scenes (from the photo's own, and from
A's over the same scenes); a 3x3 matrix on linear RGB plus a per-channel tone curve fitted A -> B on them.
*Oracles*, fitted on the pair itself (they see B's truth): histogram matching; the best 3x3 matrix; the matrix with
curves. *Ceiling*: B shooting the scene again (another noise seed). *cam2cam*: :mod:`apps.cam2cam` with each
camera's learned ISPs, the illuminant estimated from the EXIF. *Diagnosis*: cam2cam given the true illuminant;
*direct*, B's render of B's RAW without the residual (``TransferSettings(residual=False)``); direct with a perfect
inverse (A's true clean camera RGB, true illuminant); B's forward ISP on B's own RAW (what a render by B's learned
forward ISP can reach).

Cameras: the shipped ones by name; ``canon-550d`` is the camera ``paramisp camera add`` made from a folder of that
simulated body (``user-canon-550d`` under ``--home``). Metrics on 8-bit outputs: PSNR, SSIM, mean CIEDE2000 (Lab,
D65) and ST-LPIPS. Differences with 95 % bootstrap intervals over scenes (each scene's value averaged over pairs
first, since the pairs share scenes). Prints Markdown; with ``--d30`` (default) also transfers the real Canon EOS
D30's camera JPEG to every shipped camera and saves ``docs/figures/cam2cam_d30.jpg``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from apps.cam2cam import CameraTransfer, TransferSettings
from apps.cam2cam.evaluation import (
    LabStatistics,
    PairShots,
    as_photo,
    draw_scenes,
    embedded_photo,
    histogram_matched,
    lab_statistics,
    mean_ciede2000,
    quantised,
    reinhard,
    scores,
    shoot_pair,
)
from benchmarks._figures import contact_sheet
from benchmarks.eval_isp import BOOTSTRAP
from core_isp.cameras import Camera, CameraStore, get_camera, resolve_camera, shipped_cameras
from core_isp.canonical import srgb_decode, srgb_encode
from core_isp.cfa import BAYER_PATTERNS, cfa_batch, colour_index_map
from core_isp.errors import MetadataWarning
from core_isp.image import CameraImage
from core_isp.io.writers import write_jpeg
from core_isp.isp import ISP, InferenceOptions, load_isp
from core_isp.metadata import CameraMetadata
from core_isp.metrics import bootstrap_interval
from core_isp.simulation.profile import CameraProfile
from core_isp.simulation.profiles import get_profile
from core_isp.simulation.render import RenderedShot, clean_raw_mosaic
from paramisp.machine import machine_line

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ("nikon-d7000:sony-a7r3", "sony-a7r3:nikon-d90", "nikon-d90:canon-550d")
#: Profiles whose camera is a user's (made by ``camera add`` from that body's folder), not the shipped one.
USER_CAMERAS = {"canon-550d": "user-canon-550d"}
SIZE = (256, 384)
SEED = 20261215
#: Pixels per fitting scene that the fair methods' fits use.
FIT_PIXELS = 20000
CURVE_KNOTS = 64

NONE = "none: A's photo"
FAIR = ("Reinhard, photo -> B's statistics", "Reinhard, A's -> B's statistics", "3x3 + curves, training scenes")
ORACLES = ("oracle: histogram matching", "oracle: best 3x3", "oracle: 3x3 + curves")
CEILING = "ceiling: B re-shoots"
OURS = "cam2cam"
DIAGNOSES = ("cam2cam, true illuminant", "cam2cam, direct", "direct, perfect inverse", "B's forward ISP on B's RAW")
METHODS = (NONE, *FAIR, *ORACLES, CEILING, OURS, *DIAGNOSES)
METRICS = (("psnr", "PSNR", "{:.2f}"), ("ssim", "SSIM", "{:.4f}"), ("de00", "ΔE00", "{:.2f}"),
           ("stlpips", "ST-LPIPS", "{:.4f}"))  # fmt: skip
TARGETS = {"true": "B's camera JPEG", "clean": "B's noise-free render"}


# -- the fitted methods, on (1, 3, H, W) sRGB -----------------------------------------------------------------------


@dataclass(frozen=True)
class MatrixCurves:
    """A 3x3 matrix on linear RGB, then per channel a monotone curve from the sRGB-encoded result to the output."""

    matrix: torch.Tensor  # (3, 3) float64
    knots: np.ndarray | None  # (3, CURVE_KNOTS) outputs at evenly spaced encoded inputs; None: no curves

    def apply(self, srgb: torch.Tensor) -> torch.Tensor:
        mixed = srgb_encode(torch.einsum("ij,bjhw->bihw", self.matrix, srgb_decode(srgb).double()).clamp(0, 1))
        if self.knots is None:
            return mixed.float()
        grid = np.linspace(0.0, 1.0, CURVE_KNOTS)
        curved = [np.interp(mixed[0, c].numpy(), grid, self.knots[c]) for c in range(3)]
        return torch.from_numpy(np.stack(curved))[None].float()


def fit_matrix_curves(sources: torch.Tensor, targets: torch.Tensor, curves: bool) -> MatrixCurves:
    """Least-squares 3x3 on linear RGB from ``sources`` to ``targets`` (sRGB images ``(1, 3, H, W)``, or pixel sets
    ``(1, 3, N, 1)``), then (``curves``) each channel's curve as the binned mean target against the mixed value,
    made non-decreasing."""
    lin_s, lin_t = (_flat(srgb_decode(x.double())) for x in (sources, targets))
    matrix = torch.linalg.lstsq(lin_s, lin_t).solution.T
    if not curves:
        return MatrixCurves(matrix, None)
    mixed = _flat(srgb_encode((lin_s @ matrix.T).clamp(0, 1).T[None, :, :, None])).numpy()
    wanted = _flat(targets.double()).numpy()
    grid = np.linspace(0.0, 1.0, CURVE_KNOTS)
    bins = np.clip(np.rint(mixed * (CURVE_KNOTS - 1)).astype(int), 0, CURVE_KNOTS - 1)
    knots = np.empty((3, CURVE_KNOTS))
    for c in range(3):
        count = np.bincount(bins[:, c], minlength=CURVE_KNOTS)
        total = np.bincount(bins[:, c], weights=wanted[:, c], minlength=CURVE_KNOTS)
        seen = count > 0
        knots[c] = np.maximum.accumulate(np.interp(grid, grid[seen], total[seen] / count[seen]))
    return MatrixCurves(matrix, knots)


def _flat(x: torch.Tensor) -> torch.Tensor:
    """Pixels of an image ``(1, 3, H, W)`` as rows ``(H * W, 3)``."""
    return x[0].reshape(3, -1).T


def paired_pixels(a: torch.Tensor, b: torch.Tensor, count: int, rng: np.random.Generator):
    """The same ``count`` random pixel positions of two images ``(1, 3, H, W)``, as pixel sets ``(1, 3, N, 1)``."""
    picked = torch.from_numpy(rng.choice(a.shape[-2] * a.shape[-1], size=count, replace=False))
    return tuple(x.reshape(1, 3, -1, 1)[:, :, picked] for x in (a, b))


@dataclass(frozen=True)
class FairFits:
    """What the fair methods learn from other scenes shot by both cameras."""

    lab_a: LabStatistics
    lab_b: LabStatistics
    matrix_curves: MatrixCurves


def fit_fair(pairs: Sequence[PairShots]) -> FairFits:
    rng = np.random.default_rng(SEED)
    samples = [paired_pixels(p.a.camera_srgb, p.b.camera_srgb, FIT_PIXELS, rng) for p in pairs]
    src, dst = (torch.cat(side, dim=2) for side in zip(*samples, strict=True))
    return FairFits(lab_statistics([p.a.camera_srgb for p in pairs]), lab_statistics([p.b.camera_srgb for p in pairs]),
                    fit_matrix_curves(src, dst, curves=True))  # fmt: skip


# -- cam2cam and its diagnoses -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrueRawInverse:
    """An "inverse ISP" that returns a shot's true clean RAW or camera RGB: the transfer with a perfect inverse.

    Like any inverse ISP it gives the camera's RGB ``(1, 3, H, W)`` with ``InferenceOptions(mosaic=False)`` (what
    the transfer asks for), else that RGB sampled through the record's CFA ``(1, 1, H, W)``. A
    :class:`RenderedShot` keeps only its clean mosaic, so the RGB is re-rendered with the simulator's own
    :func:`clean_raw_mosaic` in each Bayer phase: between them the four phases sample every colour at every pixel.
    Clipped at white, as the shot's ``clean_raw`` is."""

    profile: CameraProfile
    shot: RenderedShot
    name: str = "true clean RAW"

    def inverse(
        self, srgb: torch.Tensor, meta: Sequence[CameraMetadata], options: InferenceOptions | None = None
    ) -> torch.Tensor:
        if options is None or options.mosaic:
            return self._clean(meta[0].cfa_pattern)  # type: ignore[arg-type]
        height, width = self.shot.clean_raw.shape[-2:]
        rgb = torch.empty(1, 3, height, width)
        for pattern in BAYER_PATTERNS:
            rgb.scatter_(1, colour_index_map(cfa_batch([pattern]), height, width), self._clean(pattern))
        return rgb

    def _clean(self, pattern: str) -> torch.Tensor:
        """The shot's clean mosaic ``(1, 1, H, W)`` sampled in ``pattern`` (its ``clean_raw`` in the body's own)."""
        sampled = dataclasses.replace(self.profile, cfa_pattern=pattern)
        colour = (self.shot.metadata.wb_gains, np.asarray(self.shot.metadata.ccm_wb_cam_to_srgb))
        return clean_raw_mosaic(sampled, self.shot.scene, self.shot.settings, *colour).clamp(max=1.0).float()

    def forward(self, raw: torch.Tensor, meta: Sequence[CameraMetadata], options: object = None) -> torch.Tensor:
        raise NotImplementedError("a RAW holder renders nothing")


@dataclass(frozen=True)
class PairModels:
    source: Camera
    target: Camera
    inverse: ISP
    forward: ISP
    source_forward: ISP

    def transfer(self, photo: CameraImage, seed: int, inverse: ISP | None = None, wb: str | None = None,
                 residual: bool = True, noise: bool = True):  # fmt: skip
        chain = CameraTransfer(self.source, self.target, inverse or self.inverse, self.forward,
                               TransferSettings(white_balance=wb, residual=residual, noise=noise),
                               InferenceOptions(tile=None), self.source_forward)  # fmt: skip
        return chain.transfer(photo, seed)


def camera(profile: str, store: CameraStore) -> Camera:
    return get_camera(USER_CAMERAS.get(profile, profile), store)


# -- scoring ----------------------------------------------------------------------------------------------------


def evaluate_pair(pair: str, models: PairModels, tests: list, fits: FairFits, folder: Path) -> list[dict]:
    name_a, name_b = pair.split(":")
    a, b = get_profile(name_a), get_profile(name_b)
    rows = []
    for i, (scene, conditions) in enumerate(tests):
        shots = shoot_pair(a, b, scene, conditions, SEED + 10 * i)
        photo = as_photo(shots.a, folder / "photo.jpg")
        truth = shots.b.camera_srgb
        seed = SEED + i
        ours = models.transfer(photo, seed)
        outputs: dict[str, torch.Tensor] = {
            NONE: photo.pixels,
            FAIR[0]: reinhard(photo.pixels, None, fits.lab_b),
            FAIR[1]: reinhard(photo.pixels, fits.lab_a, fits.lab_b),
            FAIR[2]: fits.matrix_curves.apply(photo.pixels),
            ORACLES[0]: histogram_matched(photo.pixels, truth),
            ORACLES[1]: fit_matrix_curves(photo.pixels, truth, curves=False).apply(photo.pixels),
            ORACLES[2]: fit_matrix_curves(photo.pixels, truth, curves=True).apply(photo.pixels),
            CEILING: shots.b_again.camera_srgb,
            OURS: ours.srgb.pixels,
        }
        true_light = f"{conditions.illuminant_cct_k:.0f}K"
        outputs[DIAGNOSES[0]] = models.transfer(photo, seed, wb=true_light).srgb.pixels
        outputs[DIAGNOSES[1]] = models.transfer(photo, seed, residual=False).srgb.pixels
        outputs[DIAGNOSES[2]] = models.transfer(photo, seed, TrueRawInverse(a, shots.a), true_light,
                                                residual=False).srgb.pixels  # fmt: skip
        outputs[DIAGNOSES[3]] = models.forward.forward(shots.b.noisy_raw, [shots.b.metadata])
        s = shots.a.settings
        for method, out in outputs.items():
            out = quantised(out)
            for target, reference in (("true", truth), ("clean", quantised(shots.b_clean_srgb))):
                rows.append({"pair": pair, "scene": i, "method": method, "target": target, **scores(out, reference),
                             "iso": s.iso, "exposure_time_s": s.exposure_time_s, "f_number": s.f_number,
                             "focal_length_mm": s.focal_length_mm, "cct_k": conditions.illuminant_cct_k,
                             "estimated_cct_k": ours.record["illuminant"]["cct_k"]})  # type: ignore[index]  # fmt: skip
        done = {r["method"]: r["psnr"] for r in rows[-2 * len(outputs) :] if r["target"] == "true"}
        print(f"{pair} scene {i} (ISO {s.iso:g}, {conditions.illuminant_cct_k:.0f} K): none {done[NONE]:.2f}, "
              f"best fair {max(done[m] for m in FAIR):.2f}, cam2cam {done[OURS]:.2f}, ceiling {done[CEILING]:.2f}",
              flush=True)  # fmt: skip
    return rows


# -- report -----------------------------------------------------------------------------------------------------


def mean_of(rows: list[dict], method: str, target: str, key: str, pair: str | None = None) -> float:
    return float(np.mean([r[key] for r in rows if r["method"] == method and r["target"] == target
                          and (pair is None or r["pair"] == pair)]))  # fmt: skip


def per_scene(rows: list[dict], method: str, target: str, key: str) -> np.ndarray:
    scenes = sorted({r["scene"] for r in rows})
    return np.array([np.mean([r[key] for r in rows if r["method"] == method and r["target"] == target
                              and r["scene"] == s]) for s in scenes])  # fmt: skip


def table(rows: list[dict], pairs: Sequence[str], target: str) -> list[str]:
    head = [f"{p.replace(':', ' -> ')} PSNR" for p in pairs] + [f"all: {label}" for _, label, _ in METRICS]
    lines = [f"Against {TARGETS[target]}:", "", "| method | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for m in METHODS:
        cells = [f"{mean_of(rows, m, target, 'psnr', p):.2f}" for p in pairs]
        cells += [fmt.format(mean_of(rows, m, target, key)) for key, _, fmt in METRICS]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def differences(rows: list[dict], target: str) -> list[str]:
    lines = [f"cam2cam minus each method, against {TARGETS[target]} (per-scene means over pairs, 95 % bootstrap):", ""]
    lines += ["| minus | PSNR dB | ΔE00 | ST-LPIPS |", "|---|---:|---:|---:|"]
    for m in (NONE, *FAIR, *ORACLES):
        cells = []
        for key in ("psnr", "de00", "stlpips"):
            diff = per_scene(rows, OURS, target, key) - per_scene(rows, m, target, key)
            mean, lo, hi = bootstrap_interval(diff, samples=BOOTSTRAP)
            cells.append(f"{mean:+.3g} [{lo:+.3g}, {hi:+.3g}]")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def verdict(rows: list[dict]) -> list[str]:
    ours = mean_of(rows, OURS, "true", "psnr")
    best_fair = max((NONE, *FAIR), key=lambda m: mean_of(rows, m, "true", "psnr"))
    margin = ours - mean_of(rows, best_fair, "true", "psnr")
    beaten = [m for m in ORACLES if mean_of(rows, m, "true", "psnr") >= ours]
    return [f"Target (PSNR against B's camera JPEG): cam2cam {margin:+.2f} dB from the best of no transfer and the "
            f"fair methods ({best_fair}): {'met' if margin >= 3.0 else 'not met'} (>= +3 dB); ahead of every oracle: "
            f"{'yes' if not beaten else 'no, behind ' + ', '.join(beaten)}."]  # fmt: skip


# -- the real D30 -------------------------------------------------------------------------------------------------


D30 = ROOT / "tests" / "data" / "raw" / "canon_eos_d30.crw"
#: Long side of the D30 JPEG as transferred for the figure (its 1440 px on 2 CPU cores would take minutes per camera).
D30_LONG_SIDE = 576
#: The extra panel: a shipped camera "as if shot at" this ISO, to show its noise.
HIGH_ISO = ("sony-a7r3", 6400.0)


def d30_figure(path: Path) -> list[str]:
    """Transfer the D30 JPEG to every shipped camera (and one at a high ISO); save the panels; a table."""
    photo = embedded_photo(D30, D30_LONG_SIDE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        source = resolve_camera(None, photo.meta)  # an unknown body: the default one, camera-agnostic weights
    inverse, source_forward = load_isp(source, directions=("inverse",)), load_isp(source, directions=("forward",))
    options = InferenceOptions(tile=None)
    panels, lines = [(photo.pixels, "Canon EOS D30 camera JPEG")], []
    lines += ["| to | weights | illuminant | exposure gain | mean ΔE00 to the D30 JPEG |", "|---|---|---|---:|---:|"]
    runs = [(name, None) for name in shipped_cameras()] + [HIGH_ISO]
    for name, iso in runs:
        target = get_camera(name)
        forward = load_isp(target, directions=("forward",))
        chain = CameraTransfer(source, target, inverse, forward, TransferSettings(iso=iso), options, source_forward)
        result = chain.transfer(photo, seed=0)
        label = f"{name}" + (f", ISO {iso:g}" if iso else "")
        panels.append((result.srgb.pixels, label))
        de = mean_ciede2000(quantised(result.srgb.pixels), photo.pixels)
        r = result.record
        lines.append(f"| {label} | {forward.description} | {r['illuminant']['description']} | "  # type: ignore[index]
                     f"{r['exposure_gain']['total']:.3f} | {de:.2f} |")  # type: ignore[index]  # fmt: skip
    write_jpeg(path, contact_sheet(panels, columns=4), quality=90, overwrite=True)
    head = [f"The Canon EOS D30's camera JPEG ({photo.size_hw[1]} x {photo.size_hw[0]}, downscaled from 1440 x 960; "
            f"EXIF {photo.meta.exposure_time_s:.2f} s, f/{photo.meta.f_number:.1f}, ISO {photo.meta.iso:g}) from "
            f"{source.name}'s body with {inverse.description} to every shipped camera; figure: "
            f"`{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}`.", ""]  # fmt: skip
    return head + lines


def pair_models(pair: str, store: CameraStore) -> PairModels:
    """A's inverse and forward ISPs and B's forward ISP, as the command line loads them."""
    name_a, name_b = pair.split(":")
    source, target = camera(name_a, store), camera(name_b, store)
    models = PairModels(source, target, load_isp(source, directions=("inverse",)),
                        load_isp(target, directions=("forward",)),
                        load_isp(source, directions=("forward",)))  # fmt: skip
    print(f"{pair}: {models.inverse.description} -> {models.forward.description}", flush=True)  # type: ignore[attr-defined]
    return models


def study(pairs: Sequence[str], scenes: int, fit_scenes: int, store: CameraStore) -> list[dict]:
    """Every pair on the same test scenes, the fair methods fitted per pair on the same training scenes."""
    tests = draw_scenes(("test",), scenes, SEED, SIZE)
    training = draw_scenes(("train", "val"), fit_scenes, SEED + 1, SIZE)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for pair in pairs:
            name_a, name_b = pair.split(":")
            a, b = get_profile(name_a), get_profile(name_b)
            fits = fit_fair([shoot_pair(a, b, s, c, SEED - 10 * (k + 1)) for k, (s, c) in enumerate(training)])
            rows += evaluate_pair(pair, pair_models(pair, store), tests, fits, Path(tmp))
    return rows


# -- what the transfer changes, against what differs between the two cameras' JPEGs -----------------------------


def change_scores(photo: torch.Tensor, output: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """How well the change a method makes to the photo, ``output - photo``, follows the change B's camera JPEG
    makes, ``truth - photo`` (images ``(1, 3, H, W)``): their correlation over pixels and channels (about zero
    mean: an uncentred cosine), the RMS of the true change (the error of leaving the photo as it is) and of what the
    method gets wrong. Scaling the change by the best factor leaves ``sqrt(1 - correlation^2)`` of the true
    change's RMS: ``-10 log10(1 - correlation^2)`` dB over leaving the photo alone, the most any shrinkage of it
    could gain."""
    applied, wanted = (x.double() - photo.double() for x in (output, truth))
    norm = float(applied.square().sum().sqrt() * wanted.square().sum().sqrt())
    correlation = float((applied * wanted).sum()) / max(norm, 1e-12)
    return {"correlation": correlation, "true_rms": float(wanted.square().mean().sqrt()),
            "error_rms": float((wanted - applied).square().mean().sqrt())}  # fmt: skip


def change_study(pairs: Sequence[str], scenes: int, split: str, store: CameraStore) -> list[dict]:
    """Per pair and scene of ``split`` (the test scenes are the main study's): :func:`change_scores` of cam2cam
    without B's noise, with the learned inverse and with a perfect one (A's true clean camera RGB, true light)."""
    views = draw_scenes((split,), scenes, SEED if split == "test" else SEED + 2, SIZE)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for pair in pairs:
            models = pair_models(pair, store)
            a, b = (get_profile(name) for name in pair.split(":"))
            for i, (scene, conditions) in enumerate(views):
                shots = shoot_pair(a, b, scene, conditions, SEED + 10 * i)
                photo = as_photo(shots.a, Path(tmp) / "photo.jpg")
                perfect, light = TrueRawInverse(a, shots.a), f"{conditions.illuminant_cct_k:.0f}K"
                outputs = {
                    "learned inverse": models.transfer(photo, SEED + i, noise=False),
                    "perfect inverse": models.transfer(photo, SEED + i, perfect, light, noise=False),
                }
                for inverse, result in outputs.items():
                    rows.append({"pair": pair, "scene": i, "inverse": inverse,
                                 **change_scores(photo.pixels, result.srgb.pixels, shots.b.camera_srgb)})  # fmt: skip
                print(f"{pair} scene {i}: correlation " + ", ".join(f"{r['inverse']} {r['correlation']:.3f}"
                                                                    for r in rows[-2:]), flush=True)  # fmt: skip
    return rows


def change_table(rows: list[dict], pairs: Sequence[str]) -> list[str]:
    """Per pair and inverse: means over scenes, with 95 % bootstrap intervals over scenes for the correlation and for
    the error's share of the true change (above 1: the change costs more than leaving the photo alone)."""
    lines = ["| pair | inverse | correlation with the true change | true change RMS | error RMS | "
             "error / true change | best scale of the change: dB over no transfer |",
             "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for pair in pairs:
        for inverse in ("learned inverse", "perfect inverse"):
            picked = [r for r in rows if r["pair"] == pair and r["inverse"] == inverse]
            rho = np.array([r["correlation"] for r in picked])
            share = np.array([r["error_rms"] / r["true_rms"] for r in picked])
            gain = float(np.mean(-10 * np.log10(1 - np.clip(rho, 0, None) ** 2)))
            cells = [f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in
                     (bootstrap_interval(v, samples=BOOTSTRAP) for v in (rho, share))]  # fmt: skip
            lines.append(f"| {pair.replace(':', ' -> ')} | {inverse} | {cells[0]} | "
                         f"{np.mean([r['true_rms'] for r in picked]):.4f} | "
                         f"{np.mean([r['error_rms'] for r in picked]):.4f} | {cells[1]} | {gain:+.2f} |")  # fmt: skip
    return lines


# -- main -------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=24, help="test scenes (0: the D30 part only)")
    parser.add_argument("--fit-scenes", type=int, default=16, help="train/val scenes the fair methods fit on")
    parser.add_argument("--pairs", default=",".join(PAIRS), help="A:B,... simulated profile names")
    parser.add_argument("--home", type=Path, default=ROOT / "runs" / "eval-user-cameras" / "home",
                        help="the camera store holding user-canon-550d")  # fmt: skip
    parser.add_argument("--d30", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--figure", type=Path, default=ROOT / "docs" / "figures" / "cam2cam_d30.jpg")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "cam2cam-eval")
    parser.add_argument("--change", choices=("val", "test"),
                        help="only the change diagnosis (change_study) on this split's scenes")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    store = CameraStore(args.home)
    pairs = args.pairs.split(",")
    report = [f"Machine: {machine_line()}", ""]
    if args.change:
        rows = change_study(pairs, args.scenes, args.change, store)
        report += [f"{args.scenes} {args.change} scenes x {len(pairs)} pairs, {SIZE[1]} x {SIZE[0]} px, against B's "
                   "camera JPEG, B's noise left out of the transfer:", "", *change_table(rows, pairs)]  # fmt: skip
    elif args.scenes > 0:
        rows = study(pairs, args.scenes, args.fit_scenes, store)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "rows.json").write_text(json.dumps(rows, indent=1))
        report += [f"{args.scenes} test scenes x {len(pairs)} pairs, {SIZE[1]} x {SIZE[0]} px; fair methods fitted "
                   f"on {args.fit_scenes} train/val scenes per pair.", ""]  # fmt: skip
        for target in TARGETS:
            report += [*table(rows, pairs, target), "", *differences(rows, target), ""]
        report += verdict(rows)
    if args.d30 and not args.change:
        report += ["", "### The real Canon EOS D30 JPEG to each shipped camera", "", *d30_figure(args.figure)]
    print("\n" + "\n".join(report) + f"\n\nThis call took {time.perf_counter() - t0:.0f} s.")


if __name__ == "__main__":
    main()
