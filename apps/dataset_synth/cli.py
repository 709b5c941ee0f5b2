"""``paramisp synth-blur INPUT... -o OUT``: a blur dataset from videos, folders of frames or sharp photos."""

from __future__ import annotations

from typing import Annotated

import typer

from apps.dataset_synth.dataset import BACKENDS, FORMATS, JobSpec, Shard, run_job
from apps.dataset_synth.shot import BlurShotSpec, FrameDefaults, parse_choice
from apps.dataset_synth.synth import DEFAULT_PAIR, SynthSettings
from core_isp.errors import BadInputError
from paramisp.cli.common import check_choice, command_context, emit_json, inference_options, log, set_threads
from paramisp.cli.main import app
from paramisp.cli.options import (
    DeviceOption,
    JsonOption,
    OutOption,
    PairOption,
    PrecisionOption,
    ThreadsOption,
    TileOption,
    VerboseOption,
)

_RANGE = "a value or low:high to draw from (default: derived from the frames)"


@app.command("synth-blur")
def synth_blur_command(
    inputs: Annotated[list[str], typer.Argument(help="videos, folders of frames (one sample each) or sharp photos")],
    out: OutOption,
    camera: Annotated[str, typer.Option("--camera", help="shipped or stored camera whose ISPs and sensor to use")] = (
        "nikon-d7000"
    ),
    window: Annotated[int | None, typer.Option("--window", help="consecutive frames per blurry sample")] = None,
    seed: Annotated[int, typer.Option("--seed", help="the dataset's seed (each sample: seed and name)")] = 0,
    exposure_time: Annotated[str | None, typer.Option("--exposure-time", help=f"blurry shot's (s): {_RANGE}")] = None,
    iso: Annotated[str | None, typer.Option("--iso", help=f"blurry shot's ISO: {_RANGE}")] = None,
    f_number: Annotated[str | None, typer.Option("--f-number", help=f"blurry shot's f-number: {_RANGE}")] = None,
    focal_length: Annotated[str | None, typer.Option("--focal-length", help=f"blurry shot's (mm): {_RANGE}")] = None,
    frame_exposure: Annotated[
        float | None, typer.Option("--frame-exposure-time", help="frames without EXIF: exposure (s; video: 1/fps)")
    ] = None,
    frame_iso: Annotated[float, typer.Option("--frame-iso", help="frames without EXIF: ISO")] = FrameDefaults.iso,
    highlight_gain: Annotated[
        str, typer.Option("--highlight-gain", help="clipped highlights' true brightness, low:high x white")
    ] = "1.5:4",
    max_step: Annotated[
        float, typer.Option("--interpolate-above", help="frames further apart (px) get in-between frames; 0: never")
    ] = 2.0,
    fit_level: Annotated[
        bool, typer.Option("--fit-level/--no-fit-level", help="check each frame's RAW level against the forward ISP")
    ] = True,
    residual: Annotated[
        bool, typer.Option("--residual/--direct", help="add back what the ISPs' round trip missed of the frames "
                                                        "(default), or the renders of the synthesised RAW alone")
    ] = True,
    wb: Annotated[str | None, typer.Option("--wb", help="estimate (default), daylight, 3200K or R,G,B")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="png or jpg")] = "png",
    quality: Annotated[int, typer.Option("--quality", help="JPEG quality")] = 95,
    raw: Annotated[bool, typer.Option("--raw", help="also write the blurry and sharp RAW as DNG")] = False,
    workers: Annotated[int, typer.Option("--workers", help="worker processes (0: in this process)")] = 0,
    backend: Annotated[str, typer.Option("--backend", help="local or ray (pip install 'paramisp[ray]')")] = "local",
    shard: Annotated[str | None, typer.Option("--shard", help="I/N: only samples whose index is I mod N")] = None,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    tile: TileOption = 512,
    precision: PrecisionOption = "fp32",
    pair: PairOption = DEFAULT_PAIR,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Synthesise blurry/sharp pairs in RAW: frames -> inverse ISP -> light added up, clipped, noisy -> forward ISP.

    Rerun the same command to resume a killed run; samples already in OUT/manifest.jsonl are kept.
    """
    with command_context(verbose):
        set_threads(threads)
        check_choice("--format", fmt, FORMATS)
        check_choice("--backend", backend, BACKENDS)
        if workers < 0:
            raise BadInputError("--workers must be 0 or more")
        gain = parse_choice(highlight_gain, "--highlight-gain")
        gains = gain if isinstance(gain, tuple) else (gain, gain)
        if gains[0] < 1.0:
            raise BadInputError("--highlight-gain must be 1 or more (clipped light was at least white)")
        defaults = FrameDefaults(iso=frame_iso, **({"exposure_time_s": frame_exposure} if frame_exposure else {}))
        settings = SynthSettings(
            shot=BlurShotSpec(parse_choice(exposure_time, "--exposure-time"), parse_choice(iso, "--iso"),
                              parse_choice(f_number, "--f-number"), parse_choice(focal_length, "--focal-length")),
            highlight_gain=gains, white_balance=wb, frame_defaults=defaults, max_step_px=max_step or None,
            fit_level=fit_level, residual=residual,
        )  # fmt: skip
        spec = JobSpec(tuple(inputs), camera, window, seed, settings, fmt, quality, raw, pair=pair)
        options = inference_options(tile, device, precision)
        report = run_job(spec, out, options, Shard.parse(shard), workers, backend)
        log.info("%d samples (%d made, %d already there) in %.0f s -> %s", report.samples, report.made,
                 report.skipped, report.wall_s, report.manifest)  # fmt: skip
        if json_out:
            emit_json(report.to_dict())
