"""``paramisp to-srgb RAW... -o OUT`` and ``paramisp to-raw PHOTO... -o OUT``: the learned ISPs on files.

to-srgb: the RAW's own metadata (white balance, colour matrix, EXIF) drives the forward ISP; the result is
written upright. to-raw: a JPEG carries no white balance, colour matrix or CFA, so those come from a camera
profile (``--camera``); the white balance from ``--wb``, else an estimate from the EXIF exposure (scene
brightness -> daylight or indoor light), else the profile's daylight white. The DNG keeps the photo's sensor
orientation, with its Orientation tag, and records in ImageDescription how it was made.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Annotated

import torch
import typer

from core_isp.cli.common import (
    check_writable,
    emit_json,
    expand_inputs,
    log,
    one_line_errors,
    output_path,
    run_batch,
    setup_logging,
)
from core_isp.cli.main import app
from core_isp.colour import ccm_from_xyz_to_cam, dng_xyz_to_cam_d65, neutral_from_wb_gains
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.io.dng import exif_from_metadata, write_dng
from core_isp.io.image_reader import read_image
from core_isp.io.metadata_reader import IMAGE_SUFFIXES, RAW_SUFFIXES
from core_isp.io.raw_reader import read_raw
from core_isp.io.writers import write_image
from core_isp.isp import GENERIC, LearnedISP, available_cameras, camera_for, load_isp
from core_isp.metadata import CameraMetadata, plausible
from core_isp.orientation import to_display
from core_isp.simulation.profile import CameraProfile
from core_isp.simulation.profiles import get_profile
from core_isp.simulation.render import shot_colour

#: The profile used for a photo whose camera has no profile of its own (documented in the README).
DEFAULT_PROFILE = "nikon-d7000"
#: Estimated illuminants: bright scenes are daylight, dim ones indoor tungsten-ish light (mired-interpolated).
_DAYLIGHT_K, _INDOOR_K, _BRIGHT_EV, _DIM_EV = 5500.0, 3400.0, 12.0, 7.0

# Options both commands share ("as if shot at ISO 1600": EXIF overrides, then where and how to run).
IsoOption = Annotated[float | None, typer.Option("--iso", help="override the EXIF ISO")]
ExposureOption = Annotated[float | None, typer.Option("--exposure-time", help="override the EXIF exposure time (s)")]
FNumberOption = Annotated[float | None, typer.Option("--f-number", help="override the EXIF f-number")]
FocalOption = Annotated[float | None, typer.Option("--focal-length", help="override the EXIF focal length (mm)")]
DeviceOption = Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1 ...")]
ThreadsOption = Annotated[int | None, typer.Option("--threads", help="CPU threads")]
TileOption = Annotated[int, typer.Option("--tile", help="tile size (pixels, multiple of 4): bounds memory")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="replace existing outputs")]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v")]


def _overrides(meta: CameraMetadata, **values: float | None) -> CameraMetadata:
    """EXIF values given on the command line win ("as if shot at ISO 1600")."""
    changes: dict[str, object] = {}
    for name, value in values.items():
        if value is not None:
            v, source = plausible(name, value, "user")
            if v is None:
                raise BadInputError(f"--{name.replace('_', '-')} {value:g} is not plausible")
            changes[name] = v
            changes[name.removesuffix("_s").removesuffix("_mm") + "_source"] = source
    return meta.replace(**changes) if changes else meta


def _setup_torch(threads: int | None) -> None:
    if threads is not None:
        if threads < 1:
            raise BadInputError("--threads must be at least 1")
        torch.set_num_threads(threads)


@app.command("to-srgb")
def to_srgb_command(
    raws: Annotated[list[str], typer.Argument(help="RAW files, folders or globs")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder (or file, for one input)")],
    camera: Annotated[
        str | None, typer.Option("--camera", help="shipped weights by name (default: by make/model)")
    ] = None,
    weights: Annotated[Path | None, typer.Option("--weights", "-w", help="a forward checkpoint instead")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="png, jpg or tif")] = "png",
    iso: IsoOption = None,
    exposure_time: ExposureOption = None,
    f_number: FNumberOption = None,
    focal_length: FocalOption = None,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    tile: TileOption = 512,
    overwrite: OverwriteOption = False,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Render RAW files with the learned forward ISP (upright sRGB)."""
    setup_logging(verbose)
    with one_line_errors():
        suffix = {"png": ".png", "jpg": ".jpg", "tif": ".tif"}.get(fmt)
        if suffix is None:
            raise BadInputError(f"--format must be png, jpg or tif, got {fmt!r}")
        _setup_torch(threads)
        paths = expand_inputs(raws, RAW_SUFFIXES)
        fixed = load_isp(camera, forward_weights=weights, directions=("forward",), device=device) if (
            camera or weights) else None  # fmt: skip
        if not (len(paths) == 1 and out.suffix and not out.is_dir()):
            out.mkdir(parents=True, exist_ok=True)

        def job(path: Path) -> dict[str, object]:
            target = output_path(out, path, suffix, len(paths))
            check_writable(target, overwrite)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MetadataWarning)
                raw = read_raw(path)
            meta = _overrides(raw.metadata, iso=iso, exposure_time_s=exposure_time, f_number=f_number,
                              focal_length_mm=focal_length)  # fmt: skip
            isp = fixed or _auto_isp(meta, "forward", device)
            srgb = isp.forward(raw.tensor(), meta, tile=tile, device=device)[0]
            upright = to_display(srgb, meta.orientation)
            options = {"exif": exif_from_metadata(meta.replace(orientation=1), tuple(upright.shape[-2:]))} if (
                suffix == ".jpg") else {}  # fmt: skip
            write_image(target, upright, overwrite=overwrite, **options)
            log.info("%s -> %s (weights: %s)", path, target, isp.camera)
            return {"output": str(target), "weights": isp.camera, "metadata": meta.to_dict()}

        outcome = run_batch(paths, job)
        if json_out:
            emit_json(outcome.results)
        raise typer.Exit(outcome.status)


