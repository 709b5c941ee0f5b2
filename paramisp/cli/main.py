"""Entry point of the ``paramisp`` console script; each subcommand lives in its own module.

A command module registers its commands on :data:`app` when imported (``@app.command("name")``).
:func:`register_commands` imports the core modules, then each application module of :data:`APP_COMMANDS`
that exists. Adding an application command:

1. write ``apps/<app>/cli.py``: ``from paramisp.cli.main import app`` and decorate the command with
   ``@app.command("<name>")``; a command on files takes its flags from :mod:`paramisp.cli.options`, wraps its
   body in :func:`paramisp.cli.common.command_context` and hands its per-file job to
   :func:`paramisp.cli.batch.run_file_command`;
2. list ``"apps.<app>.cli"`` in :data:`APP_COMMANDS` (one line, once per app).

The command line sits above ``core_isp`` and ``apps``: it imports them, never the other way round.
"""

from __future__ import annotations

import importlib
import importlib.util

import typer

from core_isp.allocator import keep_freed_blocks

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="paramisp: learned, camera-parameter-aware forward and inverse ISPs and their applications.",
)

#: Modules of the core commands, in the order ``--help`` lists them.
CORE_COMMANDS = (
    "paramisp.cli.camera",
    "paramisp.cli.convert",
    "paramisp.cli.demo",
    "paramisp.cli.develop",
    "paramisp.cli.info",
    "paramisp.cli.simulate",
    "paramisp.cli.train",
)
#: Modules of the applications' commands; an application without its ``cli.py`` yet is skipped.
APP_COMMANDS = (
    "apps.deblur.cli",
    "apps.hdr.cli",
    "apps.cam2cam.cli",
    "apps.dataset_synth.cli",
)


@app.callback()
def _root() -> None:
    """paramisp: learned, camera-parameter-aware forward and inverse ISPs and their applications."""


def register_commands() -> None:
    """Import every command module (importing registers its commands on :data:`app`)."""
    for name in CORE_COMMANDS:
        importlib.import_module(name)
    for name in APP_COMMANDS:
        # find_spec only looks: an app module that exists but fails to import still raises, as it should.
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def main() -> None:
    """Console-script entry point: registers the subcommands, then runs (with freed blocks kept for reuse,
    :mod:`core_isp.allocator`)."""
    keep_freed_blocks()
    register_commands()
    app()
