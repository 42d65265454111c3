"""Distance correlation: the compiled (numba) univariate path against O(n^2) float64 formulas and the torch path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import featcorr as fc
from featcorr.errors import ConstantFeatureError, NotEnoughSamplesError, UnknownOptionError
from featcorr.measures._dcor import dcor_from_terms, dcor_terms_univariate
from featcorr.measures._dcor_compiled import available, terms_univariate
from featcorr.measures._dcor_kernels import discordant_sum

from .test_dependence import ref_dcor

pytestmark = pytest.mark.skipif(not available(), reason="numba is not importable")


# ----------------------------------------------------------------- references written here
def ref_sums(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """S1 = sum_ij a_ij b_ij, S2 = sum_i a_i. b_i., S3 = a.. b.. from explicit n x n distance matrices."""
    a = np.abs(x[:, None] - x[None, :])
    b = np.abs(y[:, None] - y[None, :])
    return float((a * b).sum()), float((a.sum(1) * b.sum(1)).sum()), float(a.sum() * b.sum())


def _compiled(X, y, threads=1):
    return terms_univariate(np.asarray(X, float).reshape(len(y), -1), np.asarray(y, float), threads=threads)


def _u_ratio(z: np.ndarray) -> float:
    """|U-centred distance variance| relative to the mean squared distance (near 0: 0/0-like U-statistic)."""
    n = z.shape[0]
    a = np.abs(z[:, None] - z[None, :])
    A = a - a.sum(0) / (n - 2) - a.sum(1)[:, None] / (n - 2) + a.sum() / ((n - 1) * (n - 2))
    np.fill_diagonal(A, 0.0)
    return abs((A * A).sum()) / max((a * a).sum(), 1e-300)


# ------------------------------------------------------------------------------ the kernels
def test_discordant_sum_matches_brute_force(rng):
    for n in (1, 2, 3, 4, 5, 8, 9, 31, 64, 100):
        keys = rng.permutation(n).astype(np.int32)
        xy = rng.normal(size=(n, 2)) * [3.0, 0.5]
        ref = sum((xy[k, 0] - xy[i, 0]) * (xy[k, 1] - xy[i, 1])
                  for k in range(n) for i in range(k) if keys[i] > keys[k])
        hi, lo = discordant_sum(keys.copy(), xy.copy())
        assert hi + lo == pytest.approx(ref, rel=1e-13, abs=1e-13)


@pytest.mark.parametrize("ties", [False, True])
def test_sums_match_distance_matrices(rng, ties):
    for n in (2, 3, 4, 5, 7, 16, 17, 50, 129):
        X = rng.normal(size=(n, 3)) * [1.0, 30.0, 1e-3] + [0.0, 1e4, -5.0]  # offsets and scales: centring
        y = rng.normal(size=n) * 2.0 + 7.0
        if ties:
            X = np.round(X * [1.0, 0.1, 1e3]) / [1.0, 0.1, 1e3]
            y = np.round(y)
        t = _compiled(X, y)
        for j in range(3):
            S1, S2, S3 = ref_sums(X[:, j], y)
            got = [t["xy"][i][j] for i in range(3)]
            np.testing.assert_allclose(got, [S1, S2, S3], rtol=1e-12, atol=1e-12 * abs(S3) ** 0.5)
            np.testing.assert_allclose([t["xx"][i][j] for i in range(3)], ref_sums(X[:, j], X[:, j]), rtol=1e-12)
        np.testing.assert_allclose([t["yy"][i][0] for i in range(3)], ref_sums(y, y), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(4, 50), seed=st.integers(0, 2**16), ties=st.booleans())
def test_dcor_matches_textbook_formula_any_n(n, seed, ties):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) * 100 + 1e4
    y = rng.normal(size=n)
    if ties:
        X = np.round(X / 50) * 50
        y = np.round(y)
    X[0] = X[1] + 1  # never constant
    if np.all(y == y[0]):
        y[0] += 1
    t = {k: tuple(torch.as_tensor(v) for v in vs) for k, vs in _compiled(X, y).items()}
    for unbiased in (False, True):
        got = dcor_from_terms(t, n, unbiased=unbiased).numpy()
        ref = [ref_dcor(X[:, j], y, unbiased=unbiased) for j in range(2)]
        if unbiased and min(_u_ratio(y), *[_u_ratio(x) for x in X.T]) < 1e-3:
            continue  # a U-centred distance variance near 0: 0/0, rounding noise on both sides
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_n4_edge_both_estimators(rng):
    X = np.array([[0.0, 1.0], [1.0, 1.0], [3.0, 2.5], [7.0, -1.0]])
    y = np.array([2.0, -1.0, 0.5, 0.5])
    for unbiased in (False, True):
        got = fc.dependence(X, y, "dcor", unbiased=unbiased)
        np.testing.assert_allclose(got, [ref_dcor(X[:, j], y, unbiased=unbiased) for j in range(2)], rtol=1e-12)
    with pytest.raises(NotEnoughSamplesError):
        fc.dependence(X[:3], y[:3], "dcor", unbiased=True)


# ----------------------------------------------------------------- compiled vs torch path
@pytest.mark.parametrize("n", [1000, 4099])
def test_compiled_equals_torch_path(rng, n):
    X = rng.normal(size=(n, 4)) + 5.0
    X[:, 1] = np.maximum(X[:, 1] - 5.0, 0.0)  # ReLU ties
    X[:, 2] = np.round(X[:, 2])
    y = X[:, 0] + X[:, 1] ** 2 + 0.5 * rng.normal(size=n)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    a = dcor_terms_univariate(Xt, yt, backend="compiled")
    b = dcor_terms_univariate(Xt, yt, backend="torch")
    for key in ("xy", "xx", "yy"):
        for i in range(3):
            np.testing.assert_allclose(a[key][i].numpy(), b[key][i].numpy(), rtol=1e-12)
    for unbiased in (False, True):
        np.testing.assert_allclose(dcor_from_terms(a, n, unbiased=unbiased), dcor_from_terms(b, n, unbiased=unbiased),
                                   rtol=1e-9, atol=1e-12)


def test_auto_backend_is_compiled_on_cpu_and_threads_agree(rng):
    X = torch.from_numpy(rng.normal(size=(3000, 5)))
    y = torch.from_numpy(rng.normal(size=3000))
    auto = dcor_terms_univariate(X, y)
    one = _compiled(X.numpy(), y.numpy(), threads=1)
    two = _compiled(X.numpy(), y.numpy(), threads=2)
    for key in ("xy", "xx", "yy"):
        for i in range(3):
            np.testing.assert_array_equal(auto[key][i].numpy(), one[key][i])
            np.testing.assert_array_equal(two[key][i], one[key][i])
    with pytest.raises(UnknownOptionError, match="backend"):
        dcor_terms_univariate(X, y, backend="cuda")


def test_float32_input_accumulates_in_float64(rng):
    x = (rng.normal(size=20000) * 1e3 + 1e4).astype(np.float32)  # large offset: float32 sums would lose digits
    y = (x.astype(np.float64) ** 2 + rng.normal(size=20000) * 1e7).astype(np.float32)
    got = fc.dependence(x[:, None], y, "dcor")[0]
    ref = fc.dependence(x.astype(np.float64)[:, None], y.astype(np.float64), "dcor")[0]
    assert got == ref
    sub = slice(0, 2000)  # O(n^2) check on a subsample
    assert fc.dependence(x[sub, None], y[sub], "dcor")[0] == pytest.approx(
        ref_dcor(x[sub].astype(np.float64), y[sub].astype(np.float64), unbiased=False), rel=1e-12)


def test_constant_feature_or_target_raises_as_before(rng):
    X = rng.normal(size=(100, 3))
    X[:, 1] = 4.0
    y = rng.normal(size=100)
    with pytest.raises(ConstantFeatureError, match="constant"):
        fc.dependence(X, y, "dcor")
    with pytest.warns(UserWarning, match="dropped constant"):
        s = fc.dependence(X, y, "dcor", constant="drop")
    np.testing.assert_allclose(s, [ref_dcor(X[:, j], y, unbiased=False) for j in (0, 2)], rtol=1e-12)
    with pytest.raises(ConstantFeatureError, match="y is constant"):
        fc.dependence(X[:, [0, 2]], np.full(100, 2.0), "dcor", target="regression")


# ---------------------------------------------------------------------------- properties
@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(5, 300),
    seed=st.integers(0, 2**16),
    scale=st.floats(1e-2, 1e2),
    shift=st.floats(-1e3, 1e3),
    unbiased=st.booleans(),
)
def test_scale_shift_invariance_and_symmetry(n, seed, scale, shift, unbiased):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = np.sin(2 * x) + 0.3 * rng.normal(size=n)
    x[0] = x[1] + 1.0

    def d(a, b):
        t = {k: tuple(torch.as_tensor(v) for v in vs) for k, vs in _compiled(a, b).items()}
        return float(dcor_from_terms(t, n, unbiased=unbiased)[0])

    base = d(x, y)
    assert abs(d(y, x) - base) <= 1e-12 * max(1.0, abs(base)) + 1e-13  # symmetric
    # |a x + c| distances scale by |a|: dCor is unchanged (the shift is removed by centring)
    assert abs(d(scale * x + shift, -y / scale + shift) - base) <= 1e-9 * abs(base) + 1e-11
    if not unbiased:
        assert 0.0 <= base <= 1.0 + 1e-15
