"""The demo's ISP step: the learned ISP both ways on a real RAW and its camera JPEG, and a photo made a DNG.

Measured: the Canon EOS D30 RAW bundled with the tests and the camera's own JPEG embedded in it, registered onto the
RAW's grid (:mod:`core_isp.io.camera_jpeg`), on a centre crop. Forward, each ISP renders the RAW crop and is scored
against the camera JPEG; inverse, each turns the JPEG crop back into a mosaic with the RAW's metadata and is scored
against the true mosaic. The learned ISP is the one ``paramisp to-srgb`` picks for the file's make and model; the
baseline is the canonical pipeline with the same metadata. A flat image (the truth's mean) is scored beside them: on a
dark crop it puts the decibels in proportion. Shown with a check only: a bundled JPEG with EXIF through the steps
``paramisp to-raw`` takes, written as a DNG and read back by rawpy (LibRaw) and exifread; no true RAW exists for it.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rawpy
import torch
import torch.nn.functional as F

from core_isp import orientation
from core_isp.cameras import camera_for
from core_isp.chain import photo_to_raw, to_raw, to_srgb
from core_isp.errors import MetadataWarning
from core_isp.image import CameraImage, downscaled
from core_isp.io import find_camera_jpeg, read_image, read_raw, register_camera_jpeg, write_dng
from core_isp.io.camera_jpeg import Registration, warp_jpeg_to_raw
from core_isp.io.exif import exposure_tag_text
from core_isp.io.writers import write_png
from core_isp.isp import InferenceOptions, canonical_isp, load_isp
from core_isp.metadata import CameraMetadata
from core_isp.metrics import brightness_matched, psnr, ssim
from paramisp.demo.context import TEST_DATA, DemoContext, to_display
from paramisp.demo.report import Figure, Panel, Section, Table

KEY = "isp"
D30 = TEST_DATA / "raw" / "canon_eos_d30.crw"
#: A 640 x 480 Nikon COOLPIX P6000 photo with full exposure EXIF: the largest bundled one with all four values.
PHOTO = TEST_DATA / "exif" / "DSCN0010.jpg"
LEARNED, CANONICAL, FLAT = "learned ISP", "canonical ISP", "flat: the truth's mean (straw)"


@dataclass(frozen=True)
class D30Pair:
    """The D30 crop: its RAW with metadata ``(1, 1, h, w)``, the camera JPEG on the same grid ``(1, 3, h, w)``, and
    the registration the JPEG was placed by."""

    raw: CameraImage
    jpeg: torch.Tensor
    registration: Registration
    crop_tlhw: tuple[int, int, int, int]


@dataclass(frozen=True)
class DngCheck:
    """A photo turned into a DNG and read back: the photo and LibRaw's rendering, upright ``(1, 3, h, w)``, and what
    was expected of the DNG against what rawpy and exifread found in it."""

    dng: Path
    photo: torch.Tensor
    libraw: torch.Tensor
    rows: list[list[str | float | int]]
    all_ok: bool
    note: str


def run(ctx: DemoContext) -> Section:
    """The D30 RAW to sRGB and its JPEG back to RAW, each beside the canonical ISP; a photo to a readable DNG."""
    folder = ctx.step_dir(KEY)
    pair = d30_pair(ctx.long_side_px)
    meta = pair.raw.meta
    camera = camera_for(meta)
    learned = load_isp(camera)
    picked = f"no known camera is a {meta.model}" if camera is None else f"the file is a {camera.name}"
    canonical = canonical_isp()
    renders: dict[str, torch.Tensor] = {}
    mosaics: dict[str, torch.Tensor] = {}
    jpeg = pair.raw.with_pixels(pair.jpeg, space="srgb")
    for label, isp in ctx.track(((LEARNED, learned), (CANONICAL, canonical)), "isp: D30 both ways", 2):
        renders[label] = to_srgb(pair.raw, isp, ctx.options).pixels
        mosaics[label] = to_raw(jpeg, isp, pair.raw.metadata, ctx.options).pixels
    renders[FLAT] = flat_like(pair.jpeg)
    mosaics[FLAT] = flat_like(pair.raw.pixels)
    forward = {label: render_scores(x, pair.jpeg) for label, x in renders.items()}
    inverse = {label: mosaic_scores(x, pair.raw.pixels) for label, x in mosaics.items()}
    # The inverses' mosaics are shown as the true RAW is: through one canonical render with the true metadata.
    shown = {label: to_srgb(pair.raw.with_pixels(mosaics[label]), canonical).pixels for label in (LEARNED, CANONICAL)}

    written = [write_png(folder / "d30_camera_jpeg.png", upright(pair.jpeg, meta), overwrite=True)]
    for label, weights in ((LEARNED, learned.description), (CANONICAL, "fixed")):
        name = label.split()[0]
        written.append(write_png(folder / f"d30_{name}.png", upright(renders[label], meta), overwrite=True))
        about = f"paramisp demo: the Canon EOS D30 camera JPEG crop through the {label} inverse ({weights})"
        written.append(
            write_dng(folder / f"d30_{name}_inverse.dng", mosaics[label], meta, overwrite=True, description=about)
        )
    check = photo_to_dng(PHOTO, ctx.long_side_px, folder / f"{PHOTO.stem}.dng", ctx.options)
    written += [
        check.dng,
        write_png(folder / f"{PHOTO.stem}_photo.png", check.photo, overwrite=True),
        write_png(folder / f"{PHOTO.stem}_libraw.png", check.libraw, overwrite=True),
    ]

    read_back = "reads with the expected size, CFA pattern and exposure EXIF" if check.all_ok else "misreads"
    fl, fc, il, ic = forward[LEARNED], forward[CANONICAL], inverse[LEARNED], inverse[CANONICAL]
    height, width = pair.raw.size_hw
    level = float(pair.raw.pixels.mean())
    summary = (
        f"A {width} x {height} centre crop of the Canon EOS D30 RAW was rendered by the learned ISP with "
        f"{learned.description} (what `paramisp to-srgb` picks: {picked}) and by the canonical ISP; against Canon's "
        f"own JPEG the learned render scores {fl['psnr']:.2f} dB, {_versus(fl['psnr'], fc['psnr'])} the canonical "
        f"{fc['psnr']:.2f} dB, and {fl['psnr_gain']:.2f} against {fc['psnr_gain']:.2f} dB after one brightness gain "
        f"each. Back from that JPEG, the learned RAW lies {il['stops']:+.2f} stops from the true level (canonical "
        f"{ic['stops']:+.2f}) and scores {il['psnr_gain']:.2f} dB after one gain, "
        f"{_versus(il['psnr_gain'], ic['psnr_gain'])} the canonical inverse's {ic['psnr_gain']:.2f} dB (a flat image "
        f"at the true mean: {inverse[FLAT]['psnr_gain']:.2f} dB, the mosaic averaging {level:.1%} of white). "
        f"{PHOTO.name} went through "
        f"`paramisp to-raw`'s steps to a DNG that rawpy {read_back}."
    )
    return Section(
        key=KEY,
        title="ISP both ways on a real RAW",
        summary=summary,
        measured_against=(
            "Forward: the D30's own camera JPEG (embedded in the RAW file), registered onto the RAW's grid. Inverse: "
            "the D30's true RAW mosaic (normalised to black 0, white 1). Baseline: the canonical ISP (demosaic, the "
            "file's white balance and colour matrix, sRGB curve) and its exact inverse; a flat image at the truth's "
            "mean as a straw. The DNG: read back by rawpy (LibRaw) and exifread; no true RAW exists for the photo."
        ),
        figures=[
            forward_figure(pair.jpeg, renders, meta, forward),
            inverse_figure(renders[CANONICAL], shown, meta, inverse),
            dng_figure(check),
        ],
        tables=[forward_table(forward, pair, learned.description), inverse_table(inverse), dng_table(check)],
        outputs=[str(p.relative_to(ctx.out_dir)) for p in written],
    )


# -- the D30 pair ----------------------------------------------------------------------------------------------------


def d30_pair(long_side_px: int) -> D30Pair:
    """The D30 RAW and its registered camera JPEG on a centre crop of long side ``long_side_px`` (see
    :func:`crop_box`)."""
    with warnings.catch_warnings():
        # As `paramisp to-srgb`: the reader's notes on tags this old file lacks change nothing here.
        warnings.simplefilter("ignore", MetadataWarning)
        raw = read_raw(D30)
    camera_jpeg = find_camera_jpeg(D30).image
    registration = register_camera_jpeg(raw, camera_jpeg)
    top, left, height, width = crop_box(registration, long_side_px)
    # The JPEG's place on the crop's grid is its place on the RAW's, less the crop's corner.
    offset = (registration.offset_px[0] - top, registration.offset_px[1] - left)
    on_crop = dataclasses.replace(registration, raw_size_hw=(height, width), offset_px=offset)
    jpeg = warp_jpeg_to_raw(camera_jpeg, on_crop)
    mosaic = raw.pixels[..., top : top + height, left : left + width]
    meta = raw.meta.replace(image_size_hw=(height, width), default_crop_tlhw=None)
    return D30Pair(CameraImage(mosaic, (meta,), "raw"), jpeg, registration, (top, left, height, width))


def crop_box(registration: Registration, long_side_px: int) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` on the RAW's grid: centred on the registered JPEG's footprint, with its aspect
    and a long side of ``long_side_px`` (at most the footprint's), even sides and an even corner, so that the crop
    keeps the RAW's CFA phase."""
    (oy, ox), scale = registration.offset_px, registration.scale
    y0, x0 = math.ceil(oy), math.ceil(ox)
    y1 = math.floor(oy + registration.jpeg_size_hw[0] / scale)
    x1 = math.floor(ox + registration.jpeg_size_hw[1] / scale)
    # A pixel of margin on each side leaves room to round the corner to even inside the footprint.
    inner_h, inner_w = y1 - y0 - 2, x1 - x0 - 2
    ratio = min(1.0, long_side_px / max(inner_h, inner_w))
    height, width = 2 * int(inner_h * ratio / 2), 2 * int(inner_w * ratio / 2)
    return 2 * round((y0 + y1 - height) / 4), 2 * round((x0 + x1 - width) / 4), height, width


