"""`infogan` as a user runs it: help, a tiny training run, and one-line errors."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest

from infogan_cli.checkpoint import load_checkpoint
from infogan_cli.data import load_dataset, read_idx
from infogan_cli.errors import DataError
from tests.conftest import run_main

TINY = ["--width", "4", "--noise-dim", "8", "--batch-size", "16", "--max-steps", "4", "--log-every", "2", "--device", "cpu"]


def test_help_is_instant_and_lists_commands(cli):
    result = cli("--help")
    assert result.returncode == 0
    assert "train" in result.stdout
    result = cli("train", "--help")
    assert result.returncode == 0
    for option in ("--dataset", "--data-root", "--epochs", "--max-steps", "--batch-size", "--categorical", "--resume", "--seed"):
        assert option in result.stdout


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from infogan_cli.cli import app; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bad_option_exits_2_without_traceback(cli):
    result = cli("train", "--no-such-option")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "No such option" in result.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["--dataset", "cifar99"], "unknown dataset 'cifar99'"),
        (["--dataset", "idx:/nonexistent/folder"], "does not exist"),
        (["--lr-d", "5"], "lr-d must be in (0, 1)"),
        (["--categorical", "1"], "categorical cardinality must be between 2"),
        (["--device", "cuda:7"], "cuda"),
        (["--preset", "fancy"], "unknown preset 'fancy'"),
    ],
)
def test_bad_values_are_one_line_errors(cli, tmp_path, args, message):
    result = cli("train", "--dataset", "fake", *TINY, "--out", str(tmp_path / "run"), *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert message in result.stderr


def test_batch_size_zero_is_rejected(cli, tmp_path):
    result = cli("train", "--dataset", "fake", "--batch-size", "0", "--out", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_out_is_a_file(cli, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    result = cli("train", "--dataset", "fake", *TINY, "--out", str(target))
    assert result.returncode == 2
    assert "is a file" in result.stderr


def test_mnist_offline_without_copy_says_where_to_put_files(cli, tmp_path):
    # No network here: torchvision's download fails and we name the folder to fill.
    result = cli("train", *TINY, "--data-root", str(tmp_path / "empty"), "--out", str(tmp_path / "run"), env={"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"})
    assert result.returncode == 2
    assert "MNIST/raw" in result.stderr and "Traceback" not in result.stderr


def test_train_cli_end_to_end_and_resume(cli, tmp_path):
    out = tmp_path / "run"
    result = cli("train", "--dataset", "fake", *TINY, "--out", str(out), "--checkpoint-every", "2")
    assert result.returncode == 0, result.stderr
    assert (out / "last.safetensors").exists() and (out / "config.json").exists()
    assert json.loads((out / "config.json").read_text())["latent"]["noise_dim"] == 8
    result = cli("train", "--dataset", "fake", *TINY[:-4], "--max-steps", "6", "--out", str(out), "--resume")
    assert result.returncode == 0, result.stderr
    assert "resuming at step 4" in result.stderr
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]


def test_resume_needs_out(cli):
    result = cli("train", "--dataset", "fake", "--resume")
    assert result.returncode == 2 and "--resume needs --out" in result.stderr


def write_idx(path, array, gz=False, magic_dtype=0x08):
    header = bytes([0, 0, magic_dtype, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def test_idx_folder_raw_and_gz(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (20, 28, 28))
    labels = np.arange(20) % 10
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, gz=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    data = load_dataset(f"idx:{tmp_path}")
    assert data.images.shape == (20, 1, 28, 28)
    assert data.images[3, 0].numpy().tolist() == images[3].tolist()
    assert data.labels.tolist() == labels.tolist()


def test_idx_bad_magic_and_truncation(tmp_path):
    bad = tmp_path / "bad"
    write_idx(bad, np.zeros((2, 28, 28)), magic_dtype=0x0D)
    with pytest.raises(DataError, match="bad magic number"):
        read_idx(bad)
    truncated = tmp_path / "truncated"
    write_idx(truncated, np.zeros((2, 28, 28)))
    truncated.write_bytes(truncated.read_bytes()[:-10])
    with pytest.raises(DataError, match="truncated"):
        read_idx(truncated)


@pytest.mark.parametrize(
    "args",
    [["--epochs", "0"], ["--max-steps", "-1"], ["--noise-dim", "-1"], ["--continuous", "-2"], ["--width", "0"], ["--batch-size", "-4"]],
    ids=["epochs0", "steps-neg", "noise-neg", "continuous-neg", "width0", "batch-neg"],
)
def test_zero_or_negative_sizes_are_rejected(cli, tmp_path, args):
    result = cli("train", "--dataset", "fake", "--out", str(tmp_path / "run"), *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "last.safetensors").exists()


def test_data_root_that_is_a_file_or_empty(cli, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    result = cli("train", *TINY, "--data-root", str(a_file), "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "is not a folder" in result.stderr and "Traceback" not in result.stderr
    empty = tmp_path / "empty-idx"
    empty.mkdir()
    result = cli("train", *TINY, "--dataset", f"idx:{empty}", "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "no train images IDX file" in result.stderr


def test_out_folder_that_cannot_be_created(cli, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    result = cli("train", "--dataset", "fake", *TINY, "--out", str(blocker / "run"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot write to") and "Traceback" not in result.stderr


def test_tensorboard_logging(cli, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    result = cli("train", "--dataset", "fake", *TINY, "--out", str(out), "--tensorboard")
    assert result.returncode == 0, result.stderr
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert {"train/loss_d", "train/loss_g", "mi/c1"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("train/loss_d")] == [2, 4]


def test_tensorboard_missing_is_a_one_line_error(tmp_path, monkeypatch):
    import sys

    from infogan_cli.cli.train import require_tensorboard
    from infogan_cli.errors import ConfigError

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    with pytest.raises(ConfigError, match="needs the tensorboard package"):
        require_tensorboard()


# ----------------------------------------------------------------------------- run folders

SMALL = ["--dataset", "fake", "--width", "4", "--noise-dim", "8", "--batch-size", "16", "--log-every", "2", "--device", "cpu"]


def files_of(run_dir):
    return {p: p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_resume_keeps_the_runs_options_and_shows_what_changes(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = run_main(capsys, "train", *SMALL, "--max-steps", "4", "--checkpoint-every", "3", "--out", str(out))
    assert code == 0, err
    # What the CLI prints after an interruption, plus a longer budget: nothing else may change.
    code, _, err = run_main(capsys, "train", "--out", str(out), "--resume", "--max-steps", "6")
    assert code == 0, err
    assert err.splitlines()[0].endswith("| resuming at step 4 with max-steps 4 -> 6")
    config = json.loads((out / "config.json").read_text())
    assert (config["max_steps"], config["checkpoint_every"], config["log_every"], config["keep"]) == (6, 3, 2, 3)
    assert (config["dataset"], config["batch_size"], config["model"]["width"], config["latent"]["noise_dim"]) == ("fake", 16, 4, 8)
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [2, 3, 4, 6]


def test_resuming_a_run_at_its_end_trains_nothing(capsys, tmp_path):
    out = tmp_path / "run"
    assert run_main(capsys, "train", *SMALL, "--max-steps", "2", "--out", str(out))[0] == 0
    before = files_of(out)
    stamps = {p: p.stat().st_mtime_ns for p in before}
    code, _, err = run_main(capsys, "train", "--out", str(out), "--resume")
    assert code == 0, err
    assert err.startswith(f"nothing to train: run {out} has reached its end (10 epochs, max-steps 2) at step 2\n")
    assert "done:" not in err
    assert files_of(out) == before and {p: p.stat().st_mtime_ns for p in before} == stamps


def test_resume_refuses_to_change_what_the_run_is(capsys, tmp_path):
    out = tmp_path / "run"
    assert run_main(capsys, "train", *SMALL, "--max-steps", "2", "--out", str(out))[0] == 0
    before = files_of(out)
    for args, option in [(["--lr-d", "0.001"], "--lr-d"), (["--preset", "tutorial"], "--batch-size"), (["--seed", "5"], "--seed")]:
        code, _, err = run_main(capsys, "train", "--out", str(out), "--resume", "--max-steps", "4", *args)
        assert code == 2 and err.startswith(f"error: {option} cannot change when resuming"), err
    # Repeating the run's own values is fine.
    code, _, err = run_main(capsys, "train", "--out", str(out), "--resume", *SMALL, "--seed", "0", "--max-steps", "3")
    assert code == 0, err
    assert "resuming at step 2 with max-steps 2 -> 3" in err
    assert before.keys() <= files_of(out).keys()


def test_a_new_run_into_a_folder_holding_one_is_refused(capsys, tmp_path):
    out = tmp_path / "run"
    assert run_main(capsys, "train", *SMALL, "--max-steps", "4", "--checkpoint-every", "2", "--out", str(out))[0] == 0
    before = files_of(out)
    code, _, err = run_main(capsys, "train", *SMALL, "--max-steps", "2", "--out", str(out))
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--resume" in err and "fresh --out" in err
    assert files_of(out) == before  # the old run is untouched
    code, _, err = run_main(capsys, "train", *SMALL, "--out", str(out), "--resume", "--overwrite")
    assert code == 2 and "exclude each other" in err


def test_overwrite_removes_the_old_runs_files_first(capsys, tmp_path):
    out = tmp_path / "run"
    assert run_main(capsys, "train", *SMALL, "--max-steps", "4", "--checkpoint-every", "2", "--out", str(out))[0] == 0
    (out / "notes.txt").write_text("mine")
    code, _, err = run_main(capsys, "train", *SMALL, "--max-steps", "1", "--out", str(out), "--overwrite")
    assert code == 0, err
    assert "removed the previous run's files" in err
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1]
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-000001.safetensors"]
    assert [p.name for p in (out / "samples").iterdir()] == ["step-000001.png"]
    assert load_checkpoint(out / "last.safetensors").step == 1
    assert (out / "notes.txt").read_text() == "mine"  # not a run file: kept


def test_overwrite_deletes_only_the_runs_own_files(capsys, tmp_path):
    out = tmp_path / "run"
    assert run_main(capsys, "train", *SMALL, "--max-steps", "4", "--checkpoint-every", "2", "--out", str(out))[0] == 0
    (out / "checkpoints" / "mine.txt").write_text("my own")
    (out / "samples" / "notes.md").write_text("my notes")
    code, _, err = run_main(capsys, "train", *SMALL, "--max-steps", "1", "--out", str(out), "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["mine.txt", "step-000001.safetensors"]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["notes.md", "step-000001.png"]
    assert (out / "checkpoints" / "mine.txt").read_text() == "my own" and (out / "samples" / "notes.md").read_text() == "my notes"


def test_remove_run_leaves_folders_with_other_files_and_removes_emptied_ones(tmp_path):
    from infogan_cli.trainer import remove_run, train
    from tests.conftest import tiny_config

    list(train(tiny_config(max_steps=4, checkpoint_every=2), tmp_path))
    (tmp_path / "checkpoints" / ".step-000006.safetensors.x1y2.tmp").write_bytes(b"half")  # a killed write
    (tmp_path / "samples" / "mine.png").write_bytes(b"a user's image")
    (tmp_path / "tensorboard").mkdir()
    (tmp_path / "tensorboard" / "events.out.tfevents.1700000000.host.123.0").write_bytes(b"events")
    remove_run(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["samples", "samples/mine.png"]


def test_a_users_own_checkpoints_folder_is_not_a_run(capsys, tmp_path):
    out = tmp_path / "project"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "model.pt").write_bytes(b"the user's model")
    code, _, err = run_main(capsys, "train", *SMALL, "--max-steps", "1", "--out", str(out))
    assert code == 0, err
    assert (out / "checkpoints" / "model.pt").read_bytes() == b"the user's model"


def test_a_run_stopped_before_its_first_checkpoint_still_holds_the_folder(capsys, tmp_path):
    from infogan_cli.trainer import TrainStarted, train
    from tests.conftest import tiny_config

    events = train(tiny_config(), tmp_path)
    assert isinstance(next(events), TrainStarted)
    events.close()  # as a hard kill right after the start: config.json, no checkpoint
    assert (tmp_path / "config.json").exists() and not (tmp_path / "last.safetensors").exists()
    code, _, err = run_main(capsys, "train", *SMALL, "--max-steps", "1", "--out", str(tmp_path))
    assert code == 2 and "already holds a run" in err, err
    code, _, err = run_main(capsys, "train", *SMALL, "--max-steps", "1", "--out", str(tmp_path), "--overwrite")
    assert code == 0, err



# ----------------------------------------------------------------------------- defaults in --help


def shown_defaults(help_text: str) -> dict[str, str]:
    """{option: the text of its [default: ...]} from `--help`, rendered one row per option."""
    shown = {}
    for line in help_text.splitlines():
        match = re.match(r"│ (--[\w-]+)\b.*\[default: (.*?)\]\s*│$", line)
        if match:
            shown[match.group(1)] = match.group(2)
    return shown


def parse_like(text: str, example):
    """A shown default read back as the type of the config's value."""
    if isinstance(example, bool):
        return {"on": True, "off": False}[text]
    if isinstance(example, tuple):
        return tuple(int(part) for part in text.split(", "))
    return type(example)(text)


