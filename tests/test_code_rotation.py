"""benchmarks/code_rotation.py: the rotated sweeps of a run's two continuous codes. Angle 0 is
evaluate's own table, a quarter turn swaps the codes, and bad input is a one-line error."""

from __future__ import annotations

import json

import pytest

from infogan_cli.evaluate import continuous_scores
from infogan_cli.infogan import InfoGAN
from infogan_cli.config import LatentSpec
from tests.conftest import load_benchmark, untrained_checkpoint


@pytest.fixture(scope="module")
def script():
    return load_benchmark("code_rotation")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    # Three continuous codes, so --codes picks a pair and the third stays at 0.
    spec = LatentSpec(noise_dim=8, categorical=(10,), continuous=3)
    return untrained_checkpoint(tmp_path_factory.mktemp("run") / "model.safetensors", spec)


def test_lone_follows_issue_20s_thresholds(script):
    assert script.lone({"slant": 0.95, "width": 0.30, "thickness": 0.9}) == ["slant"]
    assert script.lone({"slant": 0.30, "width": 0.80, "thickness": None}) == ["width"]
    assert script.lone({"slant": 0.95, "width": 0.31, "thickness": 0.0}) == []
    assert script.lone({"slant": None, "width": 0.9, "thickness": 0.0}) == []


def test_angle_zero_is_evaluates_table_and_a_quarter_turn_swaps_the_codes(script, checkpoint):
    model = InfoGAN.load(checkpoint)
    records = script.rotation_scores(model, ("c3", "c4"), [0.0, 90.0], seed=5, rows=12, steps=5)
    own = continuous_scores(model, 5, 12, 5)
    at_zero, at_quarter = records[0]["abs_spearman"], records[1]["abs_spearman"]
    for code, rotated in (("c3", "u"), ("c4", "w")):
        for measure, rho in own.spearman[code].items():
            assert at_zero[rotated][measure] == pytest.approx(abs(rho), abs=1e-9) if rho is not None else at_zero[rotated][measure] is None
    # At 90 degrees u is c4 and w is -c3: the same |rho|, swapped (to the rounding of cos 90).
    assert at_quarter["u"] == pytest.approx(at_zero["w"], abs=1e-6)
    assert at_quarter["w"] == pytest.approx(at_zero["u"], abs=1e-6)
    assert any(v is not None and v > 0 for v in at_zero["u"].values())  # the sweeps measured something


def test_command_line_table_json_and_errors(script, checkpoint, tmp_path, capsys):
    out = tmp_path / "rotations.json"
    assert script.main([str(checkpoint), "--step-degrees", "30", "--rows", "10", "--steps", "3", "--json", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("u = cos t * c2 + sin t * c3") and len(printed) == 2 + 3  # 0, 30, 60 degrees
    record = json.loads(out.read_text())
    assert record["codes"] == ["c2", "c3"] and [r["degrees"] for r in record["rotations"]] == [0, 30, 60]
    for argv, message in [
        ([str(checkpoint), "--codes", "c2", "c9"], "needs two different continuous codes"),
        ([str(checkpoint), "--codes", "c2", "c2"], "needs two different continuous codes"),
        ([str(checkpoint), "--codes", "c1", "c2"], "needs two different continuous codes"),
        ([str(checkpoint), "--step-degrees", "0"], "--step-degrees"),
        ([str(tmp_path / "missing.safetensors")], "error: "),
    ]:
        assert script.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
