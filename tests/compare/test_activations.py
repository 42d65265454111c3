"""compare_activations (arrays in memory), the '__input__' block, and the public names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import featcorr as fc
from featcorr.errors import FeatcorrError, NonFiniteError, NotEnoughSamplesError, ShapeError, UnknownMeasureError
from featcorr.measures import MeasureSpec, linear_cka_from
from featcorr.measures._registry import _REGISTRY
from featcorr.stats import Moments

from ..conftest import ref_linear_cka
from .helpers import MLP, collect


@pytest.fixture
def acts(rng):
    n = 90
    base = rng.normal(size=(n, 6)) + 5.0
    return {
        "x": base,
        "conv": np.tanh(base @ rng.normal(size=(6, 2 * 3 * 3))).reshape(n, 2, 3, 3).astype(np.float32),
        "tok": torch.from_numpy(base @ rng.normal(size=(6, 4 * 5))).reshape(n, 4, 5),
        "df": pd.DataFrame(np.maximum(base[:, :3], 5.0), columns=["u", "v", "w"]),
    }


def _flat(a, pool="flatten"):
    a = a.numpy() if isinstance(a, torch.Tensor) else a
    t = torch.as_tensor(np.array(a, dtype=np.float64))
    if t.ndim == 2:
        return t.numpy()
    if pool == "mean":
        return (t.reshape(t.shape[0], t.shape[1], -1).mean(2) if t.ndim == 4 else t.mean(1)).numpy()
    return t.reshape(t.shape[0], -1).numpy()


@pytest.mark.parametrize("pool", ["flatten", "mean"])
def test_matches_gram_cka_on_mixed_inputs(acts, pool):
    res = fc.compare_activations(acts, pool=pool)
    names = list(acts)
    assert res.layers_a == res.layers_b == names
    want = np.array([[ref_linear_cka(_flat(acts[a], pool), _flat(acts[b], pool)) for b in names] for a in names])
    np.testing.assert_allclose(res.matrix().to_numpy(), want, rtol=1e-10)
    assert np.all(np.diag(res.matrix().to_numpy()) == 1.0)
    md = res.metadata
    assert md["source"] == "activations" and md["n_samples"] == 90 and md["models"] == {"a": None, "b": None}


@pytest.mark.parametrize("batch_size", [1, 13, 89, 500])
def test_batch_size_does_not_change_the_result(acts, batch_size):
    whole = fc.compare_activations(acts).matrix().to_numpy()
    got = fc.compare_activations(acts, batch_size=batch_size)
    np.testing.assert_allclose(got.matrix().to_numpy(), whole, rtol=1e-11)
    assert got.metadata["n_batches"] == -(-90 // batch_size)


def test_two_sets_with_shared_names(acts, rng):
    other = {"x": acts["x"] @ rng.normal(size=(6, 6)), "y": rng.normal(size=(90, 4))}
    res = fc.compare_activations(acts, other, batch_size=40)
    assert res.layers_a == list(acts) and res.layers_b == ["x", "y"]
    want = ref_linear_cka(_flat(acts["conv"]), other["x"])
    assert res.matrix().loc["conv", "x"] == pytest.approx(want, rel=1e-10)


def test_equals_compare_on_models():
    X = torch.randn(80, 10, generator=torch.Generator().manual_seed(2))
    a, b = MLP(), MLP(seed=4)
    batches = [X[:40], X[40:]]
    res = fc.compare(a, batches, b, progress=False)
    arr = fc.compare_activations(collect(a, batches, res.layers_a), collect(b, batches, res.layers_b), batch_size=40)
    np.testing.assert_allclose(arr.matrix().to_numpy(), res.matrix().to_numpy(), rtol=1e-12)


def test_bad_activation_inputs(acts):
    with pytest.raises(ShapeError, match=r"acts_a\['short'\] has 10 samples but acts_a\['x'\] has 90"):
        fc.compare_activations({"x": acts["x"], "short": acts["x"][:10]})
    with pytest.raises(ShapeError, match=r"acts_b\['y'\] has 5 samples"):
        fc.compare_activations({"x": acts["x"]}, {"y": np.ones((5, 2))})
    with pytest.raises(NotEnoughSamplesError, match=r"1 sample\(s\)"):
        fc.compare_activations({"x": acts["x"][:1]})
    bad = acts["x"].copy()
    bad[70, 2] = np.nan
    with pytest.raises(NonFiniteError, match=r"layer 'bad' holds NaN \(1 value\(s\)\).*batch 2"):
        fc.compare_activations({"x": acts["x"], "bad": bad}, batch_size=30)
    with pytest.raises(FeatcorrError, match="must be a mapping"):
        fc.compare_activations([acts["x"]])
    with pytest.raises(FeatcorrError, match="holds no layer"):
        fc.compare_activations({})
    with pytest.raises(FeatcorrError, match="batch_size=0 must be a positive int"):
        fc.compare_activations(acts, batch_size=0)
    with pytest.raises(ShapeError, match=r"acts_a\['v'\] is 1-D"):
        fc.compare_activations({"v": np.arange(5.0)})
    with pytest.raises(FeatcorrError, match="not numeric"):
        fc.compare_activations({"s": np.array([["a", "b"], ["c", "d"]])})
    with pytest.raises(UnknownMeasureError):
        fc.compare_activations(acts, measures="nope")


# --------------------------------------------------------- the input block
def _input_cka_statistics(A, B, *, engine=None, **_):
    blocks = tuple(dict.fromkeys((*A, *B, "__input__")))
    return {"moments": Moments(pairs="all", blocks=blocks)}


def _input_cka(snaps: Mapping[str, Any], a: str, b: str, **_: Any) -> float:
    """Test-only measure: CKA of layer a with the model input (ignores b)."""
    return linear_cka_from(snaps["moments"], a, "__input__")


@pytest.fixture
def input_measure():
    spec = MeasureSpec(
        name="_test_input_cka",
        statistic="moments",
        kind="similarity",
        invariances=(),
        value_range="[0, 1]",
        reference="test",
        paper="test",
        statistics=_input_cka_statistics,
        compute=_input_cka,
        symmetric=False,
        extra_blocks=("__input__",),
    )
    _REGISTRY[spec.name] = spec
    yield spec.name
    _REGISTRY.pop(spec.name, None)


def test_input_block_is_the_flattened_model_input(input_measure):
    g = torch.Generator().manual_seed(9)
    X = torch.randn(50, 10, generator=g) + 1
    net = MLP()
    res = fc.compare(net, [X[:20], X[20:]], measures=[input_measure, "linear_cka"], progress=False)
    acts = collect(net, [X[:20], X[20:]], res.layers_a)
    want = [ref_linear_cka(acts[a], X.double().numpy()) for a in res.layers_a]
    np.testing.assert_allclose(res.matrix(input_measure).to_numpy()[:, 0], want, rtol=1e-10)
    assert res.metadata["uses_input_block"] is True
    assert "__input__" not in res.layers_a
    # two models: same input block, one forward per model per batch
    res2 = fc.compare(net, [X[:20], X[20:]], MLP(seed=5), measures=[input_measure], progress=False)
    np.testing.assert_allclose(res2.matrix(input_measure).to_numpy()[:, 0], want, rtol=1e-10)
    assert res2.metadata["forward_passes"] == {"a": 2, "b": 2}
    # activations in memory: the input comes under the '__input__' key
    acts["__input__"] = X.numpy()
    res3 = fc.compare_activations(acts, measures=[input_measure], batch_size=25)
    np.testing.assert_allclose(res3.matrix(input_measure).to_numpy()[:, 0], want, rtol=1e-10)
    del acts["__input__"]
    with pytest.raises(FeatcorrError, match=r"need the model input; add it to acts_a under the key '__input__'"):
        fc.compare_activations(acts, measures=[input_measure])


def test_public_names():
    import sys

    import featcorr.compare  # noqa: F401  (importing the subpackage must not shadow the function fc.compare)

    sub = sys.modules["featcorr.compare"]
    assert callable(fc.compare) and fc.compare is sub.compare
    assert fc.load is sub.load and fc.ComparisonResult is sub.ComparisonResult
    assert fc.compare_activations is sub.compare_activations
    for name in sub.__all__:
        assert hasattr(sub, name)
    ext = sys.modules["featcorr.extract"]
    for name in ext.__all__:
        assert hasattr(ext, name)


def test_a_nan_from_a_measure_is_never_returned_silently(acts):
    spec = MeasureSpec(
        name="_test_nan",
        statistic="moments",
        kind="similarity",
        invariances=(),
        value_range="[0, 1]",
        reference="test",
        paper="test",
        statistics=lambda A, B, *, engine=None, **_: {"moments": Moments(pairs="all", blocks=tuple(dict.fromkeys((*A, *B))))},
        compute=lambda snaps, a, b, **_: float("nan") if (a, b) == ("x", "conv") else 0.5,
        symmetric=False,
    )
    _REGISTRY[spec.name] = spec
    try:
        with pytest.raises(NonFiniteError, match=r"_test_nan of layer 'x' and layer 'conv' is NaN"):
            fc.compare_activations(acts, measures=[spec.name])
    finally:
        _REGISTRY.pop(spec.name, None)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(3, 40),
    widths=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    batch=st.integers(1, 50),
    rank=st.integers(1, 3),
    offset=st.floats(-1e3, 1e3),
)
def test_property_any_split_matches_pairwise_gram_cka(seed, n, widths, batch, rank, offset):
    """Random widths (n < p and rank-deficient included), any batch size: entries = Gram CKA of each pair."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, rank))
    acts = {f"l{i}": Z @ rng.normal(size=(rank, p)) + rng.normal(size=(n, p)) * (i % 2) + offset
            for i, p in enumerate(widths)}
    res = fc.compare_activations(acts, batch_size=batch)
    names = list(acts)
    want = np.array([[ref_linear_cka(acts[a], acts[b]) for b in names] for a in names])
    np.testing.assert_allclose(res.matrix().to_numpy(), want, rtol=1e-8, atol=1e-12)
    assert np.all(np.diag(res.matrix().to_numpy()) == 1.0)
