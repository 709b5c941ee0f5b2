"""``paramisp deblur PHOTO... -o OUT``: photos and RAW files deblurred in RAW; ``paramisp deblur-train``: the
network's training on synth-blur folders (:mod:`apps.deblur`, docs/deblur.md)."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from apps.deblur.data import data_hash as pairs_hash
from apps.deblur.data import read_pairs
from apps.deblur.deblur import Deblurrer
from apps.deblur.train import RECIPES, TrainSettings, train
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.image import CameraImage
from core_isp.io.dng import write_dng
from core_isp.io.image_reader import read_image
from core_isp.io.metadata_reader import IMAGE_SUFFIXES, RAW_SUFFIXES, is_raw_path
from core_isp.io.raw_reader import read_raw
from paramisp.cli.batch import run_file_command
from paramisp.cli.common import (
    check_choice,
    command_context,
    emit_json,
    inference_options,
    log,
    set_threads,
    write_render,
)
from paramisp.cli.main import app
from paramisp.cli.options import (
    SRGB_FORMATS,
    CameraOption,
    DeviceOption,
    JsonOption,
    OutOption,
    OverwriteOption,
    PairOption,
    PrecisionOption,
    QualityOption,
    SrgbFormatOption,
    ThreadsOption,
    TileOption,
    VerboseOption,
    WbOption,
)


@app.command("deblur")
def deblur_command(
    inputs: Annotated[list[str], typer.Argument(help="sRGB photos (JPEG, PNG, TIFF) or RAW files, folders or globs")],
    out: OutOption,
    camera: CameraOption = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", "-w", help="deblurring weights (default: the shipped RAW ones)")
    ] = None,
    wb: WbOption = None,
    residual: Annotated[
        bool, typer.Option("--residual/--direct", help="photos: keep the photo's pixels plus the network's change "
                                                        "to the render (default), or render the deblurred RAW alone")
    ] = True,
    raw: Annotated[bool, typer.Option("--raw", help="also write the deblurred RAW as a DNG beside it")] = False,
    fmt: SrgbFormatOption = "png",
    quality: QualityOption = 95,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    tile: TileOption = 512,
    precision: PrecisionOption = "fp32",
    pair: PairOption = "separate",
    overwrite: OverwriteOption = False,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Deblur photos in their camera's RAW: inverse ISP -> RAW -> network -> forward ISP at each photo's own
    parameters; a RAW file is deblurred directly and rendered (docs/deblur.md).

    A photo without EXIF gets documented defaults, named in the --json record ("defaults").
    """
    with command_context(verbose):
        suffix = SRGB_FORMATS[check_choice("--format", fmt, SRGB_FORMATS)]
        set_threads(threads)
        deblurrer = Deblurrer.load(weights, camera, inference_options(tile, device, precision), white_balance=wb,
                                   residual=residual, pair=pair)
        if raw and deblurrer.domain != "raw":
            raise BadInputError(f"--raw needs RAW-domain weights; {deblurrer.weights.name} works in sRGB")

        def job(path: Path, target: Path) -> dict[str, object]:
            dng_path = target.with_suffix(".dng") if raw else None
            if dng_path == path.resolve() or dng_path == target:
                raise BadInputError(f"{dng_path}: the deblurred RAW (--raw) would replace an input or the render")
            if dng_path is not None and dng_path.exists() and not overwrite:
                raise BadInputError(f"{dng_path}: exists (use --overwrite to replace it)")
            result = deblurrer.deblur(_read(path))
            write_render(target, result.srgb, quality, overwrite)
            if dng_path is not None and result.raw is not None:
                write_dng(dng_path, result.raw.pixels[0, 0], result.raw.meta, overwrite=overwrite,
                          description=f"paramisp deblur of {path.name} ({deblurrer.describe()})")  # fmt: skip
            defaults = result.record["defaults"]
            log.info("%s -> %s%s", path, target, f" (defaults: {', '.join(defaults)})" if defaults else "")  # type: ignore[arg-type]
            return {"output": str(target), "raw_output": str(dng_path) if dng_path else None, **result.record}

        run_file_command(inputs, out, job, suffixes=IMAGE_SUFFIXES | RAW_SUFFIXES, output_suffix=suffix,
                         overwrite=overwrite, json_out=json_out)  # fmt: skip


def _read(path: Path) -> CameraImage:
    """A RAW file or a photo, in sensor orientation (missing EXIF is filled by documented defaults, named in the
    record, so the readers' warnings are not repeated)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        return read_raw(path) if is_raw_path(path) else read_image(path, to="sensor")


@app.command("deblur-train")
def deblur_train_command(
    data: Annotated[list[Path], typer.Argument(help="folders written by 'paramisp synth-blur --raw' (or write_pair)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="the weights file to write (.safetensors)")],
    domain: Annotated[str, typer.Option("--domain", help="raw (packed Bayer) or srgb (a baseline)")] = "raw",
    recipe: Annotated[str, typer.Option("--recipe", help="cpu (2 cores) or gpu (cuda, bf16, bigger batches)")] = "cpu",
    budget_min: Annotated[float | None, typer.Option("--budget-min", help="wall-clock budget (minutes)")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="step budget (with no --budget-min: exact)")] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="crops per step")] = None,
    crop: Annotated[int | None, typer.Option("--crop", help="crop side in image pixels (even)")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="peak learning rate (cosine to 1e-6)")] = None,
    seed: Annotated[int, typer.Option("--seed", help="initialisation and crops")] = 0,
    blurry_dirs: Annotated[
        str | None, typer.Option("--blurry-dirs", help="comma-separated blurry folders (default: all there)")
    ] = None,
    device: Annotated[str | None, typer.Option("--device", help="cpu, cuda ... (default: the recipe's)")] = None,
    threads: ThreadsOption = None,
    overwrite: OverwriteOption = False,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Train the deblurring network on synthesised pairs within a time or step budget (docs/deblur.md)."""
    with command_context(verbose):
        check_choice("--domain", domain, ("raw", "srgb"))
        set_threads(threads)
        if out.exists() and not overwrite:
            raise BadInputError(f"{out}: exists (use --overwrite to replace it)")
        given = {"batch": batch, "crop_px": crop, "lr": lr, "device": device, "seed": seed}
        settings = TrainSettings.recipe(check_choice("--recipe", recipe, RECIPES), domain,  # type: ignore[arg-type]
                                        **{k: v for k, v in given.items() if v is not None})  # fmt: skip
        if steps is not None or budget_min is not None:
            # --steps alone is an exact step budget (no clock); with --budget-min whichever ends first.
            settings = replace(settings, max_steps=steps, budget_min=budget_min)
        dirs = blurry_dirs.split(",") if blurry_dirs else None
        pairs = read_pairs(data, domain, dirs)  # type: ignore[arg-type]
        log.info("%d %s pairs from %s", len(pairs), domain, ", ".join(str(d) for d in data))
        report = train(pairs, out, settings, {"folders": [str(d) for d in data], "manifest_sha256": pairs_hash(data),
                                              "blurry_dirs": dirs})  # fmt: skip
        log.info("%s: %d steps in %.0f s, held-out L1 %.4f (input %.4f)", out, report.steps, report.seconds,
                 report.record["held_out_l1"], report.record["held_out_input_l1"])  # fmt: skip
        if json_out:
            emit_json({"output": str(out), **json.loads(json.dumps(report.record, default=str))})
