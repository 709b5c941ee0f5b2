"""The simulated cameras' look against real photos: brightness, contrast and colourfulness against scene EV100.

    python -m benchmarks.look_calibration [--shots 100] [--size 128x192] [--seed 0]
                                          [--figure docs/figures/look_calibration.png]

Real side: every bundled real camera JPEG with exposure EXIF (``tests/data/exif``, the scene photos in
``core_isp/simulation/scene_data/photos``, counted once when byte-identical) and the Canon EOS D30's embedded camera
JPEG, with the exposure read from its RAW. Files without exposure time, f-number and ISO, and metadata stubs smaller
than :data:`MIN_SHORT_SIDE_PX` on the short side, are skipped and listed.

Simulated side: ``--shots`` shots per simulated camera (all six profiles), drawn as ``paramisp simulate`` draws them
(scene sources of every split, log-average luminance log-uniform in 1-10 000 cd/m^2, the program AE with +-2 EV
compensation). Shot ``k`` uses the same seed for every camera, so the cameras see the same scenes at the same
luminances and differ only in what the cameras do. Their camera JPEGs and metadata are measured like the real files.

Per image, after an area resize to :data:`ANALYSIS_SHORT_SIDE_PX` on the short side (the real files range from
59-px thumbnails to 1440-px previews; one scale keeps fine texture and noise from adding contrast and chroma to the
large images only):

* **mean luma**: Rec. 709 luma of the sRGB code values, 0-1;
* **contrast**: the spread, in stops, between the 5th and 95th percentiles of linear luminance (sRGB decoded,
  Rec. 709 weights, floored at 2^-12): robust to a few clipped or black pixels, 0 for a flat image;
* **chroma**: mean CIE LCh chroma C*ab (sRGB, D65), 0 for neutral pixels;
* **warmth**: mean CIE b* (yellow positive, blue negative), which the D30 finding ("warmer") is about.

Scene brightness is EV100 = log2(N^2/t) - log2(ISO/100) from the EXIF. The simulated trend of a statistic is a
local-linear fit in EV100 (Gaussian kernel, :data:`TREND_BANDWIDTH_EV`); a real photo's gap is its value minus the
trend at its EV100, and gaps are averaged over real photos with a 95 % bootstrap interval over real photos (the
trend, from hundreds of shots, is held fixed).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from kornia.color import rgb_to_lab

from core_isp.cameras.white_balance import scene_ev100
from core_isp.canonical.tone import srgb_decode
from core_isp.errors import BadInputError
from core_isp.io import read_image
from core_isp.io.camera_jpeg import find_camera_jpeg
from core_isp.io.metadata_reader import read_metadata
from core_isp.metadata import CameraMetadata
from core_isp.metrics import bootstrap_interval
from core_isp.simulation.capture_folder import shot_seed, simulate_shot
from core_isp.simulation.profiles import PROFILES, get_profile
from core_isp.simulation.scenes import load_manifest
from paramisp.machine import machine_line

ROOT = Path(__file__).resolve().parent.parent
EXIF_DIR = ROOT / "tests" / "data" / "exif"
PHOTOS_DIR = ROOT / "core_isp" / "simulation" / "scene_data" / "photos"
D30_RAW = ROOT / "tests" / "data" / "raw" / "canon_eos_d30.crw"
DEFAULT_FIGURE = ROOT / "docs" / "figures" / "look_calibration.png"

#: Real files below this short side are metadata stubs (the Sony a58 sample is 10x10 px of black); the smallest
#: real photo with content is a 59x100 thumbnail, which is kept.
MIN_SHORT_SIDE_PX = 48
#: Every image is measured at this short side (area resize), so thumbnails and full images compare.
ANALYSIS_SHORT_SIDE_PX = 48
#: Linear luminance floor before the log: below 8-bit sRGB code 1 (3e-4), so only true black is floored.
LUMINANCE_FLOOR = 2.0**-12
CONTRAST_PERCENTILES = (5.0, 95.0)
TREND_BANDWIDTH_EV = 1.5
#: EV100 bin edges of the tables (first and last open).
EV_EDGES = (6.0, 9.0, 12.0, 15.0)
BOOTSTRAP_RESAMPLES = 10000
#: Fewer real photos than this get their values listed instead of a bootstrap interval.
MIN_FOR_INTERVAL = 5
#: Long side of the D30 centre crop rendered by the ISPs (the demo's working size).
D30_CROP_LONG_SIDE_PX = 384
REC709 = (0.2126, 0.7152, 0.0722)
#: (attribute, table header, figure axis label, decimals).
STATISTICS = (
    ("luma", "mean luma", "mean luma (Rec. 709, sRGB codes)", 3),
    ("contrast", "contrast (stops)", "contrast: 5-95 % luminance spread (stops)", 2),
    ("chroma", "chroma C*", "saturation: mean chroma C*ab", 1),
    ("warmth", "warmth b*", "mean b*", 1),
)
FIGURE_STATISTICS = ("luma", "contrast", "chroma")
#: Resolution of the figure: 16x5.6 in at 90 dpi keeps the PNG under 300 KB with 600 shots drawn.
FIGURE_DPI = 90


@dataclass(frozen=True)
class Look:
    """The statistics of one image (see the module docstring)."""

    luma: float
    contrast: float
    chroma: float
    warmth: float


@dataclass(frozen=True)
class Sample:
    """One measured image: a real photo (``camera`` is its make and model) or a simulated shot (the profile)."""

    label: str
    camera: str
    ev100: float
    look: Look
    size_hw: tuple[int, int]


def at_analysis_scale(srgb: torch.Tensor, short_side: int = ANALYSIS_SHORT_SIDE_PX) -> torch.Tensor:
    """``(1, 3, H, W)`` area-resized so its short side is ``short_side`` (never enlarged)."""
    h, w = srgb.shape[-2:]
    scale = short_side / min(h, w)
    if scale >= 1.0:
        return srgb
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.interpolate(srgb.float(), size=size, mode="area")


def mean_luma(srgb: torch.Tensor) -> float:
    """Mean Rec. 709 luma of the sRGB code values ``(1, 3, H, W)`` in [0, 1]."""
    weights = torch.tensor(REC709, dtype=srgb.dtype).view(1, 3, 1, 1)
    return float((srgb.clamp(0, 1) * weights).sum(dim=1).mean())


def contrast_stops(srgb: torch.Tensor) -> float:
    """Stops between the 5th and 95th percentiles of linear luminance: 0 for a flat image."""
    weights = torch.tensor(REC709, dtype=torch.float32).view(1, 3, 1, 1)
    y = (srgb_decode(srgb.clamp(0, 1).float()) * weights).sum(dim=1)
    stops = np.log2(np.maximum(y.numpy().ravel(), LUMINANCE_FLOOR))
    lo, hi = np.percentile(stops, CONTRAST_PERCENTILES)
    return float(hi - lo)


def chroma_and_warmth(srgb: torch.Tensor) -> tuple[float, float]:
    """(mean CIE chroma C*ab, mean b*) of sRGB ``(1, 3, H, W)``: both 0 for a neutral image."""
    lab = rgb_to_lab(srgb.clamp(0, 1).float())
    a, b = lab[:, 1], lab[:, 2]
    return float(torch.sqrt(a.square() + b.square()).mean()), float(b.mean())


def look_of(srgb: torch.Tensor) -> Look:
    """All statistics of one sRGB image ``(1, 3, H, W)``, measured at the analysis scale."""
    small = at_analysis_scale(srgb)
    chroma, warmth = chroma_and_warmth(small)
    return Look(luma=mean_luma(small), contrast=contrast_stops(small), chroma=chroma, warmth=warmth)


def exposure_ev100(meta: CameraMetadata) -> float | None:
    """Scene EV100 from EXIF exposure (None when time, f-number or ISO is unknown)."""
    return scene_ev100(meta)


def camera_name(meta: CameraMetadata) -> str:
    """Make and model as one label, without the make repeated ("Canon Canon EOS 40D" -> "Canon EOS 40D")."""
    make, model = (meta.make or "").strip(), (meta.model or "").strip()
    if make and model.lower().startswith(make.split(" ")[0].lower()):
        return model
    return f"{make} {model}".strip() or "unknown"


def real_photo_paths() -> list[Path]:
    """Bundled real camera JPEGs (any case of the suffix): the EXIF samples first, then the scene photos."""
    found = []
    for folder in (EXIF_DIR, PHOTOS_DIR):
        found += sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    return found


def read_real_photos(paths: list[Path]) -> tuple[list[Sample], list[tuple[str, str]]]:
    """Measured real photos and ``(file, why skipped)`` for the rest: byte-identical copies are counted once."""
    samples: list[Sample] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for path in paths:
        name = f"{path.parent.name}/{path.name}"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            skipped.append((name, f"same file as {seen[digest]}"))
            continue
        seen[digest] = name
        with warnings.catch_warnings():  # missing EXIF fields are reported as a skip reason below
            warnings.simplefilter("ignore")
            image = read_image(path)
        meta = image.metadata[0]
        ev = exposure_ev100(meta)
        h, w = image.pixels.shape[-2:]
        if ev is None:
            missing = [f for f in ("exposure_time_s", "f_number", "iso") if getattr(meta, f) is None]
            skipped.append((name, "no exposure EXIF (" + ", ".join(missing) + " unknown)"))
        elif min(h, w) < MIN_SHORT_SIDE_PX:
            skipped.append((name, f"metadata stub ({w}x{h} px)"))
        else:
            samples.append(Sample(path.stem, camera_name(meta), ev, look_of(image.pixels), (h, w)))
    return samples, skipped


def d30_sample(raw_path: Path = D30_RAW) -> Sample:
    """The Canon D30's own JPEG (embedded in the RAW) with the exposure the RAW records."""
    jpeg = find_camera_jpeg(raw_path)
    with warnings.catch_warnings():  # the D30 has no as-shot white balance; only its exposure is read here
        warnings.simplefilter("ignore")
        meta = read_metadata(raw_path)
    ev = exposure_ev100(meta)
    if ev is None:
        raise BadInputError(f"{raw_path.name}: no exposure metadata")
    return Sample("Canon D30 (camera JPEG)", camera_name(meta), ev, look_of(jpeg.image), tuple(jpeg.image.shape[-2:]))


