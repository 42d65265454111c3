"""compare(fallback=...): linear_cka falls back to minibatch CKA when p x p moments would not fit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import featcorr as fc
from featcorr.errors import MemoryBudgetError, UnknownOptionError

from .helpers import CNN, collect, minibatch_cka_oracle

LAYERS = ["conv1", "bn", "relu", "pool", "conv2", "flat", "fc"]  # flattened widths 256, 256, 256, 64, 96, 96, 5


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(7)
    return [torch.rand(16, 3, 8, 8, generator=g) for _ in range(4)]


def _per_batch(net, batches, layers):
    return [collect(net, [b], layers) for b in batches]


def test_wide_flattened_conv_maps_fall_back_to_minibatch_cka(images):
    net = CNN()
    with pytest.warns(fc.EstimatorFallbackWarning, match=r"linear_cka is estimated with minibatch_cka.*'conv1' \(256 "
                      r"features\), 'bn' \(256 features\), 'relu' \(256 features\) are over max_features=100"):
        res = fc.compare(net, images, layers_a=LAYERS, max_features=100, progress=False)
    parts = _per_batch(net, images, LAYERS)
    ref = np.array([[minibatch_cka_oracle([p[a] for p in parts], [p[b] for p in parts]) for b in LAYERS] for a in LAYERS])
    got = res.matrix("linear_cka").to_numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    assert np.all(np.diag(got) == 1.0)
    info = res.metadata["measures"]["linear_cka"]
    assert info["statistic"] == "minibatch_hsic" and info["estimator"].startswith("minibatch estimate")
    assert info["fallback"]["estimator"] == "minibatch_cka"
    assert [d["layer"] for d in info["fallback"]["layers"]] == ["conv1", "bn", "relu"]
    assert [d["features"] for d in info["fallback"]["layers"]] == [256, 256, 256]
    assert res.metadata["forward_passes"] == {"a": 4, "b": 0}  # still one forward pass per batch
    # the estimate is not the exact value: the exact one (bigger budget) differs
    exact = fc.compare(net, images, layers_a=LAYERS, progress=False).matrix().to_numpy()
    assert np.abs(exact - got).max() > 1e-3


def test_two_models_fall_back_in_one_pass_each(images):
    a, b = CNN(seed=0), CNN(seed=1)
    with pytest.warns(fc.EstimatorFallbackWarning, match="'conv1' of model_a"):
        res = fc.compare(a, images, b, layers_a=["conv1", "conv2"], layers_b=["conv2", "fc"], max_features=200,
                         progress=False)
    pa, pb = _per_batch(a, images, ["conv1", "conv2"]), _per_batch(b, images, ["conv2", "fc"])
    ref = [[minibatch_cka_oracle([p[x] for p in pa], [p[y] for p in pb]) for y in ("conv2", "fc")] for x in ("conv1", "conv2")]
    np.testing.assert_allclose(res.matrix().to_numpy(), ref, rtol=1e-10)
    assert res.metadata["forward_passes"] == {"a": 4, "b": 4}
    assert res.metadata["measures"]["linear_cka"]["fallback"]["layers"] == [
        {"layer": "conv1", "model": "model_a", "features": 256}
    ]


def test_memory_budget_falls_back_and_equals_minibatch_cka(images):
    net = CNN()
    with pytest.warns(fc.EstimatorFallbackWarning, match=r"would exceed max_memory_gb=1e-06 \(total width 1029\)"):
        res = fc.compare(net, images, layers_a=LAYERS, measures=["linear_cka", "minibatch_cka"], max_memory_gb=1e-6,
                         progress=False)
    np.testing.assert_array_equal(res.matrix("linear_cka").to_numpy(), res.matrix("minibatch_cka").to_numpy())
    assert res.metadata["measures"]["linear_cka"]["fallback"]["layers"] == []


def test_fallback_raise_and_other_moment_measures_raise_before_the_pass(images):
    net = CNN()
    with pytest.raises(MemoryBudgetError, match=r"measure 'linear_cka' cannot run \(fallback='minibatch' would.*"
                       r"block 'conv1' has 256 features, above max_features=100"):
        fc.compare(net, images, max_features=100, fallback="raise", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fc.EstimatorFallbackWarning)  # nothing is swapped when another measure fails
        with pytest.raises(MemoryBudgetError, match=r"measure 'cca' cannot run.*pool='mean'.*minibatch_cka"):
            fc.compare(net, images, measures=["linear_cka", "cca"], max_features=100, progress=False)
    assert all(not m._forward_hooks for m in net.modules())  # hooks removed on the error
    with pytest.raises(UnknownOptionError, match=r"fallback='exact' is not supported; choose one of 'minibatch', "
                       "'raise'"):
        fc.compare(net, images, fallback="exact", progress=False)


def test_no_fallback_when_the_moments_fit(images):
    net = CNN()
    with warnings.catch_warnings():
        warnings.simplefilter("error", fc.EstimatorFallbackWarning)
        res = fc.compare(net, images, layers_a=LAYERS, pool="mean", max_features=100, progress=False)
    info = res.metadata["measures"]["linear_cka"]
    assert info["statistic"] == "moments" and "fallback" not in info
