"""The demo's camera-to-camera step: a photo of camera A carried to camera B, scored against B's own shot.

Measured: one test-split scene shot by two simulated cameras with the same settings under the same light
(:func:`apps.cam2cam.evaluation.shoot_pair`, as ``benchmarks/cam2cam_eval.py`` does over many scenes). Every method
sees A's camera JPEG only and is scored against B's camera JPEG of that shot. Shown only: the real Canon EOS D30's
camera JPEG carried to two shipped cameras, for which no ground truth exists.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from apps.cam2cam import CameraTransfer, TransferSettings
from apps.cam2cam.evaluation import (
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
from core_isp.cameras import get_camera, resolve_camera
from core_isp.errors import MetadataWarning
from core_isp.io.writers import write_png
from core_isp.isp import load_isp
from core_isp.simulation.profiles import get_profile
from paramisp.demo.context import TEST_DATA, DemoContext, to_display, working_size
from paramisp.demo.report import Figure, Panel, Section, Table

KEY = "cam2cam"
#: Keeps this step's draws apart from the other steps' (see :meth:`DemoContext.rng`).
SALT = 5
SOURCE, TARGET = "nikon-d7000", "sony-a7r3"
#: The measured pair's cameras, so the real photo shows what the measured transfer does.
D30_TARGETS = (SOURCE, TARGET)
D30 = TEST_DATA / "raw" / "canon_eos_d30.crw"
#: Other scenes (train/val split) that the fair Reinhard transfers take Lab statistics from; statistics need no
#: detail, so they are shot small whatever the demo's size.
FIT_SCENES = 6
FIT_LONG_SIDE_PX = 128

NONE = "none: A's photo"
REINHARD_PHOTO = "Reinhard, photo -> B's statistics"
REINHARD_A = "Reinhard, A's -> B's statistics"
ORACLE = "oracle: histogram matching"
OURS = "cam2cam"
OURS_TRUE_LIGHT = "cam2cam, told the true light"
CEILING = "ceiling: B re-shoots"
#: What each method is given besides A's JPEG.
SEES = {
    NONE: "nothing else",
    REINHARD_PHOTO: f"B's Lab statistics over {FIT_SCENES} other scenes",
    REINHARD_A: f"A's and B's Lab statistics over {FIT_SCENES} other scenes",
    ORACLE: "B's true JPEG of this scene",
    OURS: "EXIF; A's inverse and B's forward learned ISP",
    OURS_TRUE_LIGHT: "as cam2cam, and the scene's true illuminant",
    CEILING: "B's camera itself (another noise draw), not A's photo",
}
#: The file each method's output is written to (A's photo is the step's input, written as A's JPEG).
FILES = {
    REINHARD_PHOTO: "reinhard_photo_statistics.png",
    REINHARD_A: "reinhard_a_statistics.png",
    ORACLE: "oracle_histogram_matching.png",
    OURS: "cam2cam.png",
    OURS_TRUE_LIGHT: "cam2cam_true_light.png",
    CEILING: "b_reshoot.png",
}


@dataclass(frozen=True)
class _Measured:
    """Each method's 8-bit output and its scores against B's truth, the scene's light and what cam2cam took it for,
    a note on the shot, and the files written."""

    truth: torch.Tensor
    outputs: dict[str, torch.Tensor]
    scores: dict[str, dict[str, float]]
    light_k: float
    estimated_light_k: float
    note: str
    written: list[Path]


def run(ctx: DemoContext) -> Section:
    """A -> B transfer of a simulated shot beside its baselines, scored against B's shot; the D30 photo shown."""
    folder = ctx.step_dir(KEY)
    seed = int(ctx.rng(SALT).integers(1 << 31))
    measured = _measured(ctx, folder, seed)
    d30_figure, d30_table, d30_outputs = _d30(ctx, folder, seed)
    s = measured.scores
    ours = s[OURS]
    best_fair = max((REINHARD_PHOTO, REINHARD_A), key=lambda m: s[m]["psnr"])
    summary = (
        f"{SOURCE} (A) and {TARGET} (B) shot one simulated scene with the same settings under the same light; each "
        f"method turned A's camera JPEG into B's look and is scored against B's own JPEG. cam2cam reaches "
        f"{ours['psnr']:.2f} dB PSNR and mean ΔE00 {ours['de00']:.2f}: {_compared(ours, s[NONE])} against no "
        f"transfer and {_compared(ours, s[best_fair])} against the better fair Reinhard transfer; told the true light "
        f"({measured.light_k:.0f} K, where it estimated {measured.estimated_light_k:.0f} K) it reaches "
        f"{s[OURS_TRUE_LIGHT]['psnr']:.2f} dB and ΔE00 {s[OURS_TRUE_LIGHT]['de00']:.2f}. The oracle histogram "
        f"matching, which sees B's truth, reaches {s[ORACLE]['psnr']:.2f} dB and B re-shooting the scene (only the "
        f"noise differs) {s[CEILING]['psnr']:.2f} dB. The real Canon EOS D30 JPEG carried to "
        f"{' and '.join(D30_TARGETS)} is shown without scores: no ground truth exists for it."
    )
    return Section(
        key=KEY,
        title="Camera-to-camera transfer",
        summary=summary,
        measured_against=(
            f"Ground truth: {TARGET}'s own camera JPEG of the same simulated scene, settings and light. Baselines: "
            f"{SOURCE}'s photo as it is; Reinhard's Lab transfer with statistics of other scenes (fair); histogram "
            "matching to the truth (an oracle); B re-shooting the scene (the noise ceiling). The D30 part: none."
        ),
        figures=[_measured_figure(measured), d30_figure],
        tables=[_measured_table(measured), d30_table],
        outputs=[str(p.relative_to(ctx.out_dir)) for p in (*measured.written, *d30_outputs)],
    )


