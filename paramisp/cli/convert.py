"""``paramisp to-srgb RAW... -o OUT`` and ``paramisp to-raw PHOTO... -o OUT``: the learned ISPs on files.

to-srgb: the RAW's own metadata (white balance, colour matrix, EXIF) drives the forward ISP of its camera (by
``--camera``, else by make/model among stored and shipped cameras, else the camera-agnostic weights); the result
is written upright. to-raw: a JPEG carries no white balance, colour matrix or CFA, so those come from a camera
(``--camera``, else the photo's make/model, else the default body, named in a warning); the white balance from
``--wb``, else an estimate from the photo's recorded exposure (:mod:`core_isp.cameras.white_balance`). The DNG
keeps the photo's sensor orientation, with its Orientation tag, and records in ImageDescription how it was made.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from core_isp.cameras import camera_for
from core_isp.chain import photo_to_raw, to_srgb
from core_isp.errors import MetadataWarning
from core_isp.io.dng import write_dng
from core_isp.io.image_reader import read_image
from core_isp.io.metadata_reader import IMAGE_SUFFIXES, RAW_SUFFIXES
from core_isp.io.raw_reader import read_raw
from core_isp.io.writers import stored_dtype
from core_isp.isp import LearnedISP, load_isp
from core_isp.metadata import CameraMetadata
from paramisp.cli.batch import run_file_command
from paramisp.cli.common import check_choice, command_context, inference_options, log, set_threads, write_render
from paramisp.cli.main import app
from paramisp.cli.options import (
    SRGB_FORMATS,
    CameraOption,
    DeviceOption,
    ExposureOption,
    FNumberOption,
    FocalOption,
    IsoOption,
    JsonOption,
    OutOption,
    OverwriteOption,
    PrecisionOption,
    SrgbFormatOption,
    ThreadsOption,
    TileOption,
    VerboseOption,
    WbOption,
)


@app.command("to-srgb")
def to_srgb_command(
    raws: Annotated[list[str], typer.Argument(help="RAW files, folders or globs")],
    out: OutOption,
    camera: CameraOption = None,
    weights: Annotated[Path | None, typer.Option("--weights", "-w", help="a forward checkpoint instead")] = None,
    fmt: SrgbFormatOption = "png",
    iso: IsoOption = None,
    exposure_time: ExposureOption = None,
    f_number: FNumberOption = None,
    focal_length: FocalOption = None,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    tile: TileOption = 512,
    precision: PrecisionOption = "fp32",
    overwrite: OverwriteOption = False,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Render RAW files with the learned forward ISP (upright sRGB)."""
    with command_context(verbose):
        suffix = SRGB_FORMATS[check_choice("--format", fmt, SRGB_FORMATS)]
        set_threads(threads)
        fixed = load_isp(camera, forward_weights=weights, directions=("forward",), device=device) if (
            camera or weights) else None  # fmt: skip
        # The render is quantised tile by tile to what the file stores: a 60 MP photo never exists as floats.
        options = inference_options(tile, device, precision, output_dtype=stored_dtype(suffix))

        def job(path: Path, target: Path) -> dict[str, object]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MetadataWarning)
                raw = read_raw(path)
            meta = raw.meta.with_exif(iso=iso, exposure_time_s=exposure_time, f_number=f_number,
                                          focal_length_mm=focal_length)  # fmt: skip
            isp = fixed or _isp_for(meta, device)
            write_render(target, to_srgb(raw.with_pixels(raw.tensor(), metadata=[meta]), isp, options),
                         overwrite=overwrite)  # fmt: skip
            log.info("%s -> %s (%s)", path, target, isp.description)
            return {"output": str(target), "weights": isp.name, "weights_description": isp.description,
                    "metadata": meta.to_dict()}  # fmt: skip

        run_file_command(
            raws, out, job, suffixes=RAW_SUFFIXES, output_suffix=suffix, overwrite=overwrite, json_out=json_out
        )


def _isp_for(meta: CameraMetadata, device: str) -> LearnedISP:
    """The forward ISP of a RAW's camera by make/model, or the camera-agnostic one (saying so)."""
    camera = camera_for(meta)
    if camera is None:
        log.info("no camera known for %s %s: camera-agnostic weights with the file's own white balance and matrix",
                 meta.make or "?", meta.model or "?")  # fmt: skip
    return load_isp(camera, directions=("forward",), device=device)


@app.command("to-raw")
def to_raw_command(
    photos: Annotated[list[str], typer.Argument(help="sRGB photos (JPEG, PNG, TIFF), folders or globs")],
    out: OutOption,
    camera: CameraOption = None,
    weights: Annotated[Path | None, typer.Option("--weights", "-w", help="an inverse checkpoint instead")] = None,
    wb: WbOption = None,
    iso: IsoOption = None,
    exposure_time: ExposureOption = None,
    f_number: FNumberOption = None,
    focal_length: FocalOption = None,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    tile: TileOption = 512,
    precision: PrecisionOption = "fp32",
    overwrite: OverwriteOption = False,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Turn sRGB photos into RAW (DNG) with the learned inverse ISP, as the camera would have recorded them.

    --iso, --exposure-time, --f-number and --focal-length change only the EXIF value they name (what the DNG
    records and the network is told): the estimated white balance still comes from the photo's recorded exposure.
    """
    with command_context(verbose):
        set_threads(threads)
        options = inference_options(tile, device, precision)

        def job(path: Path, target: Path) -> dict[str, object]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", MetadataWarning)
                photo = read_image(path, to="sensor", codes=True)  # converted to floats window by window
            for w in caught:
                log.info("%s: %s", path.name, str(w.message).removeprefix(f"{path.name}: "))
            made = photo_to_raw(photo, camera, wb=wb, iso=iso, exposure_time_s=exposure_time, f_number=f_number,
                                focal_length_mm=focal_length, inverse_weights=weights, options=options)  # fmt: skip
            raw, meta, isp = made.raw, made.raw.meta, made.isp
            description = f"paramisp to-raw from {path.name}: {made.describe()}"
            write_dng(target, raw.pixels[0, 0], meta, overwrite=overwrite, description=description)
            log.info("%s -> %s (%s)", path, target, description.split(": ", 1)[1])
            return {"output": str(target), "camera": made.camera.name, "weights": isp.name,
                    "weights_description": isp.description, "wb_source": meta.wb_source,
                    "unknown_exif": meta.missing_optics(),
                    "metadata": meta.to_dict()}  # fmt: skip

        run_file_command(
            photos, out, job, suffixes=IMAGE_SUFFIXES, output_suffix=".dng", overwrite=overwrite, json_out=json_out
        )
