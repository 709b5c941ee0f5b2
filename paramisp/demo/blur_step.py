"""The demo's blur steps: blurry photos synthesised in RAW (``synth-blur``) and deblurring in RAW (``deblur``), each
beside its sRGB baseline.

``run_synth``: :mod:`apps.dataset_synth` on the user's ``--clip`` (windows of consecutive frames) or, without one,
on a bundled real photo with EXIF shaken along drawn hand-held paths (the tool's photo mode), each sample shown as
its sharp target, the synthesised blurry photo and the classic sRGB mean of the same sub-frames. Measured: a
simulated camera's true blurry capture of a TEST-split scene (:func:`core_isp.simulation.blur_capture.capture_blur`:
the linear scene averaged over the motion, then the sensor and the camera's own JPEG engine) against synth-blur made
from the capture's short frames and against the sRGB mean of those frames, as ``benchmarks/blur_realism.py`` does
over many scenes and cameras.

``run_deblur``: a simulated camera's blurry capture of a TEST-split scene, deblurred by the RAW path (the shipped
RAW weights through the camera's inverse and forward ISPs, :class:`apps.deblur.Deblurrer`) and by the shipped sRGB
baseline net, scored against the unmoved scene rendered noise-free by the camera's pipeline at the blurry shot's
settings, as ``benchmarks/deblur_eval.py`` does. Nothing either step is scored against comes from the tool under
test.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import kornia
import numpy as np
import torch

from apps.cam2cam.evaluation import quantised
from apps.dataset_synth import DEFAULT_PAIR, BlurSample, BlurShotSpec, BlurSynthesizer, SynthSettings
from apps.dataset_synth.sources import plan_samples, read_samples
from apps.deblur import Deblurrer, srgb_average
from core_isp import orientation
from core_isp.cameras import DEFAULT_CAMERA, get_camera
from core_isp.image import CameraImage, downscaled
from core_isp.io import read_image
from core_isp.io.writers import write_png
from core_isp.isp import load_isp
from core_isp.metrics import psnr, ssim, st_lpips
from core_isp.simulation.blur_capture import BlurCapture, capture_blur, warp_scene
from core_isp.simulation.bracket import photo_of
from core_isp.simulation.profiles import get_profile
from core_isp.simulation.scenes import Scene, draw_view, load_manifest, scene_data_dir
from core_isp.simulation.shake import ShakePath
from paramisp.demo.context import DemoContext, to_display, working_size
from paramisp.demo.report import Figure, Panel, Section, Table

KEY_SYNTH, KEY_DEBLUR = "synth-blur", "deblur"
#: Keep these steps' draws apart from the other steps' (see :meth:`DemoContext.rng`).
SALT_SYNTH, SALT_DEBLUR = 2, 3
#: synth-blur's default camera; one of the simulated cameras, so the measured parts have a true capture of it.
CAMERA = DEFAULT_CAMERA
#: A real 800 x 600 camera JPEG with full exposure EXIF and a white facade that clips: highlights to smear.
PHOTO = scene_data_dir() / "photos" / "nikon_e950.jpg"
SAMPLES = 2
#: Consecutive clip frames per blurry sample (each costs one inverse ISP pass).
CLIP_WINDOW = 5
#: Short frames per true capture and instants per frame, as the blur benchmarks shoot them.
FRAMES, SUBSTEPS = 7, 4

SYNTH, MEAN = "synth-blur (RAW)", "sRGB mean"
INPUT, SRGB_NET, RAW_NET = "blurry input", "sRGB net", "RAW path (ours)"
ROUND_TRIP = "ISP round trip, no net (diagnosis)"


# -- synth-blur ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShownSample:
    """A synth-blur sample and the classic construction from the same sub-frames, for the report."""

    name: str
    sample: BlurSample
    #: The sRGB mean of the sub-frames ``(1, 3, h, w)``, and the sharp frame that construction pairs it with (the
    #: unshaken photo, or a window's centre frame): each blur's detail is judged against its own sharp frame.
    srgb_mean: torch.Tensor
    srgb_sharp: torch.Tensor

    def detail_left(self) -> tuple[float, float]:
        """Share of the sharp frame's detail (:func:`detail_energy`) left in synth-blur's and the sRGB mean's blur."""
        ours = detail_energy(self.sample.blurry.pixels) / detail_energy(self.sample.sharp.pixels)
        return ours, detail_energy(self.srgb_mean) / detail_energy(self.srgb_sharp)


