"""ComparisonResult: matrices, long frames, exact save/load round trip, load errors, plots."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import featcorr as fc
from featcorr.compare import ComparisonResult
from featcorr.errors import FeatcorrError, NotAResultError, UnknownMeasureError

from .helpers import MLP


@pytest.fixture
def result():
    X = torch.randn(60, 10, generator=torch.Generator().manual_seed(0))
    return fc.compare(MLP(), [X[:30], X[30:]], MLP(seed=3), layers_a=["fc1", "act1", "fc3"], layers_b=["fc2", "fc1"],
                      progress=False)


def _awkward():
    rng = np.random.default_rng(0)
    la = ["0", "01", "a,b", 'quo"te', "block#2", "ünï"]
    lb = ["1.0", "x y", "block"]
    values = {"linear_cka": rng.random((6, 3)), "procrustes": rng.random((6, 3)) * 3}
    values["linear_cka"][0, 0] = 1 / 3  # needs all 17 digits
    extras = {"linear_cka": {"p_value": rng.random((6, 3)), "ci_low": rng.random((6, 3))}}
    meta = {"n_samples": 123, "note": "täst", "nested": {"x": [1, 2.5]}}
    return ComparisonResult(values, la, lb, metadata=meta, extras=extras)


def test_matrix_frame_and_accessors(result):
    m = result.matrix("linear_cka")
    assert isinstance(m, pd.DataFrame) and m.shape == (3, 2)
    assert list(m.index) == ["fc1", "act1", "fc3"] and list(m.columns) == ["fc2", "fc1"]
    assert m.index.name == "layer_a" and m.columns.name == "layer_b"
    assert result.matrix().equals(m)  # default: the first measure
    f = result.to_frame()
    assert list(f.columns) == ["layer_a", "layer_b", "measure", "value"] and len(f) == 6
    for row in f.itertuples():
        assert row.value == m.loc[row.layer_a, row.layer_b]
    assert result.measures == ["linear_cka"] and result.layers_a == ["fc1", "act1", "fc3"]
    assert result.layers_b == ["fc2", "fc1"]
    meta = result.metadata
    meta["n_samples"] = -1  # a copy: the result is unchanged
    assert result.metadata["n_samples"] == 60
    assert "n_samples=60" in repr(result)


def test_frame_keeps_extra_columns():
    r = _awkward()
    f = r.to_frame()
    assert list(f.columns) == ["layer_a", "layer_b", "measure", "value", "p_value", "ci_low"]
    cka = f[f.measure == "linear_cka"]
    np.testing.assert_array_equal(cka["p_value"].to_numpy().reshape(6, 3), r._extras["linear_cka"]["p_value"])
    assert f[f.measure == "procrustes"]["p_value"].isna().all()
    assert r.extra_columns() == ["p_value", "ci_low"]


def test_unknown_measure_in_result(result):
    with pytest.raises(UnknownMeasureError, match=r"'linear_ck' was not computed.*Did you mean 'linear_cka'"):
        result.matrix("linear_ck")
    with pytest.raises(UnknownMeasureError, match="holds: \\['linear_cka'\\]"):
        result.plot("cca")


def test_bad_result_construction():
    with pytest.raises(FeatcorrError, match=r"shape \(2, 2\), expected \(2, 3\)"):
        ComparisonResult({"m": np.zeros((2, 2))}, ["a", "b"], ["x", "y", "z"])
    with pytest.raises(FeatcorrError, match="extras for 'other'"):
        ComparisonResult({"m": np.zeros((1, 1))}, ["a"], ["x"], extras={"other": {"p_value": np.zeros((1, 1))}})
    with pytest.raises(FeatcorrError, match="reserved name"):
        ComparisonResult({"m": np.zeros((1, 1))}, ["a"], ["x"], extras={"m": {"value": np.zeros((1, 1))}})


def test_save_load_round_trip_is_exact(tmp_path, result):
    out = result.save(tmp_path / "res")
    assert sorted(p.name for p in out.iterdir()) == ["linear_cka.csv", "result.json", "values.csv"]
    doc = json.loads((out / "result.json").read_text())
    assert doc["featcorr_result"] == 1 and doc["layers_b"] == ["fc2", "fc1"]
    back = fc.load(out)
    assert back == result
    np.testing.assert_array_equal(back.matrix().to_numpy(), result.matrix().to_numpy())
    assert back.metadata == result.metadata
    assert fc.load(out / "result.json") == result  # the JSON file itself works too
    # the CSVs are what they claim, readable by pandas
    m = pd.read_csv(out / "linear_cka.csv", index_col=0)
    np.testing.assert_allclose(m.to_numpy(), result.matrix().to_numpy(), rtol=1e-15)
    v = pd.read_csv(out / "values.csv")
    assert list(v.columns) == ["layer_a", "layer_b", "measure", "value"] and len(v) == 6


def test_round_trip_with_awkward_names_and_extras(tmp_path):
    r = _awkward()
    back = fc.load(r.save(tmp_path))
    assert back == r
    assert back.layers_a == r.layers_a and back.layers_b == r.layers_b
    assert back.matrix().iloc[0, 0] == 1 / 3
    np.testing.assert_array_equal(back._extras["linear_cka"]["ci_low"], r._extras["linear_cka"]["ci_low"])
    assert back != _awkward().__class__({"linear_cka": r.matrix().to_numpy()}, r.layers_a, r.layers_b)


def test_save_over_a_file_raises(tmp_path, result):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(FeatcorrError, match="exists and is not a directory"):
        result.save(f)


def _corrupt(tmp_path, result, how):
    d = result.save(tmp_path / "r")
    j = d / "result.json"
    doc = json.loads(j.read_text())
    if how == "no_json":
        j.unlink()
    elif how == "bad_json":
        j.write_text("{not json")
    elif how == "no_marker":
        doc.pop("featcorr_result")
        j.write_text(json.dumps(doc))
    elif how == "future":
        doc["featcorr_result"] = 99
        j.write_text(json.dumps(doc))
    elif how == "no_csv":
        (d / "linear_cka.csv").unlink()
    elif how == "bad_csv":
        (d / "linear_cka.csv").write_text("layer_a,fc2,fc1\nfc1,0.5,zz\nact1,1,1\nfc3,1,1\n")
    elif how == "wrong_layers":
        (d / "linear_cka.csv").write_text("layer_a,fc2\nfc1,0.5\n")
    elif how == "no_field":
        doc.pop("layers_a")
        j.write_text(json.dumps(doc))
    return d


@pytest.mark.parametrize(
    "how,match",
    [
        ("no_json", "has no result.json"),
        ("bad_json", "is not valid JSON"),
        ("no_marker", "no 'featcorr_result' marker"),
        ("future", "format version 99"),
        ("no_csv", "missing file .*linear_cka.csv"),
        ("bad_csv", "holds 'zz' where a number was expected"),
        ("wrong_layers", "does not hold a 3 x 2 matrix"),
        ("no_field", "lacks a field"),
    ],
)
def test_load_rejects_what_is_not_a_result(tmp_path, result, how, match):
    d = _corrupt(tmp_path, result, how)
    with pytest.raises(NotAResultError, match=match):
        fc.load(d)


def test_load_missing_path(tmp_path):
    with pytest.raises(NotAResultError, match="does not exist"):
        fc.load(tmp_path / "nope")
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(NotAResultError, match="marker"):
        fc.load(tmp_path / "other.json")


def test_plot_is_a_figure_with_layer_names(result):
    from matplotlib.figure import Figure

    fig = result.plot("linear_cka")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fc2", "fc1"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["fc1", "act1", "fc3"]
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 6 and f"{result.matrix().iloc[0, 0]:.2f}" in texts
    assert ax.images[0].get_array().shape == (3, 2)
    fig2 = result.plot(annotate=False)
    assert not fig2.axes[0].texts


def test_plot_into_given_axes_and_savefig(tmp_path, result):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert result.plot(ax=ax) is fig
    fig.savefig(tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 1000


def test_metadata_is_made_json_safe(tmp_path):
    meta = {"shape": (3, 4), "dtype": torch.float32, "n": np.int64(5), "x": np.float64(0.25), "obj": object}
    r = ComparisonResult({"m": np.eye(2)}, ["a", "b"], ["a", "b"], metadata=meta)
    md = r.metadata
    assert md["shape"] == [3, 4] and md["dtype"] == "torch.float32" and md["n"] == 5 and md["x"] == 0.25
    assert isinstance(md["obj"], str)
    assert fc.load(r.save(tmp_path)) == r
