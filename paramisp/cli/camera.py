"""``paramisp camera add / list / show / remove``: the user's own cameras, beside the shipped ones.

``camera add FOLDER --name NAME`` makes a camera from a folder of one body's RAW files with their camera JPEGs
(:mod:`core_isp.training.user_camera`) and keeps it in the camera store (``PARAMISP_HOME``); every command that
takes ``--camera`` then accepts NAME, and files whose make and model match use it by default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core_isp.cameras import CameraStore, available_cameras, get_camera
from core_isp.errors import BadInputError
from paramisp.cli.common import command_context, emit_json, log, set_threads
from paramisp.cli.main import app
from paramisp.cli.options import DeviceOption, JsonOption, ThreadsOption, VerboseOption

camera_app = typer.Typer(no_args_is_help=True, help="Your own cameras: add, list, show, remove.")
app.add_typer(camera_app, name="camera")

NameOption = Annotated[str, typer.Option("--name", "-n", help="the camera's name (a-z, 0-9, . _ -)")]


@camera_app.command("add")
def add_command(
    folder: Annotated[Path, typer.Argument(help="a folder of one camera's RAW files with their camera JPEGs")],
    name: NameOption,
    budget_min: Annotated[
        float | None, typer.Option("--budget-min", help="fine-tuning time per direction, minutes (default: CPU)")
    ] = None,
    adapt: Annotated[str | None, typer.Option("--adapt", help="what to fine-tune (default: measured best)")] = None,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Make a camera from a folder: sensor, colour and noise from the RAWs, ISPs fine-tuned on the pairs."""
    with command_context(verbose):
        from core_isp.training.finetune import FinetuneSettings
        from core_isp.training.user_camera import build_camera

        set_threads(threads)
        changes: dict[str, Any] = {"device": device}
        if budget_min is not None:
            if budget_min <= 0:
                raise BadInputError("--budget-min must be positive")
            changes["budget_s"] = budget_min * 60.0
        if adapt is not None:
            changes["adapt"] = adapt
        settings = FinetuneSettings(**changes)
        store = CameraStore()
        camera, report = build_camera(folder, name, store, settings)
        tuned = report["finetune"]["directions"]
        for direction, r in tuned.items():
            log.info("%s %s: held-back frames %.2f dB at the start, %.2f dB fine-tuned -> kept %s",
                     name, direction, r["start_psnr"], r["final_psnr"], r["kept"])  # fmt: skip
        log.info("stored camera %s (%s %s) in %s", camera.name, camera.make, camera.model, store.root)
        if json_out:
            emit_json({"camera": camera.to_dict(), "report": report})


@camera_app.command("list")
def list_command(json_out: JsonOption = False, verbose: VerboseOption = False) -> None:
    """Every camera ``--camera`` accepts: shipped and stored."""
    with command_context(verbose):
        names = available_cameras()
        rows = []
        for name, origin in names.items():
            c = get_camera(name)
            rows.append({"name": name, "origin": origin, "make": c.make, "model": c.model, "cfa": c.sensor.cfa_pattern})
        if json_out:
            emit_json(rows)
            return
        table = Table(title=f"cameras (store: {CameraStore().root})", title_justify="left")
        for column in ("name", "origin", "make", "model", "cfa"):
            table.add_column(column)
        for r in rows:
            table.add_row(*(str(r[k]) for k in ("name", "origin", "make", "model", "cfa")))
        Console().print(table)


@camera_app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="a camera name")],
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """A camera's sensor, colour, noise and weights, and for a stored camera how it was made."""
    with command_context(verbose):
        camera = get_camera(name)
        d = {"camera": camera.to_dict(), "origin": camera.origin}
        if camera.origin == "stored":
            d["report"] = CameraStore().report(name)
        if json_out:
            emit_json(d)
        else:
            typer.echo(json.dumps(d, indent=1, default=str))


@camera_app.command("remove")
def remove_command(
    name: Annotated[str, typer.Argument(help="a stored camera's name")], verbose: VerboseOption = False
) -> None:
    """Delete a stored camera (shipped cameras cannot be removed)."""
    with command_context(verbose):
        store = CameraStore()
        if name in available_cameras(store) and available_cameras(store)[name] == "shipped":
            raise BadInputError(f"{name!r} is a shipped camera and cannot be removed")
        store.remove(name)
        log.info("removed camera %s from %s", name, store.root)
