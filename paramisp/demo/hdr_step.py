"""The demo's HDR step: a simulated exposure bracket merged through the camera's learned inverse ISP, scored against
the exact radiance it was shot from.

One view of a bundled test-split HDR radiance map is shot by a simulated camera as a 3-frame bracket 2 EV apart
(:mod:`core_isp.simulation.bracket`, as ``benchmarks/hdr_eval.py`` does over many views, cameras and ISOs). Every
method sees the camera JPEGs and their EXIF only: ``paramisp hdr merge`` (:class:`apps.hdr.HdrMaker` with the
camera's learned inverse), the same merge through the canonical inverse (an ablation: sRGB curve and the camera's
matrix), the middle frame sRGB-decoded, and ``hdr expand`` of the middle frame. Scores: :mod:`core_isp.metrics.hdr`.
"""

from __future__ import annotations

import numpy as np
import torch

from apps.hdr import DEFAULT_PAIR, HdrMaker, HighlightSettings, MergeSettings, reinhard_preview, write_hdr
from core_isp.cameras import get_camera
from core_isp.canonical import srgb_decode
from core_isp.image import CameraImage
from core_isp.io.writers import write_png
from core_isp.isp import canonical_isp, load_isp
from core_isp.metadata import CameraMetadata
from core_isp.metrics.hdr import hdr_scores, log2_luminance_error, match_exposure
from core_isp.simulation.bracket import BRACKET_F_NUMBER, bracket_evs, bracket_photos, hdr_scene_views, render_bracket
from core_isp.simulation.scenes import luminance
from paramisp.demo.context import DemoContext, to_display, working_size
from paramisp.demo.report import Figure, Panel, Plot, Section, Table

KEY = "hdr"
#: Keeps this step's draws apart from the other steps' (see :meth:`DemoContext.rng`).
SALT = 4
CAMERA = "sony-a7r3"
ISO = 100.0
#: A sunset over water: the sun and the shadowed quay are far more than one JPEG's range apart.
SOURCE = "hdr:venice_sunset"
FRAMES, SPACING_EV = 3, 2.0

OURS = "this tool (hdr merge)"
CANONICAL = "same merge, canonical inverse"
MIDDLE = "middle frame, sRGB-decoded"
EXPAND = "hdr expand (middle frame)"
#: What each method is given besides the JPEGs' EXIF.
SEES = {
    OURS: f"the bracket; {CAMERA}'s learned inverse ISP",
    CANONICAL: "the bracket; sRGB curve and the camera's colour matrix",
    MIDDLE: "the middle frame; the sRGB curve",
    EXPAND: f"the middle frame; {CAMERA}'s learned inverse ISP, highlights extended",
}
#: Error thresholds (stops) the cumulative plot is drawn at.
CDF_STOPS = np.linspace(0.0, 1.5, 61)


