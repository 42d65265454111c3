"""featcorr compare: measure options and significance flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from featcorr.cli import app
from featcorr.cli._compare import parse_measure_options

from ..conftest import ref_linear_cka


def test_parse_measure_options():
    got = parse_measure_options(["rbf_cka.threshold=0.4", "rsa.compare=kendall_tau_a", "cca.x=true"], ("rbf_cka", "rsa", "cca"))
    assert got == {"rbf_cka": {"threshold": 0.4}, "rsa": {"compare": "kendall_tau_a"}, "cca": {"x": True}}


def test_permutations_and_options_reach_the_result(tmp_path, rng):
    X = rng.normal(size=(150, 5))
    np.savez(tmp_path / "a.npz", x=X, y=X @ rng.normal(size=(5, 3)), z=rng.normal(size=(150, 2)))
    out = tmp_path / "out"
    r = CliRunner().invoke(
        app,
        ["compare", str(tmp_path / "a.npz"), "-m", "linear_cka", "--permutations", "49", "--seed", "0",
         "--out", str(out), "--quiet"],
    )
    assert r.exit_code == 0, r.output
    frame = pd.read_csv(out / "values.csv").set_index(["layer_a", "layer_b"])
    assert frame.loc[("x", "y"), "p_value"] == pytest.approx(0.02)
    assert frame.loc[("x", "z"), "value"] == pytest.approx(ref_linear_cka(X, np.load(tmp_path / "a.npz")["z"]), rel=1e-10)


def test_bad_option_exits_2(tmp_path, rng):
    np.savez(tmp_path / "a.npz", x=rng.normal(size=(20, 3)))
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "a.npz"), "--option", "rbf_cka.threshold=1", "--out", str(tmp_path / "o1")])
    assert r.exit_code == 2
    assert "not requested" in r.output + (r.stderr if r.stderr_bytes is not None else "")
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "a.npz"), "--option", "nonsense", "--out", str(tmp_path / "o2")])
    assert r.exit_code == 2
