"""``paramisp hdr merge FRAMES... -o OUT.exr`` and ``paramisp hdr expand PHOTO... -o OUT.exr``."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from apps.hdr.bracket import parse_exposures, read_exposure_list, with_exposures
from apps.hdr.highlights import HighlightSettings
from apps.hdr.merge import DEFAULT_PAIR, HdrMaker, MergeSettings
from apps.hdr.output import write_hdr
from core_isp.cameras import Camera, resolve_camera
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.image import CameraImage
from core_isp.io.image_reader import read_image
from core_isp.io.metadata_reader import IMAGE_SUFFIXES
from core_isp.isp import ISP, InferenceOptions, load_isp
from core_isp.metadata import CameraMetadata
from paramisp.cli.batch import expand_inputs, output_targets, run_batch, run_file_command
from paramisp.cli.common import check_choice, command_context, emit_json, inference_options, log, set_threads
from paramisp.cli.main import app
from paramisp.cli.options import (
    CameraOption,
    DeviceOption,
    ExposureOption,
    FNumberOption,
    IsoOption,
    JsonOption,
    OutOption,
    OverwriteOption,
    PairOption,
    PrecisionOption,
    ThreadsOption,
    TileOption,
    VerboseOption,
    WbOption,
)

hdr_app = typer.Typer(no_args_is_help=True, help="HDR images made in RAW through a camera's inverse ISP.")
app.add_typer(hdr_app, name="hdr")

FormatOption = Annotated[str, typer.Option("--format", "-f", help="exr (OpenEXR) or hdr (Radiance), for folders")]
PreviewOption = Annotated[bool, typer.Option("--preview/--no-preview", help="also write NAME_preview.png")]
_FORMATS = ("exr", "hdr")


@dataclass
class _Isps:
    """Inverse ISPs by camera, each loaded once per command."""

    options: InferenceOptions
    pair: str = DEFAULT_PAIR
    loaded: dict[Camera, ISP] = field(default_factory=dict)

    def maker(self, camera_name: str | None, meta: CameraMetadata, settings: MergeSettings) -> HdrMaker:
        camera = resolve_camera(camera_name, meta)
        if camera not in self.loaded:
            self.loaded[camera] = load_isp(camera, directions=("inverse",), device=self.options.device, pair=self.pair)
        return HdrMaker(camera, self.loaded[camera], settings, self.options)


def _read(path: Path) -> CameraImage:
    """A photo in sensor orientation; what its EXIF lacks is logged, not warned about per frame."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MetadataWarning)
        photo = read_image(path, to="sensor")
    for w in caught:
        log.info("%s: %s", path.name, str(w.message).removeprefix(f"{path.name}: "))
    return photo


def bracket_sets(inputs: list[str]) -> dict[Path, list[Path]]:
    """The brackets to merge, each named by a path: folders are one bracket each (their photos, by name), and
    files (or globs) one bracket together, named by its first file."""
    folders = [Path(s) for s in inputs if Path(s).is_dir()]
    if folders and len(folders) != len(inputs):
        raise BadInputError("give either the frames of one bracket or folders holding one bracket each, not both")
    if not folders:
        files = expand_inputs(inputs, IMAGE_SUFFIXES)
        return {files[0]: files}
    return {folder: expand_inputs([str(folder)], IMAGE_SUFFIXES) for folder in folders}