def d30_renders(long_side_px: int = D30_CROP_LONG_SIDE_PX) -> list[tuple[str, Look]]:
    """The D30 centre crop the demo scores (:func:`paramisp.demo.isp_step.d30_pair`): Canon's JPEG registered onto
    the RAW's grid, the RAW through the learned ISP ``paramisp to-srgb`` picks for it (the camera-agnostic weights:
    no D30 in training) and through the canonical ISP, each with the RAW's own metadata."""
    from core_isp.cameras import camera_for
    from core_isp.chain import to_srgb
    from core_isp.isp import InferenceOptions, canonical_isp, load_isp
    from paramisp.demo.isp_step import d30_pair

    pair = d30_pair(long_side_px)
    learned = load_isp(camera_for(pair.raw.meta))
    whole = InferenceOptions(tile=None)
    return [
        ("Canon's camera JPEG", look_of(pair.jpeg)),
        (f"learned ISP ({learned.description})", look_of(to_srgb(pair.raw, learned, whole).pixels)),
        ("canonical ISP", look_of(to_srgb(pair.raw, canonical_isp(), whole).pixels)),
    ]


def d30_table(renders: list[tuple[str, Look]], d30: Sample, simulated: list[Sample]) -> list[str]:
    """Markdown table: the D30 crop's renderings and the simulated cameras' trend at the D30's EV100."""
    x = evs(simulated)
    at = float(np.clip(d30.ev100, x.min(), x.max()))
    trend = Look(*(float(local_linear(x, values(simulated, a), np.array([at]))[0]) for a, *_ in STATISTICS))
    rows = [*renders, (f"simulated cameras' trend at EV100 {at:.1f} (whole shots, all six cameras)", trend)]
    lines = ["| rendering | " + " | ".join(h for _, h, _, _ in STATISTICS) + " |", "|---|" + "---:|" * len(STATISTICS)]
    for name, look in rows:
        lines.append(f"| {name} | " + " | ".join(fmt(getattr(look, a), d) for a, _, _, d in STATISTICS) + " |")
    return lines


