"""``paramisp info FILE...``: a shot's metadata as a table, or JSON with ``--json``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core_isp.io.metadata_reader import read_metadata
from core_isp.metadata import CameraMetadata
from paramisp.cli.batch import run_file_command
from paramisp.cli.common import command_context
from paramisp.cli.main import app
from paramisp.cli.options import JsonOption, VerboseOption

_ROWS = (
    ("Make", "make", None),
    ("Model", "model", None),
    ("CFA", "cfa_pattern", None),
    ("Black level per site", "black_level_per_site", None),
    ("White level", "white_level", None),
    ("Saturation level", "saturation_level", None),
    ("Image size (H, W)", "image_size_hw", None),
    ("Camera crop (t, l, h, w)", "default_crop_tlhw", None),
    ("WB gains (R, G, B)", "wb_gains", "wb_source"),
    ("CCM (WB camera -> sRGB)", "ccm_wb_cam_to_srgb", "ccm_source"),
    ("Exposure time (s)", "exposure_time_s", "exposure_time_source"),
    ("ISO", "iso", "iso_source"),
    ("f-number", "f_number", "f_number_source"),
    ("Focal length (mm)", "focal_length_mm", "focal_length_source"),
    ("Orientation (EXIF)", "orientation", "orientation_source"),
)


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return str(value)


def _table(path: Path, meta: CameraMetadata) -> Table:
    table = Table(title=str(path), title_justify="left")
    table.add_column("field")
    table.add_column("value")
    table.add_column("source")
    for label, name, source in _ROWS:
        table.add_row(label, _fmt(getattr(meta, name)), _fmt(getattr(meta, source)) if source else "")
    return table


@app.command()
def info(
    files: Annotated[list[str], typer.Argument(help="RAW or image files, folders or globs")],
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Show each file's camera metadata (works on RAW files without pixel data too, with a warning)."""
    with command_context(verbose):
        console = Console()

        def job(path: Path, _target: None) -> dict[str, object]:
            meta = read_metadata(path)
            if not json_out:
                console.print(_table(path, meta))
            return {"metadata": meta.to_dict()}

        run_file_command(files, None, job, json_out=json_out, progress=False)
