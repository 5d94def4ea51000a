"""docs/cli.md documents every option of every command, and every key of the `--json` outputs of
`inspect` and `evaluate` (checked against real outputs): this fails when one is added, renamed or
removed without the page following."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer.main

from infogan_cli.cli.app import app
from tests.conftest import run_cli, run_main

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


def train_option_defaults() -> dict[str, str]:
    """{first option spelling: its default cell, backticks removed} from the option table of the
    `infogan train` section."""
    section = sections(CLI_DOC.read_text())["train"]
    table = section[section.index("| option | default | meaning |") :]
    defaults = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        defaults[re.search(r"--[\w-]+", cells[0]).group()] = cells[1].replace("`", "")
    return defaults


def help_default(param) -> str:
    """What `infogan train --help` shows as an option's default: for a config field, shown_default
    (derived from the config and the presets); for the rest, the option's own text or value."""
    from infogan_cli.cli.defaults import option_field, shown_default
    from infogan_cli.config import shown_value

    if option_field(param.name) and param.name != "data_root":  # data_root's default is a rule: the env variable, else the cache
        return shown_default(param.name)
    return param.show_default if isinstance(param.show_default, str) else shown_value(param.default)


def test_train_option_table_shows_the_defaults_help_shows() -> None:
    documented = train_option_defaults()
    params = [p for p in COMMANDS["train"].params if p.name != "help"]
    drifted = [
        f"{p.opts[0]}: docs say {documented.get(p.opts[0])!r}, --help {help_default(p)!r}"
        for p in params
        if documented.get(p.opts[0]) != help_default(p)
    ]
    assert not drifted, "docs/cli.md, `infogan train` option table:\n" + "\n".join(drifted)


# ----------------------------------------------------------------------------- --json outputs

JSON_TYPES = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def documented_keys(command: str) -> dict[tuple[str, ...], list[str]]:
    """{key path: allowed JSON types} from the `| key | type | meaning |` table of a command's
    section. A path is split on dots; `<...>` is any key, `[]` any item of a list."""
    section = sections(CLI_DOC.read_text())[command]
    table = section[section.index("| key | type | meaning |") :]
    keys: dict[tuple[str, ...], list[str]] = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        path, types = cells[0].strip("`"), [t.split()[0] for t in cells[1].split(" or ")]
        assert all(t in JSON_TYPES for t in types), f"unknown type in: {line}"
        keys[tuple(path.replace("[]", ".[]").split("."))] = types
    return keys


def matches(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    return len(pattern) == len(path) and all(p == k or (p.startswith("<") and p.endswith(">")) for p, k in zip(pattern, path))


def check_against_doc(document: object, documented: dict[tuple[str, ...], list[str]]) -> set[tuple[str, ...]]:
    """Walk a real output: every key must be documented with its JSON type; objects and lists are
    entered where the table documents what is inside them. Returns the patterns it met."""
    met: set[tuple[str, ...]] = set()

    def visit(value: object, path: tuple[str, ...]) -> None:
        patterns = [p for p in documented if matches(p, path)]
        if path and not patterns:
            # An object or list that is not itself a row is fine if the table documents inside it.
            inside = [p for p in documented if len(p) > len(path) and matches(p[: len(path)], path)]
            assert inside and isinstance(value, (dict, list)), f"undocumented key {'.'.join(path)} = {value!r:.80}"
        for pattern in patterns:
            met.add(pattern)
            types = documented[pattern]
            assert any(JSON_TYPES[t](value) for t in types), f"{'.'.join(path)} is {value!r:.80}, documented as {' or '.join(types)}"
        inside = [p for p in documented if len(p) > len(path) and matches(p[: len(path)], path)]
        if isinstance(value, dict) and (inside or not path):
            for key, child in value.items():
                visit(child, (*path, key))
        elif isinstance(value, list) and any(p[len(path)] == "[]" for p in inside):
            for item in value:
                visit(item, (*path, "[]"))

    visit(document, ())
    return met


def assert_documented(command: str, *documents: object) -> None:
    documented = documented_keys(command)
    met: set[tuple[str, ...]] = set()
    for document in documents:
        met |= check_against_doc(document, documented)
    stale = sorted(".".join(p) for p in documented if p not in met)
    assert not stale, f"docs/cli.md, `infogan {command}` JSON table: no real output has {', '.join(stale)}"


def test_doc_check_catches_undocumented_and_mistyped_keys() -> None:
    documented = {("a",): ["integer"], ("b", "<code>", "x"): ["number", "null"], ("c", "[]", "name"): ["string"]}
    assert check_against_doc({"a": 1, "b": {"c1": {"x": None}, "c2": {"x": 0.5}}, "c": [{"name": "z"}]}, documented) == set(documented)
    with pytest.raises(AssertionError, match="undocumented key d"):
        check_against_doc({"a": 1, "d": 2}, documented)
    with pytest.raises(AssertionError, match="undocumented key b.c1.y"):
        check_against_doc({"b": {"c1": {"y": 1}}}, documented)
    with pytest.raises(AssertionError, match="a is 1.5, documented as integer"):
        check_against_doc({"a": 1.5}, documented)


def test_inspect_json_matches_its_documentation(tmp_path) -> None:
    from infogan_cli.config import LatentSpec, ModelConfig, TrainConfig
    from infogan_cli.trainer import train

    config = TrainConfig(
        latent=LatentSpec(noise_dim=8, categorical=(10,), continuous=1), model=ModelConfig(width=4, hidden=16, q_hidden=8),
        dataset="fake", max_steps=1, batch_size=16, log_every=1, device="cpu",
        lambda_fake_consistency=1.0, lambda_contrastive=1.0, contrastive_start_epoch=0,  # so that every optional metric is logged
    )
    checkpoint = list(train(config, tmp_path / "run"))[-1].checkpoint
    result = run_cli("inspect", str(checkpoint), "--json")
    assert result.returncode == 0, result.stderr
    assert_documented("inspect", json.loads(result.stdout))


def test_evaluate_json_matches_its_documentation(capsys, tmp_path, monkeypatch) -> None:
    """A real `infogan evaluate --json` of a tiny untrained model with two categorical and two
    continuous codes, on the `fake` set with a briefly trained classifier."""
    from infogan_cli.classifier import save_classifier, train_classifier
    from infogan_cli.config import LatentSpec
    from infogan_cli.data import load_dataset
    from tests.test_evaluate import make_checkpoint

    train, test = load_dataset("fake", train=True), load_dataset("fake", train=False)
    classifier = save_classifier(train_classifier(train, test, "cpu", max_steps=8), tmp_path / "classifier.safetensors")
    checkpoint = make_checkpoint(tmp_path / "model.safetensors", LatentSpec(noise_dim=8, categorical=(10, 3), continuous=2))
    code, stdout, stderr = run_main(
        capsys, "evaluate", str(checkpoint), "--json", "--n-samples", "40", "--device", "cpu", "--classifier", str(classifier)
    )
    assert code == 0, stderr
    assert_documented("evaluate", json.loads(stdout))
