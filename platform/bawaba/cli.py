"""The ``bawaba`` command."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Bawaba: open data for government e-payments.")


def main() -> None:
    app()