def _measured(ctx: DemoContext, folder: Path, seed: int) -> _Measured:
    """Shoot the pair, run every method on A's JPEG, score them against B's; write A's JPEG and each output."""
    a, b = get_profile(SOURCE), get_profile(TARGET)
    fit_size = working_size(FIT_LONG_SIDE_PX)
    fits = [shoot_pair(a, b, scene, conditions, seed - 10 * (k + 1)) for k, (scene, conditions)
            in enumerate(ctx.track(draw_scenes(("train", "val"), FIT_SCENES, seed + 1, fit_size),
                                   "cam2cam: other scenes", FIT_SCENES))]  # fmt: skip
    lab_a, lab_b = (lab_statistics([getattr(p, side).camera_srgb for p in fits]) for side in ("a", "b"))
    scene, conditions = draw_scenes(("test",), 1, seed, working_size(ctx.long_side_px))[0]
    shots = shoot_pair(a, b, scene, conditions, seed)
    photo_path = folder / "a_camera.jpg"
    photo = as_photo(shots.a, photo_path)
    truth = shots.b.camera_srgb
    transfer = CameraTransfer.load(get_camera(SOURCE), get_camera(TARGET), options=ctx.options)
    result = transfer.transfer(photo, seed)
    told = replace(transfer, settings=TransferSettings(white_balance=f"{conditions.illuminant_cct_k:.0f}K"))
    raw_outputs = {
        NONE: photo.pixels,
        REINHARD_PHOTO: reinhard(photo.pixels, None, lab_b),
        REINHARD_A: reinhard(photo.pixels, lab_a, lab_b),
        ORACLE: histogram_matched(photo.pixels, truth),
        OURS: result.srgb.pixels,
        OURS_TRUE_LIGHT: told.transfer(photo, seed).srgb.pixels,
        CEILING: shots.b_again.camera_srgb,
    }
    outputs = {method: quantised(x) for method, x in raw_outputs.items()}
    written = [photo_path, write_png(folder / "b_truth.png", truth, overwrite=True)]
    written += [write_png(folder / name, outputs[method], overwrite=True) for method, name in FILES.items()]
    st = shots.a.settings
    estimated_k = float(result.record["illuminant"]["cct_k"])  # type: ignore[index]
    note = (
        f"Shot: ISO {st.iso:g}, {_exposure_time(st.exposure_time_s)}, f/{st.f_number:.1f}, "
        f"{st.focal_length_mm:g} mm, light {conditions.illuminant_cct_k:.0f} K (cam2cam estimated {estimated_k:.0f} K "
        f"from the EXIF). Scores on 8-bit outputs; Reinhard statistics from {FIT_SCENES} train/val scenes shot by "
        "both cameras."
    )
    return _Measured(truth, outputs, {method: scores(x, truth) for method, x in outputs.items()},
                     conditions.illuminant_cct_k, estimated_k, note, written)  # fmt: skip


