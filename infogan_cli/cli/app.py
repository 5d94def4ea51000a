"""The ``infogan`` command: registers one module per subcommand and turns domain errors into
one line on stderr (``--debug`` or ``INFOGAN_DEBUG=1`` shows the traceback)."""

from __future__ import annotations

import os
import sys

import typer

from . import evaluate as evaluate_command
from . import explore as explore_command
from . import inspect as inspect_command
from . import plot as plot_command
from . import sample as sample_command
from . import train as train_command
from . import traverse as traverse_command

app = typer.Typer(
    name="infogan",
    help="Train InfoGAN models and look inside them: sample, traverse and evaluate each latent code.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("train")(train_command.train)
# Subcommands are registered here, one module each.
app.command("inspect")(inspect_command.inspect)
app.command("plot")(plot_command.plot)
app.command("evaluate")(evaluate_command.evaluate)
app.command("sample")(sample_command.sample)
app.command("traverse")(traverse_command.traverse)
app.command("explore")(explore_command.explore)


def _version_callback(value: bool) -> None:
    if value:
        from infogan_cli import __version__

        typer.echo(f"infogan {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Show the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors (same as INFOGAN_DEBUG=1)."),
) -> None:
    if debug:
        os.environ["INFOGAN_DEBUG"] = "1"


def print_error(message: str, hint: str | None = None) -> None:
    sys.stderr.write(f"error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")


def main() -> None:
    from infogan_cli.errors import InfoganError

    try:
        app()
    except InfoganError as exc:
        if os.environ.get("INFOGAN_DEBUG") == "1":
            raise
        print_error(exc.message, exc.hint)
        sys.exit(2)
    except OSError as exc:
        if os.environ.get("INFOGAN_DEBUG") == "1":
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print_error(f"{exc.strerror or exc}{where}", "check the path and its permissions, and free disk space")
        sys.exit(1)