def upright(image: torch.Tensor, meta: CameraMetadata) -> torch.Tensor:
    """A sensor-orientation image ``(1, C, H, W)`` as the photo is viewed."""
    return orientation.to_display(image, meta.orientation)


# -- scores ----------------------------------------------------------------------------------------------------------


def flat_like(target: torch.Tensor) -> torch.Tensor:
    """Each channel of ``target`` ``(1, C, H, W)`` at its mean: a straw that knows the truth's level, not its
    content."""
    return target.mean(dim=(-2, -1), keepdim=True).expand_as(target).contiguous()


def render_scores(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """PSNR (dB) and SSIM of an sRGB render ``(1, 3, H, W)``, as it is and after the brightness oracle."""
    matched = brightness_matched(pred, target)
    return {
        "psnr": float(psnr(pred, target)),
        "ssim": float(ssim(pred, target)),
        "psnr_gain": float(psnr(matched, target)),
        "ssim_gain": float(ssim(matched, target)),
    }


def mosaic_scores(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """PSNR (dB) of a normalised mosaic ``(1, 1, H, W)``, as it is and after the brightness oracle, and its level
    against the truth's in stops (log2 of the ratio of means; the mosaic is linear in light)."""
    return {
        "psnr": float(psnr(pred, target)),
        "psnr_gain": float(psnr(brightness_matched(pred, target), target)),
        "stops": math.log2(max(float(pred.mean()), 1e-12) / float(target.mean())),
    }


# -- figures and tables ----------------------------------------------------------------------------------------------


def forward_figure(
    jpeg: torch.Tensor, renders: dict[str, torch.Tensor], meta: CameraMetadata, scores: dict[str, dict[str, float]]
) -> Figure:
    """The camera JPEG (the reference) beside the learned and canonical renders, upright."""
    panels = [Panel("Canon's camera JPEG (truth)", to_display(upright(jpeg, meta)))]
    for label in (LEARNED, CANONICAL):
        s = scores[label]
        caption = f"PSNR {s['psnr']:.1f} dB, {s['psnr_gain']:.1f} dB after one gain"
        panels.append(Panel(label, to_display(upright(renders[label], meta)), caption))
    return Figure(
        title="Canon EOS D30 RAW -> sRGB",
        panels=panels,
        reference=0,
        histograms=True,
        note="Error maps against the camera JPEG, carried onto the RAW's grid by its registration; it is stored at 2/3 "
        "of the sensor's resolution, hence softer than the renders.",
    )


def inverse_figure(
    truth: torch.Tensor, shown: dict[str, torch.Tensor], meta: CameraMetadata, scores: dict[str, dict[str, float]]
) -> Figure:
    """The true RAW's canonical render (the reference) beside those of the learned and canonical inverses' RAWs."""
    panels = [Panel("true RAW", to_display(upright(truth, meta)))]
    for label in (LEARNED, CANONICAL):
        s = scores[label]
        caption = f"mosaic PSNR {s['psnr']:.1f} dB, level {s['stops']:+.1f} stops"
        panels.append(Panel(f"{label} inverse", to_display(upright(shown[label], meta)), caption))
    return Figure(
        title="Canon's camera JPEG -> RAW, each RAW shown through one canonical render",
        panels=panels,
        reference=0,
        histograms=True,
        note="Every RAW here, the true one included, is rendered by the canonical ISP with the true RAW's metadata, "
        "so the panels differ only by their mosaics.",
    )


def forward_table(scores: dict[str, dict[str, float]], pair: D30Pair, weights: str) -> Table:
    """The renders' scores, with where the JPEG was registered and the crop taken."""
    reg = pair.registration
    rows: list[list[str | float | int]] = [
        [label, round(s["psnr"], 2), round(s["ssim"], 4), round(s["psnr_gain"], 2), round(s["ssim_gain"], 4)]
        for label, s in scores.items()
    ]
    return Table(
        title="RAW -> sRGB against Canon's camera JPEG (higher is better)",
        columns=["method", "PSNR (dB)", "SSIM", "PSNR after one gain (dB)", "SSIM after one gain"],
        rows=rows,
        note=f"Learned weights: {weights}. 'One gain': each output times its single least-squares gain against the "
        f"truth, an exposure oracle. The JPEG registered at scale {reg.scale:.4f} JPEG px per RAW px, offset "
        f"({reg.offset_px[0]:.2f}, {reg.offset_px[1]:.2f}) RAW px, gradient correlation {reg.score:.3f}; crop (top, "
        f"left, height, width) {pair.crop_tlhw} of the {reg.raw_size_hw[0]} x {reg.raw_size_hw[1]} mosaic.",
    )


def inverse_table(scores: dict[str, dict[str, float]]) -> Table:
    """The inverses' mosaics' scores and levels."""
    rows: list[list[str | float | int]] = [
        # (`or 0.0`: the straw's level rounds to -0.0, which would print as a sign.)
        [label, round(s["psnr"], 2), round(s["psnr_gain"], 2), round(s["stops"], 2) or 0.0]
        for label, s in scores.items()
    ]
    return Table(
        title="Camera JPEG -> RAW against the true mosaic (higher PSNR, level nearer 0 is better)",
        columns=["method", "PSNR (dB)", "PSNR after one gain (dB)", "level vs true (stops)"],
        rows=rows,
        note="PSNR of the normalised mosaic (0 black, 1 white level). Level: log2 of the mean over the true mean. A "
        "night shot near black makes every PSNR high; the flat straw shows how high.",
    )


# -- a photo to DNG --------------------------------------------------------------------------------------------------


def photo_to_dng(path: Path, long_side_px: int, target: Path, options: InferenceOptions) -> DngCheck:
    """``paramisp to-raw``'s steps on a photo area-downscaled to ``long_side_px``, written as a DNG at ``target`` and
    read back: the camera (by the photo's make and model, else the default body), the white balance estimated from
    the recorded exposure, that camera's inverse ISP."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MetadataWarning)
        photo = downscaled(read_image(path, to="sensor"), long_side_px)
    made = photo_to_raw(photo, options=options)
    meta = made.raw.meta
    write_dng(target, made.raw.pixels[0, 0], meta, overwrite=True,
              description=f"paramisp demo from {path.name}: {made.describe()}")  # fmt: skip
    with rawpy.imread(str(target)) as dng:
        sizes = dng.sizes
        cfa = "".join(chr(dng.color_desc[site]) for site in dng.raw_pattern.flatten())
        rendered = dng.postprocess(use_camera_wb=True)
    shown = upright(photo.pixels, photo.meta)
    height, width = photo.size_hw
    shown_hw = (int(shown.shape[-2]), int(shown.shape[-1]))
    rows: list[list[str | float | int]] = [
        ["mosaic (width x height)", f"{width} x {height}", f"{sizes.raw_width} x {sizes.raw_height}",
         _yes((sizes.raw_height, sizes.raw_width) == (height, width))],
        ["LibRaw's render, upright", f"{shown_hw[1]} x {shown_hw[0]}", f"{rendered.shape[1]} x {rendered.shape[0]}",
         _yes(rendered.shape[:2] == shown_hw)],
        ["CFA pattern", str(meta.cfa_pattern), cfa, _yes(cfa == meta.cfa_pattern)],
    ]  # fmt: skip
    before, after = exposure_tag_text(path), exposure_tag_text(target)
    rows += [[tag.split()[-1], value, after.get(tag, "absent"), _yes(after.get(tag) == value)]
             for tag, value in before.items()]  # fmt: skip
    all_ok = all(row[-1] == "yes" for row in rows)
    # The size rows above say whether LibRaw kept the size; the panels must match pixel for pixel either way.
    libraw = torch.from_numpy(rendered.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    libraw = F.interpolate(libraw, size=shown_hw, mode="area")
    likeness = round(render_scores(libraw, shown)["psnr_gain"], 2)
    rows.append(["LibRaw's render vs the photo, PSNR after one gain (dB)", "", likeness, ""])
    said = "".join(f" Warned: {w.message}." for w in caught)
    note = f"Made with the {made.describe()}; {target.name} is {target.stat().st_size // 1024} KiB.{said}"
    return DngCheck(target, shown, libraw, rows, all_ok, note)


def dng_figure(check: DngCheck) -> Figure:
    """The photo (the reference) beside LibRaw's rendering of the DNG made from it."""
    panels = [
        Panel(f"{PHOTO.name}, the input", to_display(check.photo)),
        Panel("LibRaw's rendering of the DNG", to_display(check.libraw)),
    ]
    return Figure(title=f"{PHOTO.name} made a DNG, and LibRaw's own rendering of it", panels=panels, reference=0,
                  note=check.note)  # fmt: skip


def dng_table(check: DngCheck) -> Table:
    """What the DNG was to be beside what rawpy and exifread read in it."""
    return Table(
        title=f"The DNG of {PHOTO.name}, read back",
        columns=["check", "expected", "read back", "ok"],
        rows=check.rows,
        note="Sizes and CFA pattern from rawpy (LibRaw), exposure EXIF from exifread, against the photo or what was "
        "written. Last row: LibRaw's rendering (as-shot white balance, its own colour and tone) against the photo "
        "after one brightness gain; no true RAW exists for this photo.",
    )


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


def _versus(ours: float, other: float) -> str:
    return "above" if ours > other else "below"