def simulated_samples(profile_names: list[str], shots: int, size_hw: tuple[int, int], seed: int) -> list[Sample]:
    """``shots`` camera JPEGs per profile; shot ``k`` has the same seed (scene, luminance) for every profile."""
    sources = load_manifest()
    cache: dict[str, np.ndarray] = {}
    samples = []
    for name in profile_names:
        profile = get_profile(name)
        for k in range(shots):
            shot, source = simulate_shot(profile, sources, shot_seed(seed, k), size_hw, image_cache=cache)
            ev = exposure_ev100(shot.metadata)
            samples.append(Sample(source.source_id, name, float(ev), look_of(shot.camera_srgb), size_hw))  # type: ignore[arg-type]
    return samples


def local_linear(x: np.ndarray, y: np.ndarray, at: np.ndarray, bandwidth: float = TREND_BANDWIDTH_EV) -> np.ndarray:
    """Gaussian-kernel local-linear regression of ``y`` on ``x`` evaluated at ``at``: a trend line that follows
    curvature yet, unlike a kernel mean, is not pulled toward the interior at the ends of the data."""
    out = np.empty(len(at))
    for i, x0 in enumerate(at):
        w = np.exp(-0.5 * ((x - x0) / bandwidth) ** 2)
        design = np.stack([np.ones_like(x), x - x0], axis=1)
        sw = np.sqrt(w)
        coef, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
        out[i] = coef[0]
    return out


