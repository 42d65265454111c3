"""Significance inside fc.compare / compare_activations: p-values and intervals per layer pair."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import featcorr as fc
from featcorr.errors import FeatcorrError

from ..conftest import ref_linear_cka


def _acts(rng, n=120):
    X = rng.normal(size=(n, 6))
    return {
        "related": X @ rng.normal(size=(6, 5)) + 0.1 * rng.normal(size=(n, 5)),
        "noise": rng.normal(size=(n, 4)),
    }, {"x": X}


def test_p_values_match_a_brute_force_permutation_test(rng):
    a, b = _acts(rng)
    res = fc.compare_activations(b, {"noise": a["noise"]}, n_permutations=199, random_state=7)
    n = 120
    perms = np.argsort(np.random.default_rng(7).random((199, n)), axis=1)
    obs = ref_linear_cka(b["x"], a["noise"])
    null = np.array([ref_linear_cka(b["x"], a["noise"][p]) for p in perms])
    want = (1 + np.sum(null >= obs)) / 200
    frame = res.to_frame()
    assert frame["p_value"].iloc[0] == pytest.approx(want)
    assert res.metadata["significance"]["n_permutations"] == 199


def test_related_layers_significant_unrelated_not(rng):
    a, b = _acts(rng)
    res = fc.compare_activations(b, a, n_permutations=99, n_bootstrap=50, random_state=0)
    frame = res.to_frame().set_index("layer_b")
    assert frame.loc["related", "p_value"] == pytest.approx(0.01)
    assert frame.loc["noise", "p_value"] > 0.05
    for layer in ("related", "noise"):
        row = frame.loc[layer]
        assert row["ci_low"] <= row["value"] <= row["ci_high"] or row["value"] < 0.1


def test_sample_smaller_than_data_tests_on_the_sample(rng):
    a, b = _acts(rng, n=400)
    res = fc.compare_activations(b, a, n_permutations=49, significance_sample=100, random_state=1)
    frame = res.to_frame().set_index("layer_b")
    assert frame.loc["related", "p_value"] == pytest.approx(0.02)
    # the reported value stays the full-data value
    assert frame.loc["related", "value"] == pytest.approx(ref_linear_cka(b["x"], a["related"]), rel=1e-10)


def test_compare_models_carries_p_values_through_save_and_load(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    data = [torch.randn(40, 5) for _ in range(3)]
    res = fc.compare(net, data, n_permutations=19, random_state=3, progress=False)
    frame = res.to_frame()
    assert {"p_value"} <= set(frame.columns)
    assert frame["p_value"].between(1 / 20, 1).all()
    res.save(tmp_path / "r")
    back = fc.load(tmp_path / "r")
    np.testing.assert_array_equal(back.to_frame()["p_value"].to_numpy(), frame["p_value"].to_numpy())


def test_bad_significance_options(rng):
    a, b = _acts(rng)
    with pytest.raises(FeatcorrError, match="n_permutations must be a non-negative int"):
        fc.compare_activations(b, a, n_permutations=-1)
    with pytest.raises(FeatcorrError, match="confidence must be in"):
        fc.compare_activations(b, a, n_bootstrap=5, confidence=2.0)
    with pytest.raises(FeatcorrError, match="significance_sample"):
        fc.compare_activations(b, a, n_permutations=5, significance_sample=2)
