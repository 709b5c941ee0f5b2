"""``paramisp develop RAW... -o OUT``: the canonical (non-learned) RAW -> sRGB development."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import typer

from core_isp.canonical import DEMOSAIC_METHODS, CanonicalParams, develop
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
from core_isp.errors import BadInputError
from core_isp.io.metadata_reader import RAW_SUFFIXES
from core_isp.io.raw_reader import read_raw
from core_isp.io.writers import write_image
from core_isp.orientation import to_display

_FORMATS = {"png": ".png", "jpg": ".jpg", "tif": ".tif", "exr": ".exr"}


@app.command("develop")
def develop_command(
    raws: Annotated[list[str], typer.Argument(help="RAW files, folders or globs")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder (or file, for one input)")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="png (8-bit), jpg, tif (16-bit) or exr (linear float)")
    ] = "png",
    demosaic_method: Annotated[str, typer.Option("--demosaic", help="malvar or bilinear")] = "malvar",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace existing outputs")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Develop RAW files with the canonical pipeline (demosaic, WB, colour matrix, sRGB), upright."""
    setup_logging(verbose)
    with one_line_errors():
        if fmt not in _FORMATS:
            raise BadInputError(f"--format must be one of {', '.join(_FORMATS)}, got {fmt!r}")
        if demosaic_method not in DEMOSAIC_METHODS:
            raise BadInputError(f"--demosaic must be one of {', '.join(DEMOSAIC_METHODS)}, got {demosaic_method!r}")
        paths = expand_inputs(raws, RAW_SUFFIXES)
        single_file = len(paths) == 1 and out.suffix and not out.is_dir()
        if not single_file:
            out.mkdir(parents=True, exist_ok=True)

        def job(path: Path) -> dict[str, object]:
            target = output_path(out, path, _FORMATS[fmt], len(paths))
            check_writable(target, overwrite)
            raw = read_raw(path)
            params = CanonicalParams.from_metadata([raw.metadata])
            with torch.inference_mode():
                srgb = develop(raw.tensor(), params, demosaic_method)[0]
            write_image(target, to_display(srgb, raw.metadata.orientation), overwrite=overwrite)
            log.info("%s -> %s", path, target)
            return {"output": str(target), "metadata": raw.metadata.to_dict()}

        outcome = run_batch(paths, job)
        if json_out:
            emit_json(outcome.results)
        raise typer.Exit(outcome.status)