@hdr_app.command("merge")
def merge_command(
    inputs: Annotated[list[str], typer.Argument(help="the frames of one bracket, or folders of one bracket each")],
    out: OutOption,
    camera: CameraOption = None,
    exposures: Annotated[
        str | None, typer.Option("--exposures", help="exposure time of each frame in order (s): 1/30,1/8,1/2")
    ] = None,
    exposure_list: Annotated[
        Path | None, typer.Option("--exposure-list", help="HDRShop image_list.txt giving frames' exposures by name")
    ] = None,
    iso: IsoOption = None,
    f_number: FNumberOption = None,
    align: Annotated[bool, typer.Option("--align", help="remove a global shift between frames (hand-held)")] = False,
    deghost: Annotated[
        bool, typer.Option("--deghost", help="drop what moved between frames (if nothing moved, it can cost shadows)")
    ] = False,
    wb: WbOption = None,
    fmt: FormatOption = "exr",
    preview: PreviewOption = True,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    tile: TileOption = 512,
    precision: PrecisionOption = "fp32",
    pair: PairOption = DEFAULT_PAIR,
    overwrite: OverwriteOption = False,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Merge exposure brackets in RAW: each frame through the inverse ISP with its own exposure, weighted by its
    noise and distance from clipping, developed to scene-referred linear RGB (Rec. 709 primaries, D65)."""
    with command_context(verbose):
        set_threads(threads)
        suffix = "." + check_choice("--format", fmt, _FORMATS)
        times = parse_exposures(exposures) if exposures is not None else None
        listed = read_exposure_list(exposure_list) if exposure_list is not None else None
        settings = MergeSettings(align=align, deghost=deghost, white_balance=wb)
        isps = _Isps(inference_options(tile, device, precision), pair)
        sets = bracket_sets(inputs)

        def job(key: Path, target: Path) -> dict[str, object]:
            paths = sets[key]
            names = [p.name for p in paths]
            frames = with_exposures([_read(p) for p in paths], names, times, listed, iso, f_number)
            result = isps.maker(camera, frames[0].meta, settings).merge(frames, names)
            written = write_hdr(target, result.image, preview=preview, overwrite=overwrite)
            log.info("%s (%d frames) -> %s: %s stops", key, len(paths), target, result.record["dynamic_range_stops"])
            return {"outputs": [str(p) for p in written], **result.record}

        keys = list(sets)
        outcome = run_batch(keys, output_targets(keys, out, suffix), job, overwrite=overwrite)
        if json_out:
            emit_json(outcome.results)
        raise typer.Exit(outcome.status)


@hdr_app.command("expand")
def expand_command(
    photos: Annotated[list[str], typer.Argument(help="sRGB photos (JPEG, PNG, TIFF), folders or globs")],
    out: OutOption,
    camera: CameraOption = None,
    max_stops: Annotated[
        float, typer.Option("--max-stops", help="most a clipped area is raised above white (stops)")
    ] = HighlightSettings.max_stops,
    iso: IsoOption = None,
    exposure_time: ExposureOption = None,
    f_number: FNumberOption = None,
    wb: WbOption = None,
    fmt: FormatOption = "exr",
    preview: PreviewOption = True,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    tile: TileOption = 512,
    precision: PrecisionOption = "fp32",
    pair: PairOption = DEFAULT_PAIR,
    overwrite: OverwriteOption = False,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """One photo to linear HDR through the inverse ISP, its clipped highlights extended above white."""
    with command_context(verbose):
        set_threads(threads)
        suffix = "." + check_choice("--format", fmt, _FORMATS)
        if not max_stops >= 0:
            raise BadInputError("--max-stops must be 0 or more")
        settings = MergeSettings(white_balance=wb, highlights=HighlightSettings(max_stops=max_stops))
        isps = _Isps(inference_options(tile, device, precision), pair)

        def job(path: Path, target: Path) -> dict[str, object]:
            photo = _read(path)
            meta = photo.meta.with_exif(iso=iso, exposure_time_s=exposure_time, f_number=f_number)
            result = isps.maker(camera, meta, settings).expand(photo.with_pixels(photo.pixels, metadata=[meta]),
                                                                     path.name)  # fmt: skip
            written = write_hdr(target, result.image, preview=preview, overwrite=overwrite)
            log.info("%s -> %s: %s stops", path, target, result.record["dynamic_range_stops"])
            return {"outputs": [str(p) for p in written], **result.record}

        run_file_command(photos, out, job, suffixes=IMAGE_SUFFIXES, output_suffix=suffix, overwrite=overwrite,
                         json_out=json_out)  # fmt: skip