def values(samples: list[Sample], stat: str) -> np.ndarray:
    """One statistic of every sample."""
    return np.array([getattr(s.look, stat) for s in samples])


def evs(samples: list[Sample]) -> np.ndarray:
    """EV100 of every sample."""
    return np.array([s.ev100 for s in samples])


def gaps(real: list[Sample], simulated: list[Sample], stat: str) -> np.ndarray:
    """Real minus the simulated trend at each real photo's EV100 (clamped to the simulated EV100 range: a local
    line extrapolated past its data says nothing)."""
    x = evs(simulated)
    trend = local_linear(x, values(simulated, stat), np.clip(evs(real), x.min(), x.max()))
    return values(real, stat) - trend


def ev_bin(ev: float) -> int:
    """Index of the EV100 bin of :data:`EV_EDGES`."""
    return int(np.searchsorted(EV_EDGES, ev, side="right"))


def bin_label(index: int) -> str:
    """Text of EV100 bin ``index``."""
    if index == 0:
        return f"< {EV_EDGES[0]:g}"
    if index == len(EV_EDGES):
        return f">= {EV_EDGES[-1]:g}"
    return f"{EV_EDGES[index - 1]:g}-{EV_EDGES[index]:g}"


def fmt(value: float, decimals: int, sign: bool = False) -> str:
    """A number for a table (``-`` for NaN)."""
    if math.isnan(value):
        return "-"
    return f"{value:+.{decimals}f}" if sign else f"{value:.{decimals}f}"


def real_table(real: list[Sample]) -> list[str]:
    """Markdown table of the real photos, by EV100."""
    head = "| photo | camera | size | EV100 | " + " | ".join(h for _, h, _, _ in STATISTICS) + " |"
    lines = [head, "|---|---|---|---:|" + "---:|" * len(STATISTICS)]
    for s in sorted(real, key=lambda s: s.ev100):
        cells = [f"{s.size_hw[1]}x{s.size_hw[0]}", f"{s.ev100:.1f}"]
        cells += [fmt(getattr(s.look, a), d) for a, _, _, d in STATISTICS]
        name = f"**{s.label}**" if "D30" in s.label else s.label
        lines.append(f"| {name} | {s.camera} | " + " | ".join(cells) + " |")
    return lines


def bin_mean(group: list[Sample], stat: str, index: int, decimals: int, count: bool = False) -> str:
    """Mean of ``stat`` over the samples in EV100 bin ``index`` as a table cell (``-`` when empty)."""
    inside = [getattr(s.look, stat) for s in group if ev_bin(s.ev100) == index]
    text = fmt(float(np.mean(inside)), decimals) if inside else "-"
    return f"{text} ({len(inside)})" if count else text