def run_synth(ctx: DemoContext) -> Section:
    """Blurry samples from the clip or the bundled photo, then synth-blur and the sRGB mean against a true capture."""
    folder = ctx.step_dir(KEY_SYNTH)
    rng = ctx.rng(SALT_SYNTH)
    camera = get_camera(CAMERA)
    isp = load_isp(camera, pair=DEFAULT_PAIR)
    synth = BlurSynthesizer(camera, isp, isp, SynthSettings(), ctx.options)
    seeds = [int(s) for s in rng.integers(0, 2**62, SAMPLES)]
    if ctx.clip is not None:
        made = clip_samples(synth, ctx.clip, ctx.long_side_px, seeds, ctx)
        source = f"{SAMPLES} windows of {CLIP_WINDOW} consecutive frames of {ctx.clip.name}"
    else:
        photo = downscaled(read_image(PHOTO, to="sensor"), ctx.long_side_px)
        samples = synth.photo_samples(photo, seeds, lambda s: ctx.track(s, "synth-blur samples", len(seeds)))
        # downscaled() keeps whole Bayer cells, so the photo is the samples' size.
        made = [ShownSample(f"{PHOTO.stem}_{k}", s, shaken_srgb_mean(photo, s), photo.pixels)
                for k, s in enumerate(samples)]  # fmt: skip
        source = f"the bundled photo {PHOTO.name} (real EXIF), shaken along {SAMPLES} drawn hand-held paths"
    written = write_samples(folder / "samples", made)
    capture = capture_blur(get_profile(CAMERA), draw_test_scene(rng, working_size(ctx.long_side_px * 3 // 4)),
                           int(rng.integers(1 << 31)), frames=FRAMES, substeps=SUBSTEPS)  # fmt: skip
    truth, outputs = true_capture_outputs(synth, capture, int(rng.integers(1 << 31)))
    scores = {name: image_scores(out, truth) for name, out in outputs.items()}
    clean = {name: image_scores(out, quantised(capture.blurry_clean_srgb)) for name, out in outputs.items()}
    written += write_true_capture(folder / "true_capture", capture, outputs)
    ours, mean = scores[SYNTH], scores[MEAN]
    gap = ours["psnr"] - mean["psnr"]
    s = capture.blurry.settings
    summary = (
        f"synth-blur made {len(made)} blurry photos from {source} with the {CAMERA} ISPs: each sample's light is "
        f"added up in RAW, clipped and given the shot's noise, beside the classic sRGB mean of the same sub-frames. "
        f"On a simulated {CAMERA} capture of a test-split scene ({s.exposure_time_s * 1e3:.1f} ms, ISO {s.iso:g}), "
        f"synth-blur from the capture's {FRAMES} short frames scores {ours['psnr']:.2f} dB / SSIM {ours['ssim']:.3f} "
        f"against the true blurry shot, the sRGB mean {mean['psnr']:.2f} dB / {mean['ssim']:.3f}: synth-blur "
        f"{'beats' if gap > 0 else 'loses to'} the sRGB mean by {abs(gap):.2f} dB here. One small capture decides "
        f"nothing; benchmarks/blur_realism.py scores 24 captures."
    )
    return Section(
        key=KEY_SYNTH,
        title="Blur synthesis in RAW",
        summary=summary,
        measured_against=(
            f"Baseline: the mean of the same frames' sRGB pixels (GoPro/REDS construction); straw: the centre frame "
            f"alone. Ground truth: the blurry shot the simulated {CAMERA} really takes of the same motion "
            f"(core_isp.simulation.blur_capture: linear scene averaged over the path, then the camera's sensor and "
            f"JPEG engine). The photo samples have no ground truth and are shown only."
        ),
        figures=[samples_figure(shown) for shown in made] + [true_capture_figure(capture, outputs, scores)],
        tables=[samples_table(made), true_capture_table(scores, clean, capture)],
        outputs=[str(p.relative_to(ctx.out_dir)) for p in written],
    )




def shaken_srgb_mean(photo: CameraImage, sample: BlurSample) -> torch.Tensor:
    """The classic construction for a photo: its sRGB pixels moved along the sample's shake path and averaged,
    ``(1, 3, h, w)`` at the sample's size (whole Bayer cells)."""
    h, w = sample.blurry.size_hw
    path = ShakePath.from_dict(sample.record["shake"])  # type: ignore[arg-type]
    return warp_scene(photo.pixels[0, :, :h, :w], path.affines((h, w))).mean(dim=0, keepdim=True).float()


def clip_samples(
    synth: BlurSynthesizer, clip: Path, long_side_px: int, seeds: Sequence[int], ctx: DemoContext
) -> list[ShownSample]:
    """Samples from windows of :data:`CLIP_WINDOW` consecutive frames spread over the clip, frames downscaled to
    ``long_side_px``, each with the sRGB mean of its window."""
    plans = plan_samples([clip], CLIP_WINDOW)
    picks = sorted({round(k * (len(plans) - 1) / max(1, len(seeds) - 1)) for k in range(len(seeds))})
    made = []
    stream = read_samples([plans[i] for i in picks])
    for (plan, frames), seed in ctx.track(zip(stream, seeds, strict=False), "synth-blur samples", len(picks)):
        small = [downscaled(f, long_side_px) for f in frames]
        sample = synth.from_frames(small, seed, plan.frame_interval_s)
        h, w = sample.blurry.size_hw
        mean, centre = srgb_average(small)
        made.append(ShownSample(plan.name, sample, mean.pixels[..., :h, :w], centre.pixels[..., :h, :w]))
    return made


def true_capture_outputs(
    synth: BlurSynthesizer, capture: BlurCapture, seed: int
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The true blurry shot ``(1, 3, H, W)`` and each method's blurry shot made from the capture's frames as a user
    has them (JPEG pixels and EXIF), the tool told the blurry shot's exposure, as ``synth-blur --exposure-time ...
    --iso ...`` would be."""
    photos = [photo_of(f) for f in capture.frames]
    s = capture.blurry.settings
    shot = BlurShotSpec(s.exposure_time_s, s.iso, s.f_number, s.focal_length_mm)
    told = dataclasses.replace(synth, settings=dataclasses.replace(synth.settings, shot=shot))
    outputs = {
        SYNTH: told.from_frames(photos, seed).blurry.pixels,
        MEAN: srgb_average(photos)[0].pixels,
        "centre frame alone (straw)": photos[len(photos) // 2].pixels,
    }
    return capture.blurry.camera_srgb, outputs


def write_samples(folder: Path, made: list[ShownSample]) -> list[Path]:
    """Each sample's sharp target, synth-blur and sRGB mean as upright PNGs, and their records in one JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for shown in made:
        for kind, image in (("sharp", shown.sample.sharp.pixels), ("synth_blur", shown.sample.blurry.pixels),
                            ("srgb_mean", shown.srgb_mean)):  # fmt: skip
            written.append(write_png(folder / f"{shown.name}_{kind}.png", _upright(image, shown), overwrite=True))
    records = folder / "records.json"
    records.write_text(json.dumps({m.name: m.sample.record for m in made}, indent=1))
    return [*written, records]


def write_true_capture(folder: Path, capture: BlurCapture, outputs: dict[str, torch.Tensor]) -> list[Path]:
    """The true blurry JPEG as the camera wrote it (with EXIF) and the blurry shots made from its frames."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if capture.blurry.camera_jpeg is not None:
        truth = folder / "true_blurry.jpg"
        truth.write_bytes(capture.blurry.camera_jpeg)
    else:
        truth = write_png(folder / "true_blurry.png", capture.blurry.camera_srgb, overwrite=True)
    written.append(truth)
    for name, image in outputs.items():
        written.append(write_png(folder / f"{_slug(name)}.png", image, overwrite=True))
    return written


def samples_figure(shown: ShownSample) -> Figure:
    """Sharp target, synth-blur and sRGB mean of one sample, upright, error maps against the sharp target."""
    sample = shown.sample
    ours, mean = shown.detail_left()
    panels = [Panel("sharp target", to_display(_upright(sample.sharp.pixels, shown))),
              Panel(SYNTH, to_display(_upright(sample.blurry.pixels, shown)), f"detail left {100 * ours:.0f} %"),
              Panel(MEAN, to_display(_upright(shown.srgb_mean, shown)), f"detail left {100 * mean:.0f} %")]  # fmt: skip
    shot = sample.record["shot"]
    return Figure(f"Sample {shown.name}", panels, reference=0,
                  note=f"{sample.record['frames']} sub-frames, {shot['exposure_time_s'] * 1e3:.1f} ms, "
                       f"ISO {shot['iso']:g}; no ground truth: shown only.")  # fmt: skip


def samples_table(made: list[ShownSample]) -> Table:
    """One row per sample: what was drawn for it and how much detail each blur left."""
    rows: list[list[str | float | int]] = []
    for shown in made:
        r = shown.sample.record
        extent = r.get("shake_extent_px")
        ours, mean = shown.detail_left()
        rows.append([shown.name, int(r["frames"]), int(r["interpolated_per_gap"]),
                     round(r["shot"]["exposure_time_s"] * 1e3, 2), r["shot"]["iso"],
                     "-" if extent is None else round(float(extent), 1), round(100 * float(r["clipped_share"]), 2),
                     round(float(r["highlight_gain"]), 2), round(100 * ours, 1), round(100 * mean, 1)])  # fmt: skip
    return Table(
        "synth-blur samples",
        ["sample", "sub-frames", "in-between frames per gap", "exposure (ms)", "ISO", "shake (px)",
         "clipped in RAW (%)", "highlight gain", f"detail left, {SYNTH} (%)", f"detail left, {MEAN} (%)"],
        rows,
        note="Detail left: the blurry image's mean squared Laplacian as a share of its own sharp frame's (synth-blur's "
        "sharp target; for the sRGB mean the unshaken photo or the window's centre frame); blur lowers it, noise "
        "raises it. The shot's exposure and ISO are derived from the frames' EXIF (video frames have none: "
        "synth-blur's documented defaults, exposure = the frame interval), as synth-blur does by default.",
    )  # fmt: skip


def true_capture_figure(
    capture: BlurCapture, outputs: dict[str, torch.Tensor], scores: dict[str, dict[str, float]]
) -> Figure:
    """The true blurry capture beside each method's blurry shot, error maps against the truth."""
    panels = [Panel("true blurry capture", to_display(capture.blurry.camera_srgb))]
    panels += [Panel(name, to_display(image), f"PSNR {scores[name]['psnr']:.2f} dB")
               for name, image in outputs.items()]  # fmt: skip
    return Figure("Measured: a true capture against blur made from its frames", panels, reference=0,
                  note=f"Simulated {CAMERA}, test-split scene {capture.blurry.scene.source_id}, "
                       f"shake {capture.path.extent_px(capture.blurry.metadata.image_size_hw):.1f} px.")  # fmt: skip


def true_capture_table(
    scores: dict[str, dict[str, float]], clean: dict[str, dict[str, float]], capture: BlurCapture
) -> Table:
    """Each method against the true blurry capture and against its noise-free render."""
    s, f = capture.blurry.settings, capture.frames[0].settings
    rows: list[list[str | float | int]] = [
        [name, round(v["psnr"], 2), round(v["ssim"], 4), round(clean[name]["psnr"], 2)] for name, v in scores.items()
    ]
    return Table(
        "Against the true blurry capture",
        ["method", "PSNR (dB)", "SSIM", "PSNR vs noise-free blurry (dB)"],
        rows,
        note=f"{capture.blurry.metadata.image_size_hw[1]} x {capture.blurry.metadata.image_size_hw[0]} px; blurry "
        f"shot {s.exposure_time_s * 1e3:.1f} ms at ISO {s.iso:g}, {FRAMES} frames of "
        f"{f.exposure_time_s * 1e3:.2f} ms at ISO {f.iso:g}. The methods see only the frames' JPEG pixels and EXIF "
        f"(synth-blur is also told the blurry shot's exposure). Outputs quantised to 8 bits as their files store "
        f"them.",
    )  # fmt: skip


# -- deblur --------------------------------------------------------------------------------------------------------


def run_deblur(ctx: DemoContext) -> Section:
    """A true blurry capture deblurred by the RAW path and the sRGB net, scored against the exact sharp target."""
    folder = ctx.step_dir(KEY_DEBLUR)
    rng = ctx.rng(SALT_DEBLUR)
    capture = capture_blur(get_profile(CAMERA), draw_test_scene(rng, working_size(ctx.long_side_px)),
                           int(rng.integers(1 << 31)), frames=FRAMES, substeps=SUBSTEPS)  # fmt: skip
    photo, target = photo_of(capture.blurry), quantised(capture.sharp_clean_srgb)
    isp = load_isp(get_camera(CAMERA))
    raw_path = Deblurrer.load(camera=CAMERA, options=ctx.options, isp=isp)
    srgb_net = Deblurrer.load(camera=CAMERA, options=ctx.options, isp=isp, domain="srgb")
    jobs = {SRGB_NET: srgb_net, RAW_NET: raw_path, ROUND_TRIP: identity_of(raw_path)}
    outputs = {INPUT: photo.pixels}
    for name in ctx.track(jobs, "deblur", len(jobs)):
        outputs[name] = jobs[name].deblur(photo).srgb.pixels
    scores = {name: image_scores(out, target, perceptual=True) for name, out in outputs.items()}
    written = write_deblur(folder, capture, target, outputs)
    a, c, d, r = (scores[k]["psnr"] for k in (INPUT, SRGB_NET, RAW_NET, ROUND_TRIP))
    lpips = {k: scores[k]["st_lpips"] for k in (INPUT, SRGB_NET, RAW_NET)}
    s = capture.blurry.settings
    summary = (
        f"A simulated {CAMERA} blurry shot of a test-split scene ({s.exposure_time_s * 1e3:.1f} ms, ISO {s.iso:g}, "
        f"{capture.path.extent_px(photo.size_hw):.1f} px of shake) was deblurred by the shipped RAW weights through "
        f"the camera's inverse and forward ISPs and by the shipped sRGB net. Against the exact sharp target the RAW "
        f"path scores {d:.2f} dB: {_signed(d - a)} dB against the blurry input ({a:.2f} dB) and {_signed(d - c)} dB "
        f"against the sRGB net ({c:.2f} dB), so on this capture it {'beats' if d > a else 'does not beat'} the input "
        f"in PSNR. The RAW path returns the photo plus the change the network made to the render (the round-trip "
        f"correction); without it, the photo's round trip through the ISPs alone would move it by {_signed(r - a)} "
        f"dB. ST-LPIPS (lower is closer): input {lpips[INPUT]:.3f}, sRGB net "
        f"{lpips[SRGB_NET]:.3f}, RAW path {lpips[RAW_NET]:.3f}."
    )
    return Section(
        key=KEY_DEBLUR,
        title="RAW-domain deblurring",
        summary=summary,
        measured_against=(
            f"Baselines: the blurry input itself and the same network trained in sRGB on synth-blur pairs. Ground "
            f"truth: the unmoved scene rendered noise-free by the simulated {CAMERA}'s own pipeline at the blurry "
            f"shot's settings (core_isp.simulation.blur_capture), exact to the pixel."
        ),
        figures=[deblur_figure(target, outputs, scores)],
        tables=[deblur_table(scores, raw_path, srgb_net)],
        outputs=[str(p.relative_to(ctx.out_dir)) for p in written],
    )


def identity_of(deblurrer: Deblurrer) -> Deblurrer:
    """The same path with its network's output layer zeroed (the network returns its input: it predicts a residual)
    and without the round-trip correction, which would give the photo back: what remains is the photo's round trip
    through the ISPs."""
    model = copy.deepcopy(deblurrer.model)
    torch.nn.init.zeros_(model.ending.weight)
    torch.nn.init.zeros_(model.ending.bias)
    return dataclasses.replace(deblurrer, model=model, residual=False)


def write_deblur(
    folder: Path, capture: BlurCapture, target: torch.Tensor, outputs: dict[str, torch.Tensor]
) -> list[Path]:
    """The blurry input as the camera wrote it (JPEG with EXIF), the target and each deblurred image as PNG."""
    written = []
    if capture.blurry.camera_jpeg is not None:
        blurry = folder / "blurry_input.jpg"
        blurry.write_bytes(capture.blurry.camera_jpeg)
        written.append(blurry)
    written.append(write_png(folder / "sharp_target.png", target, overwrite=True))
    for name in (SRGB_NET, RAW_NET):
        written.append(write_png(folder / f"deblurred_{_slug(name)}.png", outputs[name], overwrite=True))
    return written


def deblur_figure(
    target: torch.Tensor, outputs: dict[str, torch.Tensor], scores: dict[str, dict[str, float]]
) -> Figure:
    """Sharp target, blurry input and both deblurred images, error maps against the target."""
    panels = [Panel("sharp target", to_display(target))]
    panels += [Panel(name, to_display(outputs[name]), f"PSNR {scores[name]['psnr']:.2f} dB")
               for name in (INPUT, SRGB_NET, RAW_NET)]  # fmt: skip
    return Figure("Deblurring a true blurry capture", panels, reference=0)


def deblur_table(scores: dict[str, dict[str, float]], raw_path: Deblurrer, srgb_net: Deblurrer) -> Table:
    """Each method against the sharp target, with the weights' training records."""
    base = scores[INPUT]["psnr"]
    rows: list[list[str | float | int]] = [
        [name, round(v["psnr"], 2), round(v["psnr"] - base, 2), round(v["ssim"], 4), round(v["st_lpips"], 4)]
        for name, v in scores.items()
    ]
    return Table(
        "Against the sharp target",
        ["method", "PSNR (dB)", "vs input (dB)", "SSIM", "ST-LPIPS (lower is better)"],
        rows,
        note=f"Weights: {_training(raw_path)}; {_training(srgb_net)}. The diagnosis row is the RAW path with its "
        f"network's output zeroed and without the round-trip correction: what the inverse and forward ISPs alone do "
        f"to the photo.",
    )


# -- shared --------------------------------------------------------------------------------------------------------


def draw_test_scene(rng: np.random.Generator, size_hw: tuple[int, int]) -> Scene:
    """A TEST-split view ``size_hw`` (:func:`draw_view`), as the blur benchmarks draw theirs."""
    return draw_view([s for s in load_manifest() if s.split == "test"], rng, size_hw)


def image_scores(pred: torch.Tensor, target: torch.Tensor, perceptual: bool = False) -> dict[str, float]:
    """PSNR and SSIM (and ST-LPIPS with ``perceptual``) of ``(1, 3, H, W)`` ``pred``, quantised to 8 bits as its
    file stores it, against ``target``."""
    out = quantised(pred)
    scores = {"psnr": float(psnr(out, target)[0]), "ssim": float(ssim(out, target)[0])}
    if perceptual:
        scores["st_lpips"] = float(st_lpips(out, target)[0])
    return scores


def detail_energy(image: torch.Tensor) -> float:
    """Mean squared Laplacian of ``(1, 3, H, W)`` sRGB, 2-pixel border left out: the fine detail blur removes."""
    lap = kornia.filters.laplacian(image.float(), 3)[..., 2:-2, 2:-2]
    return float(lap.square().mean())


def _upright(image: torch.Tensor, shown: ShownSample) -> torch.Tensor:
    return orientation.to_display(image, shown.sample.blurry.meta.orientation)


def _training(deblurrer: Deblurrer) -> str:
    record = json.loads(deblurrer.info.training)
    data = record.get("data", {})
    return (f"{deblurrer.weights.name} ({deblurrer.domain}, {record.get('steps')} steps on "
            f"{data.get('train_pairs')} synth-blur pairs)")  # fmt: skip


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def _slug(label: str) -> str:
    return label.split(" (")[0].replace(" ", "_").replace("-", "_").lower()
