"""Entry point of the ``paramisp`` console script (subcommands are added in their own modules)."""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="paramisp: learned camera-parameter-aware ISP suite")


def main() -> None:
    """Console-script entry point."""
    app()