def run(ctx: DemoContext) -> Section:
    """Shoot the bracket, merge it with and without the learned inverse, expand its middle frame, and score each
    against the scene's radiance; write the merged and expanded EXRs with their previews."""
    folder = ctx.step_dir(KEY)
    rng = ctx.rng(SALT)
    scene = hdr_scene_views("test", 1, working_size(ctx.long_side_px), rng, [SOURCE])[0]
    seed = int(rng.integers(1 << 31))
    shots = bracket_photos(render_bracket(CAMERA, scene, ISO, bracket_evs(FRAMES, SPACING_EV), seed))
    names = [f"{ev:+g} EV" for ev in shots]
    frames = list(shots.values())
    middle = shots[0.0]
    camera = get_camera(CAMERA)
    learned = load_isp(camera, directions=("inverse",), pair=DEFAULT_PAIR)
    tool = HdrMaker(camera, learned, MergeSettings(), ctx.options)
    jobs = {
        OURS: lambda: tool.merge(frames, names),
        CANONICAL: lambda: HdrMaker(camera, canonical_isp(), MergeSettings(), ctx.options).merge(frames, names),
        EXPAND: lambda: tool.expand(middle, "middle frame"),
    }
    results = {method: job() for method, job in ctx.track(jobs.items(), "hdr: merges", len(jobs))}
    linear = {
        OURS: results[OURS].image.pixels[0].double().numpy(),
        CANONICAL: results[CANONICAL].image.pixels[0].double().numpy(),
        MIDDLE: srgb_decode(middle.pixels)[0].double().numpy(),
        EXPAND: results[EXPAND].image.pixels[0].double().numpy(),
    }
    truth = scene.linear_rgb.double().numpy()
    s = {method: hdr_scores(x, truth) for method, x in linear.items()}

    written = [write_png(folder / f"frame_{name.replace(' ', '')}.png", f.pixels, overwrite=True)
               for name, f in zip(names, frames, strict=True)]  # fmt: skip
    written += write_hdr(folder / "merged.exr", results[OURS].image, overwrite=True)
    written += write_hdr(folder / "expanded.exr", results[EXPAND].image, overwrite=True)
    # The radiance map records no camera: its metadata is its size, as the HDR reader gives it.
    truth_image = CameraImage(scene.linear_rgb[None], CameraMetadata(image_size_hw=middle.size_hw), "linear_srgb")
    written += write_hdr(folder / "scene_truth.exr", truth_image, overwrite=True)

    ours, others = s[OURS]["log2_rmse"], {m: v["log2_rmse"] for m, v in s.items() if m != OURS}
    beaten = [m for m, v in others.items() if v < ours]
    verdict = "the lowest error of the four" if not beaten else f"behind {', '.join(beaten)}"
    summary = (
        f"Simulated {CAMERA} shot {FRAMES} JPEGs {SPACING_EV:g} EV apart (ISO {ISO:g}, f/{BRACKET_F_NUMBER:g}) of a "
        f"view of {SOURCE.split(':')[-1]} spanning {_range_stops(truth):.1f} stops (0.1-99.9 % of its luminance). "
        f"This tool's merge through the camera's learned inverse ISP is {ours:.3f} stops log2-RMSE of luminance from "
        f"the exact radiance ({s[OURS]['pu21_psnr_y']:.2f} dB PU21-PSNR), {verdict}: the same merge through the "
        f"canonical inverse {s[CANONICAL]['log2_rmse']:.3f}, the middle frame alone {s[MIDDLE]['log2_rmse']:.3f}, and "
        f"hdr expand of the middle frame {s[EXPAND]['log2_rmse']:.3f} stops."
    )
    return Section(
        key=KEY,
        title="HDR merge of a bracket",
        summary=summary,
        measured_against=(
            "Ground truth: the scene's exact linear radiance (the HDR map the bracket was rendered from), each result "
            "brought to it by one global exposure scale fitted on log luminance. Baselines: the middle frame "
            "sRGB-decoded; the same merge through the canonical inverse ISP (ablation). OpenCV's Debevec and "
            "Robertson merges are compared in benchmarks/hdr_eval.py (OpenCV is not a dependency of the suite)."
        ),
        figures=[_bracket_figure(frames, names), _preview_figure(truth, linear, s)],
        tables=[_scores_table(s), _bracket_table(frames, names, results[OURS].record)],
        plots=[_error_plot(truth, linear)],
        outputs=[str(p.relative_to(ctx.out_dir)) for p in written],
    )


def _range_stops(truth: np.ndarray) -> float:
    """Stops between the 0.1th and 99.9th percentiles of the luminance of linear RGB ``(3, H, W)``."""
    low, high = np.percentile(luminance(truth), [0.1, 99.9])
    return float(np.log2(high / max(low, 1e-12)))


def _clipped_share(photo: CameraImage) -> float:
    """Share of a photo's pixels (0-1) with a channel at or above the code ``hdr`` treats as clipped."""
    return float((photo.pixels[0].amax(dim=0) >= HighlightSettings.clipped_code).double().mean())


def _bracket_figure(frames: list[CameraImage], names: list[str]) -> Figure:
    panels = [
        Panel(
            name,
            to_display(f.pixels),
            f"{f.meta.exposure_time_s * 1000:.2f} ms, {100 * _clipped_share(f):.1f} % clipped",
        )
        for name, f in zip(names, frames, strict=True)
    ]
    return Figure(
        title=f"The bracket: {CAMERA} JPEGs {SPACING_EV:g} EV apart (the inputs)",
        panels=panels,
        histograms=True,
        note="What every method is given: the JPEG pixels and their EXIF (no RAW, no white balance).",
    )


