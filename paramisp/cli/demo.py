"""``paramisp demo [-o DIR]``: the whole suite on bundled data, with a self-contained HTML report."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from core_isp.errors import BadInputError
from paramisp.cli.common import command_context, emit_json, log, set_threads
from paramisp.cli.main import app
from paramisp.cli.options import JsonOption, OverwriteOption, ThreadsOption, VerboseOption

DEFAULT_OUT = Path("paramisp-demo")


def _staging(out: Path, overwrite: bool) -> Path:
    """A fresh sibling folder to run into; ``out`` is replaced only when the run has succeeded.

    An existing ``out`` is replaced only with ``--overwrite`` and only if it is a demo's folder (it has the report),
    so a mistyped ``-o`` never removes a user's files.
    """
    from paramisp.demo.run import REPORT_NAME

    if out.exists():
        if not out.is_dir():
            raise BadInputError(f"{out} exists and is not a folder")
        if not overwrite:
            raise BadInputError(f"{out} exists; pass --overwrite to replace it, or choose another -o")
        if any(out.iterdir()) and not (out / REPORT_NAME).is_file():
            raise BadInputError(f"{out} is not a paramisp demo folder (no {REPORT_NAME}); not replacing it")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise BadInputError(f"the folder {parent} does not exist")
    staging = parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def _publish(staging: Path, out: Path) -> None:
    """Swap the finished run in for ``out`` (renames, so a reader never sees half a folder)."""
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for the report and every output")] = DEFAULT_OUT,
    size: Annotated[int, typer.Option("--size", help="long side (px) the demo works at")] = 384,
    only: Annotated[str, typer.Option("--only", help="comma-separated steps (default: all)")] = "",
    clip: Annotated[Path | None, typer.Option("--clip", help="a video of your own for the blur synthesis")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    overwrite: OverwriteOption = False,
    threads: ThreadsOption = None,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Run the ISP both ways, blur synthesis, deblurring, an HDR merge and a camera-to-camera transfer on bundled
    data, each beside its baseline, and write DIR/report.html (opens offline) and DIR/report.json."""
    with command_context(verbose):
        from paramisp.demo.context import DemoContext
        from paramisp.demo.report import report_to_json
        from paramisp.demo.run import run_demo, select_steps

        if size < 64:
            raise BadInputError("--size must be at least 64 px")
        if clip is not None and not clip.is_file():
            raise BadInputError(f"--clip {clip}: no such file")
        steps = [s.strip() for s in only.split(",") if s.strip()]
        select_steps(steps)  # refuse unknown names before any work
        set_threads(threads)
        staging = _staging(out, overwrite)
        try:
            result = run_demo(DemoContext(staging, size, seed, clip, progress=True), steps)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _publish(staging, out)
        report = result.report
        log.info("paramisp demo: %d steps in %.0f s, peak memory %.0f MiB; report: %s",
                 len(report.sections), report.total_seconds, report.peak_rss_mib, out / result.html.name)  # fmt: skip
        if json_out:
            emit_json({"report": str(out / result.html.name), **report_to_json(report)})