def test_help_shows_every_default_from_the_config_and_presets(cli):
    import typing

    from infogan_cli.cli.train import train
    from infogan_cli.cli.defaults import option_field
    from infogan_cli.config import DEFAULT_PRESET, FOLDER_CHANNELS, FOLDER_IMAGE_SIZE, PRESETS, build_train_config
    from infogan_cli.data import DATA_ROOT_ENV, DEFAULT_DATA_ROOT

    result = cli("train", "--help", env={"COLUMNS": "1000"})  # wide enough that no row wraps
    assert result.returncode == 0
    assert not re.search(r"\(default[ :]", result.stdout)  # no "(default 12)" written into a help text by hand
    shown = shown_defaults(result.stdout)
    presets = {name: build_train_config(name) for name in PRESETS}
    options = [name for name in typing.get_type_hints(train) if option_field(name)]
    assert len(options) >= 25
    for name in options:
        option = "--" + name.replace("_", "-")
        assert option in shown, f"{option} shows no default"
        text = shown[option].removeprefix("(").removesuffix(")")
        first, *by_preset = text.split("; ")
        field = option_field(name)
        expected = {preset: _field(config, field) for preset, config in presets.items()}
        if expected[DEFAULT_PRESET] is None:  # a default that is a rule, not a value
            assert not first[0].isdigit(), (option, first)
            if name == "image_size":
                assert text == f"the dataset's; folders {FOLDER_IMAGE_SIZE}"
            if name == "channels":
                assert text == f"the dataset's; folders {FOLDER_CHANNELS}"
            continue
        assert parse_like(first, expected[DEFAULT_PRESET]) == expected[DEFAULT_PRESET], option
        overridden = {}
        for part in by_preset:
            names, value = re.fullmatch(r"--preset (.+): (.+)", part).groups()
            for preset in names.split(" or "):
                overridden[preset] = parse_like(value, expected[DEFAULT_PRESET])
        for preset, value in expected.items():
            assert overridden.get(preset, expected[DEFAULT_PRESET]) == value, (option, preset)
    assert shown["--preset"] == f"({DEFAULT_PRESET})"
    data_root = shown["--data-root"]
    assert f"${DATA_ROOT_ENV}" in data_root and str(DEFAULT_DATA_ROOT).replace(str(Path.home()), "~") in data_root


def _field(config, dotted):
    for part in dotted.split("."):
        config = getattr(config, part)
    return config