def _preview_figure(truth: np.ndarray, linear: dict[str, np.ndarray], scores: dict[str, dict[str, float]]) -> Figure:
    """The truth and every result tone-mapped alike: each result first brought to the truth's scale by the scores'
    global fit, then all through one Reinhard operator whose key and white are taken over all of them together."""
    matched = {method: match_exposure(x, truth) for method, x in linear.items()}
    images = [next(iter(matched.values())).truth_rgb, *(m.pred_rgb for m in matched.values())]
    width = truth.shape[-1]
    joined = torch.from_numpy(np.concatenate(images, axis=-1))[None]
    shown = reinhard_preview(joined)[0].split(width, dim=-1)
    panels = [Panel("exact radiance (truth)", to_display(shown[0]))]
    panels += [Panel(method, to_display(x), f"{scores[method]['log2_rmse']:.3f} stops RMS")
               for method, x in zip(linear, shown[1:], strict=True)]  # fmt: skip
    return Figure(
        title="Truth and results, tone-mapped by one operator at one scale",
        panels=panels,
        reference=0,
        note="Reinhard's global operator (as in the previews hdr writes) with one key and white for all panels, "
        "after each result was scaled to the truth by the fit the scores use; error maps are of these previews. Colour "
        "casts are white balance: the HDR methods estimate it from the EXIF alone, the camera's JPEG knew the light.",
    )


def _scores_table(scores: dict[str, dict[str, float]]) -> Table:
    rows: list[list[str | float | int]] = [
        [method, SEES[method], round(v["log2_rmse"], 3), round(v["pu21_psnr_y"], 2), round(v["pu21_psnr_rgb"], 2)]
        for method, v in scores.items()
    ]
    return Table(
        title="Against the exact radiance (lower log2-RMSE, higher PU21-PSNR is better)",
        columns=["method", "given", "log2-RMSE Y (stops)", "PU21-PSNR Y (dB)", "PU21-PSNR RGB (dB)"],
        rows=rows,
        note="After one global scale fitted on log luminance; the truth at a median of 100 cd/m^2 for PU21 "
        "(Mantiuk & Azimi 2021). One view of one scene: benchmarks/hdr_eval.py has intervals over views, cameras "
        "and ISOs.",
    )


def _bracket_table(frames: list[CameraImage], names: list[str], record: dict[str, object]) -> Table:
    """Each frame's exposure and clipping, and how much the merge leaned on it (from the merge's record)."""
    entries = {entry["file"]: entry for entry in record["frames"]}  # type: ignore[attr-defined]
    rows: list[list[str | float | int]] = [
        [name, round(f.meta.exposure_time_s * 1000, 3), round(100 * _clipped_share(f), 2),
         round(100 * entries[name]["weight_share"], 1), round(100 * entries[name]["inverse_failure_share"], 2)]
        for name, f in zip(names, frames, strict=True)
    ]  # fmt: skip
    return Table(
        title="The frames in this tool's merge",
        columns=["frame", "exposure (ms)", "clipped pixels (%)", "weight in the merge (%)", "inverse failures (%)"],
        rows=rows,
        note="Weight: the frame's share of the inverse-variance weights the merge used (noise, clipping, distance "
        "from the reference exposure); inverse failures: sites where the inverse ISP's RAW disagreed with the photo "
        "and was repaired.",
    )


def _error_plot(truth: np.ndarray, linear: dict[str, np.ndarray]) -> Plot:
    series = {}
    for method, x in linear.items():
        error = np.sort(np.abs(log2_luminance_error(x, truth)).ravel())
        within = np.searchsorted(error, CDF_STOPS, side="right") / error.size * 100.0
        series[method] = ([round(float(v), 3) for v in CDF_STOPS], [round(float(v), 2) for v in within])
    return Plot(
        title="Share of pixels within an error of their true luminance",
        x_label="|log2 luminance error| (stops)",
        y_label="pixels within (%)",
        series=series,
        note="Higher and further left is better; the same global fit as the scores.",
    )