def _auto_isp(meta: CameraMetadata, direction: str, device: str) -> LearnedISP:
    return _shipped_or_generic(camera_for(meta), direction, device, f"{meta.make or '?'} {meta.model or '?'}")


def _shipped_or_generic(name: str | None, direction: str, device: str, label: str | None = None) -> LearnedISP:
    """A camera's shipped weights, or the camera-agnostic ones (saying so) when it has none."""
    if name is not None and name in available_cameras():
        return load_isp(name, directions=(direction,), device=device)
    log.info("no shipped weights for %s: camera-agnostic weights with the %s's white balance and matrix",
             label or name, "file" if direction == "forward" else "profile")  # fmt: skip
    return load_isp(GENERIC, directions=(direction,), device=device)


def estimate_wb(profile: CameraProfile, meta: CameraMetadata) -> tuple[tuple[float, float, float], float, str]:
    """White balance for a photo that records none: (gains, illuminant K, source).

    With exposure time, f-number and ISO the scene brightness EV100 tells daylight (EV >= 12: 5500 K) from
    indoor light (EV <= 7: 3400 K), in between interpolated in mired; without them the profile's daylight white.
    """
    if None in (meta.exposure_time_s, meta.f_number, meta.iso):
        return shot_colour(profile, _DAYLIGHT_K)[0], _DAYLIGHT_K, "daylight"
    ev100 = math.log2(meta.f_number**2 / meta.exposure_time_s) - math.log2(meta.iso / 100.0)  # type: ignore[operator]
    w = min(max((ev100 - _DIM_EV) / (_BRIGHT_EV - _DIM_EV), 0.0), 1.0)
    cct = 1e6 / (w / _DAYLIGHT_K * 1e6 + (1 - w) / _INDOOR_K * 1e6)
    return shot_colour(profile, cct)[0], cct, "estimated"


