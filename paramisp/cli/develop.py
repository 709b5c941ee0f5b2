"""``paramisp develop RAW... -o OUT``: the canonical (non-learned) RAW -> sRGB development."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import typer

from core_isp.canonical import DEMOSAIC_METHODS, CanonicalParams, develop
from core_isp.io.metadata_reader import RAW_SUFFIXES
from core_isp.io.raw_reader import read_raw
from core_isp.io.writers import write_image
from core_isp.orientation import to_display
from paramisp.cli.batch import run_file_command
from paramisp.cli.common import check_choice, command_context, log
from paramisp.cli.main import app
from paramisp.cli.options import JsonOption, OutOption, OverwriteOption, VerboseOption

_FORMATS = {"png": ".png", "jpg": ".jpg", "tif": ".tif", "exr": ".exr"}


@app.command("develop")
def develop_command(
    raws: Annotated[list[str], typer.Argument(help="RAW files, folders or globs")],
    out: OutOption,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="png (8-bit), jpg, tif (16-bit) or exr (linear float)")
    ] = "png",
    demosaic_method: Annotated[str, typer.Option("--demosaic", help="malvar or bilinear")] = "malvar",
    overwrite: OverwriteOption = False,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Develop RAW files with the canonical pipeline (demosaic, WB, colour matrix, sRGB), upright."""
    with command_context(verbose):
        suffix = _FORMATS[check_choice("--format", fmt, _FORMATS)]
        check_choice("--demosaic", demosaic_method, DEMOSAIC_METHODS)

        def job(path: Path, target: Path) -> dict[str, object]:
            raw = read_raw(path)
            params = CanonicalParams.from_metadata([raw.meta])
            with torch.inference_mode():
                srgb = develop(raw.tensor(), params, demosaic_method)[0]
            write_image(target, to_display(srgb, raw.meta.orientation), overwrite=overwrite)
            log.info("%s -> %s", path, target)
            return {"output": str(target), "metadata": raw.meta.to_dict()}

        run_file_command(
            raws, out, job, suffixes=RAW_SUFFIXES, output_suffix=suffix, overwrite=overwrite, json_out=json_out
        )