def binned_table(real: list[Sample], simulated: list[Sample], cameras: list[str], stat: str, dec: int) -> list[str]:
    """Markdown table of one statistic: mean per EV100 bin for the real photos, each camera and all cameras."""
    head = "| EV100 | real (n) | " + " | ".join(cameras) + " | all simulated (n) |"
    lines = [head, "|---|" + "---:|" * (len(cameras) + 2)]
    for b in range(len(EV_EDGES) + 1):
        cells = [bin_mean(real, stat, b, dec, count=True)]
        cells += [bin_mean([s for s in simulated if s.camera == c], stat, b, dec) for c in cameras]
        cells.append(bin_mean(simulated, stat, b, dec, count=True))
        lines.append(f"| {bin_label(b)} | " + " | ".join(cells) + " |")
    return lines


def gap_rows(real: list[Sample], simulated: list[Sample], cameras: list[str]) -> list[tuple[str, list[str]]]:
    """Rows of the gap table: every real photo against all cameras, by real EV100 bin, against natural scenes only
    (scene content is a confounder: dead leaves are no photo), against each camera, and the D30 alone; each cell
    "mean [95 % bootstrap]" of real minus the simulated trend."""
    all_gaps = {a: gaps(real, simulated, a) for a, _, _, _ in STATISTICS}

    def cells(mask: np.ndarray, gap_of: dict[str, np.ndarray]) -> list[str]:
        out = []
        for a, _, _, d in STATISTICS:
            g = gap_of[a][mask]
            if len(g) < MIN_FOR_INTERVAL:  # a bootstrap of two or three photos is no interval
                each = ", ".join(fmt(float(v), d, sign=True) for v in g)
                out.append(fmt(float(g.mean()), d, sign=True) + (f" (each: {each})" if len(g) > 1 else ""))
            else:
                m, lo, hi = bootstrap_interval(g, samples=BOOTSTRAP_RESAMPLES)
                out.append(f"{fmt(m, d, True)} [{fmt(lo, d, True)}, {fmt(hi, d, True)}]")
        return out

    everyone = np.ones(len(real), dtype=bool)
    rows = [(f"all real photos (n={len(real)}) vs all simulated cameras", cells(everyone, all_gaps))]
    bins = np.array([ev_bin(s.ev100) for s in real])
    for b in range(len(EV_EDGES) + 1):
        if (n := int((bins == b).sum())) >= 2:
            rows.append((f"  real photos at EV100 {bin_label(b)} (n={n})", cells(bins == b, all_gaps)))
    natural = [s for s in simulated if not s.label.startswith("deadleaves")]
    rows.append((f"all real photos vs simulated HDR maps and photos only (no dead leaves, {len(natural)} shots)",
                 cells(everyone, {a: gaps(real, natural, a) for a, *_ in STATISTICS})))  # fmt: skip
    for c in cameras:
        own = [s for s in simulated if s.camera == c]
        rows.append((f"all real photos vs {c}", cells(everyone, {a: gaps(real, own, a) for a, *_ in STATISTICS})))
    d30 = np.array(["D30" in s.label for s in real])
    if d30.any():
        rows.append(("Canon D30 (camera JPEG) vs all simulated cameras", cells(d30, all_gaps)))
    return rows


def gap_table(real: list[Sample], simulated: list[Sample], cameras: list[str]) -> list[str]:
    """Markdown table of :func:`gap_rows`."""
    lines = ["| real minus simulated trend at the same EV100 | " + " | ".join(h for _, h, _, _ in STATISTICS) + " |"]
    lines.append("|---|" + "---:|" * len(STATISTICS))
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in gap_rows(real, simulated, cameras)]
    return lines