def photo_raw_metadata(
    profile: CameraProfile, photo: CameraMetadata, wb_option: str | None
) -> tuple[CameraMetadata, str]:
    """The RAW metadata for a photo: the profile's sensor, the photo's EXIF and orientation, a white balance."""
    if wb_option in (None, "estimate"):
        wb, cct, source = estimate_wb(profile, photo)
        how = f"WB {source} ({cct:.0f} K)"
    elif wb_option == "daylight":
        wb, source, how = shot_colour(profile, _DAYLIGHT_K)[0], "daylight", f"WB daylight ({_DAYLIGHT_K:.0f} K)"
    else:
        try:
            r, g, b = (float(v) for v in wb_option.split(","))
        except ValueError:
            raise BadInputError(f"--wb must be estimate, daylight or R,G,B gains, got {wb_option!r}") from None
        if min(r, g, b) <= 0:
            raise BadInputError(f"--wb gains must be positive, got {wb_option}")
        wb, source, how = (r / g, 1.0, b / g), "user", "WB user gains"
    xyz_to_cam, _ = dng_xyz_to_cam_d65(profile.xyz_to_cam_d65, neutral_from_wb_gains(wb))
    ccm = ccm_from_xyz_to_cam(xyz_to_cam)
    meta = photo.replace(
        make=profile.make,
        model=profile.model,
        cfa_pattern=profile.cfa_pattern,
        black_level_per_site=tuple(float(b) for b in profile.black_level_per_site),
        white_level=float(profile.white_level),
        saturation_level=float(profile.white_level),
        wb_gains=wb,
        wb_source=source,
        ccm_wb_cam_to_srgb=tuple(tuple(float(v) for v in row) for row in ccm),
        ccm_source=f"profile {profile.profile_id}",
    )
    return meta, how


@app.command("to-raw")
def to_raw_command(
    photos: Annotated[list[str], typer.Argument(help="sRGB photos (JPEG, PNG, TIFF), folders or globs")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder (or .dng file, for one input)")],
    camera: Annotated[str | None, typer.Option("--camera", help="camera profile and its shipped weights")] = None,
    weights: Annotated[Path | None, typer.Option("--weights", "-w", help="an inverse checkpoint instead")] = None,
    wb: Annotated[str | None, typer.Option("--wb", help="estimate (default), daylight, or R,G,B gains")] = None,
    iso: IsoOption = None,
    exposure_time: ExposureOption = None,
    f_number: FNumberOption = None,
    focal_length: FocalOption = None,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    tile: TileOption = 512,
    overwrite: OverwriteOption = False,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Turn sRGB photos into RAW (DNG) with the learned inverse ISP, as if taken by a camera profile."""
    setup_logging(verbose)
    with one_line_errors():
        _setup_torch(threads)
        paths = expand_inputs(photos, IMAGE_SUFFIXES)
        if not (len(paths) == 1 and out.suffix and not out.is_dir()):
            out.mkdir(parents=True, exist_ok=True)

        def job(path: Path) -> dict[str, object]:
            target = output_path(out, path, ".dng", len(paths))
            check_writable(target, overwrite)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", MetadataWarning)
                srgb, photo = read_image(path, to="sensor")
            for w in caught:
                log.info("%s: %s", path.name, str(w.message).removeprefix(f"{path.name}: "))
            photo = _overrides(photo, iso=iso, exposure_time_s=exposure_time, f_number=f_number,
                               focal_length_mm=focal_length)  # fmt: skip
            name = camera or camera_for(photo)
            profile = get_profile(name if name and name != GENERIC else DEFAULT_PROFILE)
            isp = load_isp(profile.name, inverse_weights=weights, directions=("inverse",), device=device) if (
                weights) else _shipped_or_generic(profile.name, "inverse", device)  # fmt: skip
            meta, how = photo_raw_metadata(profile, photo, wb)
            unknown = meta.missing_optics()
            raw = isp.inverse(srgb, meta, tile=tile, device=device)
            description = (f"paramisp to-raw from {path.name}: sensor of {profile.profile_id}, {isp.camera} weights, "
                           f"{how}; unknown EXIF: {', '.join(unknown) or 'none'}")  # fmt: skip
            write_dng(target, raw[0, 0], meta.replace(image_size_hw=tuple(raw.shape[-2:])), overwrite=overwrite,
                      description=description)  # fmt: skip
            log.info("%s -> %s (%s)", path, target, description.split(": ", 1)[1])
            return {"output": str(target), "weights": isp.camera, "profile": profile.profile_id,
                    "wb_source": meta.wb_source, "unknown_exif": unknown, "metadata": meta.to_dict()}  # fmt: skip

        outcome = run_batch(paths, job)
        if json_out:
            emit_json(outcome.results)
        raise typer.Exit(outcome.status)
