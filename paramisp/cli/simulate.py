"""``paramisp simulate``: render shots with a simulated camera into a camera-like folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from core_isp.errors import BadInputError
from core_isp.simulation.capture_folder import capture_complete, shot_seed, simulate_shot, stem_for, write_capture
from core_isp.simulation.exposure import ShotSettings
from core_isp.simulation.profiles import PROFILES, get_profile
from core_isp.simulation.scenes import SPLITS, load_manifest, manifest_hash, source_for_file
from paramisp.cli.batch import expand_inputs
from paramisp.cli.common import check_choice, command_context, emit_json, log
from paramisp.cli.main import app
from paramisp.cli.options import JsonOption, VerboseOption


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BadInputError(f"--size must look like 512x768 (height x width), got {text!r}") from None
    if not (32 <= h <= 8192 and 32 <= w <= 8192):
        raise BadInputError(f"--size {text}: each side must be 32..8192 pixels")
    return h, w


@app.command("simulate")
def simulate_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder (created; existing shots are kept)")],
    profile: Annotated[str, typer.Option("--profile", "-p", help=f"camera profile: {', '.join(PROFILES)}")],
    count: Annotated[int, typer.Option("--count", "-n", help="number of shots")] = 10,
    split: Annotated[str, typer.Option("--split", help="scene split to draw from: train, val or test")] = "test",
    scenes: Annotated[
        list[str] | None, typer.Option("--scenes", help="your own scene files (HDR, photos, videos) instead")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="run seed: the same seed gives identical files")] = 0,
    size: Annotated[str, typer.Option("--size", help="image size HxW")] = "512x768",
    exposure_time_s: Annotated[float | None, typer.Option("--exposure-time", help="seconds (manual exposure)")] = None,
    f_number: Annotated[float | None, typer.Option("--f-number", help="manual exposure")] = None,
    iso: Annotated[float | None, typer.Option("--iso", help="manual exposure")] = None,
    focal_length_mm: Annotated[float | None, typer.Option("--focal-length", help="mm")] = None,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Render COUNT shots of test/val/train scenes (or your files) as DNG + JPEG + JSON + ground truth.

    Exposure comes from the camera's program mode unless --exposure-time, --f-number and --iso are
    all given. An interrupted run continues where it stopped: complete shots are kept.
    """
    with command_context(verbose):
        cam = get_profile(profile)
        check_choice("--split", split, SPLITS)
        if count < 1:
            raise BadInputError("--count must be at least 1")
        size_hw = _size(size)
        manual = [exposure_time_s, f_number, iso]
        settings = None
        if any(v is not None for v in manual):
            if any(v is None for v in manual):
                raise BadInputError("manual exposure needs all of --exposure-time, --f-number and --iso")
            lo, _hi = cam.focal_range_mm
            settings = ShotSettings(exposure_time_s, f_number, iso, focal_length_mm or lo)  # type: ignore[arg-type]
        if scenes:
            sources = [source_for_file(p, split) for p in expand_inputs(scenes)]
        else:
            sources = [s for s in load_manifest() if s.split == split]
        out.mkdir(parents=True, exist_ok=True)
        record_base = {"profile": cam.profile_id, "profile_hash": cam.parameter_hash(), "split": split,
                       "run_seed": seed, "scene_manifest_sha256": None if scenes else manifest_hash()}  # fmt: skip
        cache: dict[str, np.ndarray] = {}
        written, kept = [], 0
        with logging_redirect_tqdm():
            for index in tqdm(range(1, count + 1), unit="shot", file=sys.stderr, disable=count < 2):
                stem = stem_for(index)
                if capture_complete(out, stem):
                    kept += 1
                    continue
                s = shot_seed(seed, index)
                shot, _source = simulate_shot(cam, sources, s, size_hw, settings, cache)
                write_capture(out, stem, shot, {**record_base, "shot_seed": s, "index": index}, overwrite=True)
                written.append(stem)
        log.info("%s: %d shots written, %d already complete", out, len(written), kept)
        if json_out:
            emit_json({"out": str(out), "profile": cam.profile_id, "written": written, "kept": kept})