def look_figure(real: list[Sample], simulated: list[Sample], cameras: list[str], path: Path) -> None:
    """Three panels (mean luma, contrast, chroma against EV100): simulated shots as coloured points with each
    camera's trend, real photos as labelled black markers, the D30 in red."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 5.6), dpi=FIGURE_DPI, layout="constrained")
    axes = fig.subplots(1, len(FIGURE_STATISTICS))
    colours = colormaps["tab10"]
    grid = np.linspace(min(evs(simulated).min(), evs(real).min()), max(evs(simulated).max(), evs(real).max()), 80)
    labels = {a: axis for a, _, axis, _ in STATISTICS}
    for ax, stat in zip(axes, FIGURE_STATISTICS, strict=True):
        for i, c in enumerate(cameras):
            own = [s for s in simulated if s.camera == c]
            x, y = evs(own), values(own, stat)
            ax.scatter(x, y, s=9, alpha=0.35, color=colours(i), linewidths=0)
            inside = grid[(grid >= x.min()) & (grid <= x.max())]
            ax.plot(inside, local_linear(x, y, inside), color=colours(i), lw=1.6, label=f"simulated {c}")
        for s in real:
            d30 = "D30" in s.label
            ax.scatter(s.ev100, getattr(s.look, stat), marker="*" if d30 else "D", s=140 if d30 else 28,
                       color="red" if d30 else "black", edgecolors="white", linewidths=0.6, zorder=5)  # fmt: skip
            ax.annotate(s.camera if d30 else s.label.replace("_", " "), (s.ev100, getattr(s.look, stat)),
                        xytext=(3, 3), textcoords="offset points", fontsize=9 if d30 else 6,
                        color="red" if d30 else "0.2", zorder=6)  # fmt: skip
        ax.set_xlabel("scene EV100 = log2(N²/t) − log2(ISO/100)")
        ax.set_ylabel(labels[stat])
        ax.grid(alpha=0.3)
    axes[0].scatter([], [], marker="D", color="black", s=28, label=f"real camera JPEGs (n={len(real) - 1})")
    axes[0].scatter([], [], marker="*", color="red", s=140, label="Canon D30 camera JPEG")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Simulated camera JPEGs (points, trend per camera) against real camera JPEGs (labelled)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=FIGURE_DPI)


def parse_size(text: str) -> tuple[int, int]:
    """``"128x192"`` -> (128, 192)."""
    h, _, w = text.partition("x")
    return int(h), int(w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", type=int, default=100, help="shots per simulated camera")
    parser.add_argument("--size", type=parse_size, default=(128, 192), help="simulated shot size HxW")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", default=str(DEFAULT_FIGURE), help="PNG to write ('' for none)")
    args = parser.parse_args()
    start = time.perf_counter()
    cameras = list(PROFILES)
    real, skipped = read_real_photos(real_photo_paths())
    d30 = d30_sample()
    real.append(d30)
    renders = d30_renders()
    simulated = simulated_samples(cameras, args.shots, args.size, args.seed)
    figure = Path(args.figure) if args.figure else None
    if figure is not None:
        look_figure(real, simulated, cameras, figure)
    out = [
        f"Machine: {machine_line()}",
        "",
        f"Command: `python -m benchmarks.look_calibration --shots {args.shots} --size {args.size[0]}x{args.size[1]} "
        f"--seed {args.seed}`",
        "",
        f"Real camera JPEGs measured: {len(real)} ({len(real) - 1} with exposure EXIF + the D30's embedded JPEG); "
        f"skipped {len(skipped)}: " + "; ".join(f"`{n}` ({why})" for n, why in skipped) + ".",
        f"Simulated: {args.shots} shots x {len(cameras)} cameras at {args.size[0]}x{args.size[1]}, EV100 "
        f"{evs(simulated).min():.1f}-{evs(simulated).max():.1f}; "
        f"real EV100 {evs(real).min():.1f}-{evs(real).max():.1f}.",
        "",
        "Real photos:",
        "",
        *real_table(real),
    ]
    for a, header, _, d in STATISTICS:
        out += ["", f"{header}, mean per EV100 bin:", "", *binned_table(real, simulated, cameras, a, d)]
    out += ["", "Gap (real minus the simulated trend at each real photo's EV100), mean [95 % bootstrap over real "
            "photos]:", "", *gap_table(real, simulated, cameras)]  # fmt: skip
    out += ["", f"The Canon D30 centre crop ({D30_CROP_LONG_SIDE_PX} px long side, as `paramisp demo` scores it; EV100 "
            f"{d30.ev100:.1f}), rendered three ways:", "", *d30_table(renders, d30, simulated)]  # fmt: skip
    if figure is not None:
        shown = figure.resolve().relative_to(ROOT) if figure.resolve().is_relative_to(ROOT) else figure
        out += ["", f"Figure: `{shown}` ({figure.stat().st_size / 1024:.0f} KB)."]
    out += ["", f"Wall time: {time.perf_counter() - start:.0f} s."]
    print("\n".join(out))


if __name__ == "__main__":
    main()
