"""`infogan sample` and `infogan traverse`: grid sizes, determinism, fixed codes, npz, GIFs and
every bad input (one `error:` line, exit 2, nothing written).

Checkpoints are tiny untrained models; the CLI runs in-process through ``main`` (so the error
handling is the real one), plus one real subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from infogan_cli.cli.common import parse_codes
from infogan_cli.config import LatentSpec, ModelConfig
from infogan_cli.infogan import InfoGAN
from infogan_cli.latent import generator_input
from infogan_cli.models import Generator
from infogan_cli.traverse import categorical_traversal, continuous_traversal, sweep_values
from tests.conftest import run_main as run_cli, BAD_CHECKPOINT_KINDS, assert_one_error_line, bad_checkpoint, untrained_checkpoint

MODEL = ModelConfig(width=4, hidden=16, q_hidden=8)
SPECS = {
    "one_cat": LatentSpec(noise_dim=8, categorical=(10,), continuous=2),
    "two_cat": LatentSpec(noise_dim=8, categorical=(10, 4), continuous=1),
    "no_cat": LatentSpec(noise_dim=8, categorical=(), continuous=2),
}

# Labelled grids: 28 px images, 2 px padding (one strip before each cell and one at the end),
# a 56 px margin of row labels on the left and a 14 px line of column labels on top.
CELL, PAD, LEFT, TOP = 28, 2, 56, 14


def grid_size(rows: int, columns: int, left: int = 0, top: int = 0) -> tuple[int, int]:
    return (left + columns * (CELL + PAD) + PAD, top + rows * (CELL + PAD) + PAD)


def make_checkpoint(path: Path, spec: LatentSpec) -> Path:
    return untrained_checkpoint(path, spec, MODEL)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("checkpoints")
    return {name: make_checkpoint(folder / f"{name}.safetensors", spec) for name, spec in SPECS.items()}


# ----------------------------------------------------------------------------- traversal batches


def test_categorical_traversal_sweeps_one_code_over_fixed_rows() -> None:
    spec = SPECS["two_cat"]
    t = categorical_traversal(spec, "c2", rows=3, generator=torch.Generator().manual_seed(0))
    assert (t.rows, t.columns) == (3, 4)
    assert t.latent.categorical[1].tolist() == [0, 1, 2, 3] * 3  # column j -> c2 = j
    cells = lambda x: x.view(3, 4, *x.shape[1:])  # noqa: E731 - (rows, columns, ...)
    for tensor in (t.latent.noise, t.latent.categorical[0], t.latent.continuous):
        assert torch.equal(cells(tensor), cells(tensor)[:, :1].expand_as(cells(tensor)))  # fixed per row
    assert not torch.equal(cells(t.latent.noise)[0, 0], cells(t.latent.noise)[1, 0])  # rows differ


def test_continuous_traversal_holds_noise_and_other_codes() -> None:
    spec = SPECS["one_cat"]
    values = sweep_values(-2, 2, 5)
    t = continuous_traversal(spec, "c3", values, rows=3, generator=torch.Generator().manual_seed(0))
    assert (t.rows, t.columns) == (10, 5)
    assert torch.equal(t.latent.noise, t.latent.noise[:1].expand_as(t.latent.noise))  # one noise for all
    assert t.latent.categorical[0].tolist() == [i for i in range(10) for _ in range(5)]  # row i -> c1 = i
    assert torch.equal(t.latent.continuous[:, 1], values.repeat(10))  # column j -> c3 = values[j]
    assert torch.equal(t.latent.continuous[:, 0], t.latent.continuous[:1, 0].expand(50))  # c2 fixed
    assert t.row_labels[3] == "c1=3" and t.column_labels == ["-2", "-1", "0", "1", "2"]


# ----------------------------------------------------------------------------- traverse


TRAVERSE_SIZES = {
    # --rows 3 --steps 5: categorical grids are 3 x K, continuous grids K(c1) x 5 or 3 x 5.
    "one_cat": {"c1": (3, 10), "c2": (10, 5), "c3": (10, 5)},
    "two_cat": {"c1": (3, 10), "c2": (3, 4), "c3": (10, 5)},
    "no_cat": {"c1": (3, 5), "c2": (3, 5)},
}


@pytest.mark.parametrize("name", SPECS)
def test_traverse_grid_sizes_and_gif_frames(capsys, checkpoints, tmp_path, name) -> None:
    out = tmp_path / "grids"
    code, _, err = run_cli(capsys, "traverse", str(checkpoints[name]), "--out", str(out), "--rows", "3", "--steps", "5", "--gif", "--device", "cpu")
    assert code == 0, err
    spec = SPECS[name]
    expected = {f"{c}.png" for c in spec.code_names} | {f"{c}.gif" for c in spec.continuous_names}
    assert {p.name for p in out.iterdir()} == expected
    for code_name, (rows, columns) in TRAVERSE_SIZES[name].items():
        assert Image.open(out / f"{code_name}.png").size == grid_size(rows, columns, LEFT, TOP)
    for code_name in spec.continuous_names:
        gif = Image.open(out / f"{code_name}.gif")
        rows = TRAVERSE_SIZES[name][code_name][0]
        assert gif.n_frames == 5  # one frame per --steps value
        assert gif.size == grid_size(rows, 1, LEFT, TOP)  # one column of the grid per frame
        assert gif.info.get("loop") == 0
        assert f"{code_name}.gif" in err  # the table on stderr lists it


def test_traverse_is_deterministic(capsys, checkpoints, tmp_path) -> None:
    def files(out: Path, seed: str) -> dict[str, bytes]:
        code, _, err = run_cli(capsys, "traverse", str(checkpoints["one_cat"]), "--out", str(out), "--rows", "2", "--steps", "3", "--seed", seed, "--device", "cpu")
        assert code == 0, err
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}

    first, again, other = files(tmp_path / "a", "5"), files(tmp_path / "b", "5"), files(tmp_path / "c", "6")
    assert first == again
    assert all(first[k] != other[k] for k in first)


# ----------------------------------------------------------------------------- sample


@pytest.mark.parametrize(
    ("args", "size"),
    [
        (["--n", "10", "--nrow", "4"], grid_size(3, 4)),  # 10 images, 4 per row: 3 rows
        (["--n", "16"], grid_size(4, 4)),  # nrow defaults to ceil(sqrt(16))
        ([], grid_size(10, 10)),  # 100 images by default
    ],
)
def test_sample_grid_size(capsys, checkpoints, tmp_path, args, size) -> None:
    out = tmp_path / "s.png"
    code, stdout, err = run_cli(capsys, "sample", str(checkpoints["two_cat"]), "--out", str(out), "--device", "cpu", *args)
    assert code == 0, err
    assert stdout.strip() == str(out)
    assert Image.open(out).size == size


def test_sample_default_output_beside_checkpoint(capsys, checkpoints) -> None:
    code, stdout, err = run_cli(capsys, "sample", str(checkpoints["no_cat"]), "--n", "4", "--seed", "3", "--device", "cpu")
    assert code == 0, err
    expected = checkpoints["no_cat"].with_name("no_cat-samples-seed3.png")
    assert stdout.strip() == str(expected) and expected.is_file()


def test_sample_is_deterministic(capsys, checkpoints, tmp_path) -> None:
    def png(name: str, seed: str) -> bytes:
        code, _, err = run_cli(capsys, "sample", str(checkpoints["one_cat"]), "--n", "9", "--seed", seed, "--out", str(tmp_path / name), "--device", "cpu")
        assert code == 0, err
        return (tmp_path / name).read_bytes()

    assert png("a.png", "7") == png("b.png", "7")
    assert png("c.png", "7") != png("d.png", "8")


def test_code_sets_the_one_hot_in_the_generator_input(capsys, checkpoints, tmp_path, monkeypatch) -> None:
    spec = SPECS["one_cat"]
    model = InfoGAN.load(checkpoints["one_cat"])
    codes = model.validate_codes(parse_codes(["c1=3", "c2=0.5"], spec))
    assert codes == {"c1": 3, "c2": 0.5}
    latent_input = generator_input(spec, model.sample_latent(6, seed=0, codes=codes))  # (6, 8 + 10 + 2)
    assert torch.equal(latent_input[:, 8:18], torch.eye(10)[3].expand(6, 10))
    assert torch.equal(latent_input[:, 18], torch.full((6,), 0.5))

    # The same through the CLI, recording what the generator actually receives.
    seen: list[torch.Tensor] = []
    forward = Generator.forward
    monkeypatch.setattr(Generator, "forward", lambda self, x: (seen.append(x.clone()), forward(self, x))[1])
    code, _, err = run_cli(capsys, "sample", str(checkpoints["one_cat"]), "--code", "c1=3", "--n", "6", "--out", str(tmp_path / "s.png"), "--device", "cpu")
    assert code == 0, err
    (received,) = seen
    assert torch.equal(received[:, 8:18], torch.eye(10)[3].expand(6, 10))
    assert received[:, 19].unique().numel() > 1  # c3 not fixed: drawn from its prior


def test_sample_npz_contents(capsys, checkpoints, tmp_path) -> None:
    out = tmp_path / "samples.npz"  # the .npz suffix picks the format
    code, _, err = run_cli(capsys, "sample", str(checkpoints["two_cat"]), "--n", "5", "--code", "c2=1", "--code", "c3=-0.25", "--out", str(out), "--device", "cpu")
    assert code == 0, err
    with np.load(out, allow_pickle=False) as data:
        assert set(data.files) == {"images", "noise", "c1", "c2", "c3", "latent_spec"}
        assert data["images"].shape == (5, 1, 28, 28) and data["images"].dtype == np.float32
        assert -1 <= data["images"].min() and data["images"].max() <= 1
        assert data["noise"].shape == (5, 8)
        assert data["c1"].dtype == np.int64 and set(data["c1"].tolist()) <= set(range(10))
        assert data["c2"].tolist() == [1] * 5
        assert np.allclose(data["c3"], -0.25)
        assert json.loads(str(data["latent_spec"]))["categorical"] == [10, 4]
    # --format npz writes the same arrays whatever the file is called.
    code, _, err = run_cli(capsys, "sample", str(checkpoints["two_cat"]), "--n", "5", "--code", "c2=1", "--code", "c3=-0.25", "--out", str(tmp_path / "x.bin"), "--format", "npz", "--device", "cpu")
    assert code == 0, err
    with np.load(out) as a, np.load(tmp_path / "x.bin") as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


# ----------------------------------------------------------------------------- bad input

BAD_CODES = [
    ["--code", "c9=1"],  # no such code
    ["--code", "c1=10"],  # categorical out of 0..9
    ["--code", "c1=-1"],
    ["--code", "c1=3.5"],  # not an integer
    ["--code", "c1=abc"],
    ["--code", "c1=inf"],
    ["--code", "c2=abc"],  # continuous, not a number
    ["--code", "c2=nan"],
    ["--code", "c2"],  # not NAME=VALUE
    ["--code", "c2=1", "--code", "c2=2"],  # given twice
]
BAD_COUNTS = [["--n", "0"], ["--nrow", "0"], ["--seed", "-1"], ["--format", "jpeg"], ["--device", "tpu"]]
BAD_TRAVERSE = [["--range", "1", "1"], ["--range", "2", "-2"], ["--range", "-inf", "2"], ["--steps", "1"], ["--rows", "0"]]


@pytest.mark.parametrize("command", ["sample", "traverse"])
@pytest.mark.parametrize("kind", BAD_CHECKPOINT_KINDS)
def test_bad_checkpoint(capsys, checkpoints, tmp_path, command, kind) -> None:
    path = bad_checkpoint(tmp_path, kind, checkpoints["one_cat"])
    out = tmp_path / "out"
    out_arg = str(out / "s.png") if command == "sample" else str(out)
    code, stdout, err = run_cli(capsys, command, str(path), "--out", out_arg, "--device", "cpu")
    assert_one_error_line(code, err)
    assert stdout == "" and not out.exists()


@pytest.mark.parametrize("args", BAD_CODES + BAD_COUNTS, ids=" ".join)
def test_sample_bad_input(capsys, checkpoints, tmp_path, args) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "sample", str(checkpoints["one_cat"]), "--out", str(out / "s.png"), "--n", "4", *args)
    assert_one_error_line(code, err)
    assert stdout == "" and not out.exists()


@pytest.mark.parametrize("args", BAD_TRAVERSE + [["--seed", "-1"]], ids=" ".join)
def test_traverse_bad_input(capsys, checkpoints, tmp_path, args) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "traverse", str(checkpoints["one_cat"]), "--out", str(out), "--device", "cpu", *args)
    assert_one_error_line(code, err)
    assert not out.exists()


@pytest.mark.parametrize("command", ["sample", "traverse"])
def test_output_folder_not_writable(capsys, checkpoints, tmp_path, command) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    # A path below a file can't be created, even by root (which ignores permission bits).
    out = blocker / "sub" / ("s.png" if command == "sample" else "grids")
    code, _, err = run_cli(capsys, command, str(checkpoints["one_cat"]), "--out", str(out), "--device", "cpu")
    assert_one_error_line(code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_noise_only_model_has_nothing_to_traverse(capsys, tmp_path) -> None:
    path = make_checkpoint(tmp_path / "noise.safetensors", LatentSpec(noise_dim=8, categorical=(), continuous=0))
    code, _, err = run_cli(capsys, "traverse", str(path), "--out", str(tmp_path / "out"), "--device", "cpu")
    assert_one_error_line(code, err)
    assert not (tmp_path / "out").exists()


def test_real_entry_point_reports_one_line(checkpoints, tmp_path) -> None:
    """The installed module path, as a user runs it: one line, exit 2, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "infogan_cli", "sample", str(checkpoints["one_cat"]), "--code", "c1=12", "--out", str(tmp_path / "s.png")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "INFOGAN_DEBUG": "0"},
    )
    assert_one_error_line(result.returncode, result.stderr)
    assert "c1 is categorical with 10 values" in result.stderr
    assert not (tmp_path / "s.png").exists()


# ----------------------------------------------------------------------------- GPU


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sample_on_cuda_is_deterministic_and_matches_cpu(capsys, checkpoints, tmp_path) -> None:
    for name, device in (("a.npz", "cuda"), ("b.npz", "cuda"), ("cpu.npz", "cpu")):
        code, _, err = run_cli(capsys, "sample", str(checkpoints["one_cat"]), "--n", "8", "--out", str(tmp_path / name), "--device", device)
        assert code == 0, err
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b, np.load(tmp_path / "cpu.npz") as cpu:
        assert np.array_equal(a["images"], b["images"])
        assert np.array_equal(a["noise"], cpu["noise"])  # latents drawn on the CPU either way
        assert np.allclose(a["images"], cpu["images"], atol=1e-3)