def _measured_figure(measured: _Measured) -> Figure:
    panels = [Panel(f"{TARGET}'s JPEG (truth)", to_display(measured.truth))]
    panels += [Panel(method, to_display(x), f"PSNR {measured.scores[method]['psnr']:.1f} dB, "
                     f"ΔE00 {measured.scores[method]['de00']:.2f}")
               for method, x in measured.outputs.items() if method != CEILING]  # fmt: skip
    return Figure(
        title=f"{SOURCE} -> {TARGET}, one simulated test scene",
        panels=panels,
        reference=0,
        note="Error maps against B's true camera JPEG. B's re-shoot (the ceiling) is in the table only: it looks "
        "like the truth.",
    )


def _measured_table(measured: _Measured) -> Table:
    rows: list[list[str | float | int]] = [
        [method, SEES[method], round(v["psnr"], 2), round(v["ssim"], 4), round(v["de00"], 2), round(v["stlpips"], 4)]
        for method, v in measured.scores.items()
    ]
    return Table(
        title=f"Against {TARGET}'s camera JPEG (higher PSNR/SSIM, lower ΔE00/ST-LPIPS is better)",
        columns=["method", "given besides A's JPEG", "PSNR (dB)", "SSIM", "mean ΔE00", "ST-LPIPS"],
        rows=rows,
        note=measured.note,
    )


def _d30(ctx: DemoContext, folder: Path, seed: int) -> tuple[Figure, Table, list[Path]]:
    """The D30's camera JPEG at the working size carried to each of :data:`D30_TARGETS`; written as PNGs."""
    photo = embedded_photo(D30, ctx.long_side_px)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MetadataWarning)
        source = resolve_camera(None, photo.meta)
    inverse, source_forward = load_isp(source, directions=("inverse",)), load_isp(source, directions=("forward",))
    panels = [Panel("Canon EOS D30 camera JPEG", to_display(photo.pixels))]
    rows: list[list[str | float | int]] = []
    written = [write_png(folder / "d30_camera_jpeg.png", photo.pixels, overwrite=True)]
    for name in ctx.track(D30_TARGETS, "cam2cam: D30"):
        target = get_camera(name)
        forward = load_isp(target, directions=("forward",))
        transfer = CameraTransfer(source, target, inverse, forward, TransferSettings(), ctx.options, source_forward)
        result = transfer.transfer(photo, seed)
        out = quantised(result.srgb.pixels)
        written.append(write_png(folder / f"d30_as_{name}.png", out, overwrite=True))
        panels.append(Panel(f"as {name}", to_display(out)))
        record = result.record
        rows.append([name, forward.description, record["illuminant"]["description"],  # type: ignore[index]
                     round(record["exposure_gain"]["total"], 3),  # type: ignore[index]
                     round(mean_ciede2000(out, photo.pixels), 2)])  # fmt: skip
    # An unknown body is read as the default camera's sensor and colour, so carrying it to that camera changes the
    # rendering only: the reader should know which panel that is.
    read_as = f"no camera is known for the {photo.meta.model}, so its sensor and colour are taken as {source.name}'s"
    height, width = photo.size_hw
    note = (
        f"Visual only: no ground truth exists for these. The D30 JPEG ({width} x {height} here, EXIF "
        f"{_exposure_time(photo.meta.exposure_time_s)}, f/{photo.meta.f_number:.1f}, ISO {photo.meta.iso:g}) "
        f"is carried with {inverse.description}" + (f": {read_as}." if caught else ".")
    )
    figure = Figure(title="The real Canon EOS D30 JPEG as other cameras would render it", panels=panels, note=note)
    table = Table(
        title="The D30 JPEG to each camera",
        columns=["to", "forward weights", "illuminant", "exposure gain", "mean ΔE00 to the D30 JPEG"],
        rows=rows,
        note="ΔE00 here is how far the transfer moved the colours, not an error.",
    )
    return figure, table, written


def _compared(ours: dict[str, float], other: dict[str, float]) -> str:
    """cam2cam's PSNR and ΔE00 differences from another method, and which way they go, in words."""
    better = (ours["psnr"] > other["psnr"], ours["de00"] < other["de00"])
    verdict = "better on both" if all(better) else "worse on both" if not any(better) else "mixed"
    return f"{ours['psnr'] - other['psnr']:+.2f} dB and {ours['de00'] - other['de00']:+.2f} ΔE00 ({verdict})"


def _exposure_time(seconds: float | None) -> str:
    if seconds is None:
        return "exposure time unknown"
    return f"1/{1 / seconds:.0f} s" if seconds < 1 else f"{seconds:.3g} s"
