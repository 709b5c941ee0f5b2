"""Entry point of the ``paramisp`` console script; each subcommand lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="paramisp: learned, camera-parameter-aware forward and inverse ISPs and their applications.",
)


@app.callback()
def _root() -> None:
    """paramisp: learned, camera-parameter-aware forward and inverse ISPs and their applications."""


def main() -> None:
    """Console-script entry point: registers the subcommands, then runs."""
    from core_isp.cli import convert, develop, info, simulate, train  # noqa: F401  (registers the commands)

    app()
