"""docs/cli.md documents every option of every command: this fails when one is added, renamed
or removed without the page following."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from infogan_cli.cli.app import app

CLI_DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
COMMANDS = typer.main.get_command(app).commands


def sections(text: str) -> dict[str, str]:
    """{command: its section's text}, from the `## infogan COMMAND` headings."""
    parts = re.split(r"^## infogan (\S+)[ \t]*$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def documented_names(command) -> list[str]:
    """What a user types: every option spelling (--x, --no-x) and each argument as NAME."""
    names: list[str] = []
    for param in command.params:
        if param.param_type_name == "argument":
            names.append(param.name.upper())
        else:
            names.extend([*param.opts, *param.secondary_opts])
    return names


def test_every_command_has_a_section() -> None:
    documented = sections(CLI_DOC.read_text())
    assert sorted(COMMANDS) == sorted(documented)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_is_documented_under_its_command(name: str) -> None:
    section = sections(CLI_DOC.read_text()).get(name, "")
    # Whole words only: `--n` must not count as documented because `--no-resume` is.
    missing = [n for n in documented_names(COMMANDS[name]) if not re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", section)]
    assert not missing, f"docs/cli.md, section `## infogan {name}`, does not mention: {', '.join(missing)}"
