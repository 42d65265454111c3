"""`featcorr select`: files in, ranked features (CSV + JSON + PNG) out, bad input -> one line and exit 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from featcorr.cli import app
from featcorr.cli._select import SELECT_METHODS

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def table(rng):
    n = 300
    frame = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"f{i}" for i in range(6)])
    frame["label"] = 2.0 * frame["f2"] - frame["f4"] + 0.1 * rng.normal(size=n)
    return frame


def test_help_lists_every_method():
    res = invoke("select", "--help")
    assert res.exit_code == 0
    flat = " ".join(res.output.split())
    for name in SELECT_METHODS:
        assert name in flat
    assert set(SELECT_METHODS) == {"rank", "mrmr", "hsic_lasso", "disco", "sequential_attention",
                                   "feature_gradients"}


@pytest.mark.parametrize("method", list(SELECT_METHODS))
def test_every_method_finds_planted_pair_csv(tmp_path, table, method):
    path = tmp_path / "data.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "out"
    res = invoke("select", path, "--target", "label", "--method", method, "-k", 2, "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    assert res.output == ""  # --quiet
    csv = pd.read_csv(out / "select.csv")
    assert list(csv.columns) == ["name", "score", "rank", "selected"]
    assert set(csv.loc[csv.selected, "name"]) == {"f2", "f4"}
    assert csv["rank"].tolist() == list(range(1, 7))
    payload = json.loads((out / "select.json").read_text())
    assert payload["method"] == method and payload["target"] == "label" and payload["task"] == "regression"
    assert [f["name"] for f in payload["features"]] == csv["name"].tolist()
    assert (out / "select.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_npz_and_table_output(tmp_path, table):
    path = tmp_path / "data.npz"
    np.savez(path, **{c: table[c].to_numpy() for c in table.columns})
    res = invoke("select", path, "--target", "label", "-k", 1, "--out", tmp_path / "o")
    assert res.exit_code == 0, res.output
    assert "f2" in res.output and "select.csv" in res.output
    assert pd.read_csv(tmp_path / "o" / "select.csv")["name"].iloc[0] == "f2"


def test_unknown_target_lists_close_matches(tmp_path, table):
    path = tmp_path / "data.csv"
    table.to_csv(path, index=False)
    res = invoke("select", path, "--target", "lable", "--out", tmp_path / "o")
    assert res.exit_code == 2
    assert "target column 'lable' is not in" in res.output and "'label'" in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    "args,match",
    [
        (["--method", "lasso"], "not a selector"),
        (["-k", "9"], "-k 9 must be between 1"),
        (["--task", "ordinal"], "--task 'ordinal'"),
        (["--method", "rank", "--dependence", "cosine"], "cosine"),
    ],
)
def test_bad_options_exit_2(tmp_path, table, args, match):
    path = tmp_path / "data.csv"
    table.to_csv(path, index=False)
    res = invoke("select", path, "--target", "label", "--out", tmp_path / "o", *args)
    assert res.exit_code == 2, res.output
    assert match in res.output and "Traceback" not in res.output


def test_bad_files_exit_2(tmp_path):
    res = invoke("select", tmp_path / "missing.csv", "--target", "y")
    assert res.exit_code == 2 and "does not exist" in res.output
    bad = tmp_path / "data.txt"
    bad.write_text("a,b\n1,2\n")
    res = invoke("select", bad, "--target", "b")
    assert res.exit_code == 2 and "extension '.txt'" in res.output
    npz = tmp_path / "ragged.npz"
    np.savez(npz, a=np.zeros(3), b=np.zeros(4))
    res = invoke("select", npz, "--target", "a")
    assert res.exit_code == 2 and "equal-length 1-D arrays" in res.output
