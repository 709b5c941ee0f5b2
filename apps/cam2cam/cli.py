"""``paramisp cam2cam PHOTO... --to B -o OUT``: photos as camera B would have taken them (:mod:`apps.cam2cam`)."""

from __future__ import annotations

import hashlib
import warnings
from functools import cache
from pathlib import Path
from typing import Annotated

import typer

from apps.cam2cam.transfer import CameraTransfer, TransferResult, TransferSettings
from core_isp.cameras import Camera, get_camera, resolve_camera
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.image import CameraImage
from core_isp.io.dng import write_dng
from core_isp.io.image_reader import read_image
from core_isp.io.metadata_reader import IMAGE_SUFFIXES
from core_isp.isp import LearnedISP, load_isp
from paramisp.cli.batch import run_file_command
from paramisp.cli.common import check_choice, command_context, inference_options, log, set_threads, write_render
from paramisp.cli.main import app
from paramisp.cli.options import (
    SRGB_FORMATS,
    DeviceOption,
    ExposureOption,
    FNumberOption,
    FocalOption,
    IsoOption,
    JsonOption,
    OutOption,
    OverwriteOption,
    PrecisionOption,
    QualityOption,
    SrgbFormatOption,
    ThreadsOption,
    TileOption,
    VerboseOption,
    WbOption,
)


@app.command("cam2cam")
def cam2cam_command(
    photos: Annotated[list[str], typer.Argument(help="sRGB photos (JPEG, PNG, TIFF), folders or globs")],
    out: OutOption,
    to: Annotated[str, typer.Option("--to", help="the camera to render as (shipped or stored)")],
    source: Annotated[
        str | None, typer.Option("--from", help="the photos' camera (default: by each photo's make/model)")
    ] = None,
    from_weights: Annotated[
        Path | None, typer.Option("--from-weights", help="an inverse checkpoint for the photos' camera instead")
    ] = None,
    to_weights: Annotated[
        Path | None, typer.Option("--to-weights", help="a forward checkpoint for the target camera instead")
    ] = None,
    wb: WbOption = None,
    iso: IsoOption = None,
    exposure_time: ExposureOption = None,
    f_number: FNumberOption = None,
    focal_length: FocalOption = None,
    noise: Annotated[bool, typer.Option("--noise/--no-noise", help="add the target camera's sensor noise")] = True,
    residual: Annotated[
        bool, typer.Option("--residual/--direct", help="the photo plus the difference of the two cameras' renders "
                                                        "(default), or the target's render of its RAW alone")
    ] = True,
    seed: Annotated[int, typer.Option("--seed", help="draws the noise (each photo: seed and file name)")] = 0,
    raw: Annotated[bool, typer.Option("--raw", help="also write the target camera's RAW as a DNG beside it")] = False,
    fmt: SrgbFormatOption = "png",
    quality: QualityOption = 95,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    tile: TileOption = 512,
    precision: PrecisionOption = "fp32",
    overwrite: OverwriteOption = False,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Render photos as another camera would have taken them: the photo's camera's inverse ISP -> its RAW -> the
    same light on the target's sensor, with its noise -> the target's forward ISP (docs/cam2cam.md).

    --iso etc. set the target's shot ("as if shot at ISO 1600"); the exposure time follows, keeping the brightness.
    """
    with command_context(verbose):
        suffix = SRGB_FORMATS[check_choice("--format", fmt, SRGB_FORMATS)]
        set_threads(threads)
        settings = TransferSettings(white_balance=wb, iso=iso, exposure_time_s=exposure_time, f_number=f_number,
                                    focal_length_mm=focal_length, noise=noise, residual=residual)  # fmt: skip
        options = inference_options(tile, device, precision)
        target = get_camera(to)
        fixed_source = get_camera(source) if source is not None else None
        forward = load_isp(target, forward_weights=to_weights, directions=("forward",), device=device)

        @cache
        def inverse_of(camera: Camera) -> LearnedISP:
            return load_isp(camera, inverse_weights=from_weights, directions=("inverse",), device=device)

        @cache
        def forward_of(camera: Camera) -> LearnedISP | None:
            return load_isp(camera, directions=("forward",), device=device) if residual else None

        if fixed_source is not None:
            inverse_of(fixed_source)  # wrong weights or a missing camera are refused before any photo is read

        def job(path: Path, target_path: Path) -> dict[str, object]:
            dng_path = target_path.with_suffix(".dng") if raw else None
            if dng_path == target_path:
                raise BadInputError(f"{target_path}: the photo and its RAW (--raw) would share this name")
            if dng_path is not None and dng_path.exists() and not overwrite:
                raise BadInputError(f"{dng_path}: exists (use --overwrite to replace it)")
            photo, camera = _photo_and_camera(path, fixed_source)
            inverse = inverse_of(camera)
            transfer = CameraTransfer(camera, target, inverse, forward, settings, options, forward_of(camera))
            if camera.name == target.name:
                log.info("%s: the photo's camera is %s itself: a re-render through it", path.name, target.name)
            result = transfer.transfer(photo, _file_seed(seed, path))
            write_render(target_path, result.srgb, quality, overwrite)
            if dng_path is not None:
                write_dng(dng_path, result.raw.pixels[0, 0], result.raw.meta, overwrite=overwrite,
                          description=_description(path, result, inverse, forward))  # fmt: skip
            log.info("%s -> %s (%s -> %s, %s)", path, target_path, camera.name, target.name,
                     result.record["illuminant"]["description"])  # type: ignore[index]  # fmt: skip
            return {"output": str(target_path), "raw_output": str(dng_path) if dng_path else None,
                    "inverse_weights": inverse.description, "forward_weights": forward.description,
                    **result.record}  # fmt: skip

        run_file_command(photos, out, job, suffixes=IMAGE_SUFFIXES, output_suffix=suffix, overwrite=overwrite,
                         json_out=json_out)  # fmt: skip


def _photo_and_camera(path: Path, fixed: Camera | None) -> tuple[CameraImage, Camera]:
    """The photo in sensor orientation and its camera (given, else by make/model), the readers' and the
    camera lookup's warnings (missing EXIF, unknown camera) logged under the file's name."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MetadataWarning)
        photo = read_image(path, to="sensor")
        camera = fixed or resolve_camera(None, photo.meta)
    for w in caught:
        log.info("%s: %s", path.name, str(w.message).removeprefix(f"{path.name}: "))
    return photo, camera


def _file_seed(seed: int, path: Path) -> int:
    """One noise seed per photo from the run's seed and the file's name: photos of one size get other noise."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{path.name}".encode()).digest()[:8], "little") >> 1


def _description(path: Path, result: TransferResult, inverse: LearnedISP, forward: LearnedISP) -> str:
    """The DNG's ImageDescription: what it was made from and how (DNG has no tags for most of it)."""
    r = result.record
    unknown = ", ".join(r["unknown_exif"]) or "none"  # type: ignore[arg-type]
    return (f"paramisp cam2cam from {path.name}: {r['from']} ({inverse.description}) -> {r['to']} "
            f"({forward.description}), {r['illuminant']['description']}, exposure gain "  # type: ignore[index]
            f"{r['exposure_gain']['total']:.4g}; unknown EXIF: {unknown}")  # type: ignore[index]  # fmt: skip
