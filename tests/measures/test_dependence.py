"""Dependence measures against independent references: scipy, scikit-learn, direct float64 formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.feature_selection import f_classif, f_regression, mutual_info_classif, mutual_info_regression

import featcorr as fc
from featcorr.measures._inversions import discordance, discordant_products


# ----------------------------------------------------------------- references written here
def ref_dcor(x: np.ndarray, y: np.ndarray, *, unbiased: bool = False, exponent: float = 1.0) -> float:
    """Textbook double-centred (V) or U-centred distance correlation, O(n^2), float64."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    n = x.shape[0]

    def dist(z):
        return np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)) ** exponent

    def centre(a):
        if not unbiased:
            return a - a.mean(0) - a.mean(1)[:, None] + a.mean()
        A = a - a.sum(0) / (n - 2) - a.sum(1)[:, None] / (n - 2) + a.sum() / ((n - 1) * (n - 2))
        np.fill_diagonal(A, 0.0)
        return A

    A, B = centre(dist(x)), centre(dist(y))
    if unbiased:
        c = lambda P, Q: (P * Q).sum() / (n * (n - 3))  # noqa: E731
        den = np.sqrt(abs(c(A, A) * c(B, B)))
        return 0.0 if den == 0 else float(c(A, B) / den)  # n = 4: both U-centred variances vanish
    c = lambda P, Q: (P * Q).mean()  # noqa: E731
    return float(np.sqrt(c(A, B) / np.sqrt(c(A, A) * c(B, B))))


def _u_dvar_ratio(z: np.ndarray) -> float:
    """|U-centred distance variance| / mean squared distance: near 0 means the U-statistic is 0/0-like."""
    n = z.shape[0]
    a = np.abs(z[:, None] - z[None, :])
    A = a - a.sum(0) / (n - 2) - a.sum(1)[:, None] / (n - 2) + a.sum() / ((n - 1) * (n - 2))
    np.fill_diagonal(A, 0.0)
    return abs((A * A).sum() / (n * (n - 3))) / max((a * a).mean(), 1e-300)


def ref_hsic(x, y, *, kernel="rbf", y_kernel="rbf", unbiased=False, normalized=False):
    """Gram-matrix HSIC (Gretton 2005 biased /(n-1)^2, Song 2012 unbiased), median-distance bandwidth."""
    x = np.asarray(x, float).reshape(len(x), -1)
    y = np.asarray(y, float).reshape(len(y), -1)
    n = x.shape[0]

    def gram(z, k):
        if k == "linear":
            return z @ z.T
        if k == "delta":
            return (z[:, 0][:, None] == z[:, 0][None, :]).astype(float)
        d = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1))
        s = np.median(d[np.triu_indices(n, 1)])
        return np.exp(-(d**2) / (2 * s * s))

    def h(K, L):
        if not unbiased:
            H = np.eye(n) - 1.0 / n
            return np.trace(K @ H @ L @ H) / (n - 1) ** 2
        K, L = K.copy(), L.copy()
        np.fill_diagonal(K, 0)
        np.fill_diagonal(L, 0)
        one = np.ones(n)
        return (np.trace(K @ L) + one @ K @ one * (one @ L @ one) / ((n - 1) * (n - 2))
                - 2 / (n - 2) * one @ K @ L @ one) / (n * (n - 3))

    K, L = gram(x, kernel), gram(y, y_kernel)
    v = h(K, L)
    return v / np.sqrt(h(K, K) * h(L, L)) if normalized else v


def _data(rng, n=200, p=5):
    X = rng.normal(size=(n, p))
    X[:, 1] = np.maximum(X[:, 1], 0.0)  # ReLU ties
    X[:, 2] = np.round(X[:, 2])  # heavy ties
    y = X[:, 0] + X[:, 1] ** 2 + 0.5 * rng.normal(size=n)
    return X, y


# ------------------------------------------------------------------------- linear & rank
def test_pearson_spearman_kendall_match_scipy(rng):
    X, y = _data(rng)
    y = np.round(y, 1)  # ties in y too
    r = fc.dependence(X, y, "pearson")
    rho = fc.dependence(X, y, "spearman")
    tau = fc.dependence(X, y, "kendall")
    for j in range(X.shape[1]):
        assert r[j] == pytest.approx(stats.pearsonr(X[:, j], y).statistic, abs=1e-13)
        assert rho[j] == pytest.approx(stats.spearmanr(X[:, j], y).statistic, abs=1e-13)
        assert tau[j] == pytest.approx(stats.kendalltau(X[:, j], y, variant="b").statistic, abs=1e-13)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 60), levels=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_kendall_tau_b_with_ties_matches_scipy(n, levels, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, levels + 1, size=(n, 2)).astype(float)
    y = rng.integers(0, levels + 2, size=n).astype(float)
    x[0, :] = 0.0
    x[-1, :] = levels + 1.0  # never constant
    if np.all(y == y[0]):
        y[0] += 1.0
    tau = fc.dependence(x, y, "kendall")
    for j in range(2):
        assert tau[j] == pytest.approx(stats.kendalltau(x[:, j], y, variant="b").statistic, abs=1e-12)


def test_spearman_kendall_invariant_to_monotone_maps(rng):
    X, y = _data(rng)
    Z = np.column_stack([np.exp(X[:, 0]), X[:, 1] ** 3 + 2, -1.0 / (10 + X[:, 2]), X[:, 3], X[:, 4]])
    for m in ("spearman", "kendall"):
        np.testing.assert_allclose(fc.dependence(Z, np.tanh(y), m), fc.dependence(X, y, m), atol=1e-14)
    # but Pearson changes under a non-linear map
    assert abs(fc.dependence(Z, y, "pearson")[0] - fc.dependence(X, y, "pearson")[0]) > 1e-3


def test_f_statistic_matches_sklearn(rng):
    X, y = _data(rng)
    np.testing.assert_allclose(fc.dependence(X, y, "f"), f_regression(X, y)[0], rtol=1e-11)
    yc = np.digitize(y, [-0.5, 0.5, 1.5])
    np.testing.assert_allclose(fc.dependence(X, yc, "f"), f_classif(X, yc)[0], rtol=1e-10)


def test_discordance_matches_brute_force(rng):
    for n in (1, 2, 3, 7, 16, 33):
        keys = torch.as_tensor(rng.integers(0, max(n // 2, 1), size=(3, n)))
        x = torch.as_tensor(rng.normal(size=(3, n)))
        y = torch.as_tensor(rng.normal(size=(3, n)))
        count, prod = discordance(keys, x, y)
        k, xn, yn = keys.numpy(), x.numpy(), y.numpy()
        for r in range(3):
            pairs = [(j, i) for i in range(n) for j in range(i) if k[r, j] > k[r, i]]
            assert count[r].item() == len(pairs)
            ref = sum((xn[r, i] - xn[r, j]) * (yn[r, i] - yn[r, j]) for j, i in pairs)
            assert prod[r].item() == pytest.approx(ref, abs=1e-12)
            assert discordant_products(keys, x, y)[r].item() == pytest.approx(ref, abs=1e-12)
        # rows that are permutations of 0..n-1: inverse-permutation arrangement, same sums
        perm = torch.stack([torch.as_tensor(rng.permutation(n)) for _ in range(3)])
        xp = perm.numpy()
        for r in range(3):
            ref = sum((xn[r, i] - xn[r, j]) * (yn[r, i] - yn[r, j])
                      for i in range(n) for j in range(i) if xp[r, j] > xp[r, i])
            assert discordant_products(perm, x, y, permutation=True)[r].item() == pytest.approx(ref, abs=1e-12)
            assert discordant_products(perm, x, y)[r].item() == pytest.approx(ref, abs=1e-12)


# --------------------------------------------------------------------- distance correlation
@pytest.mark.parametrize("unbiased", [False, True])
def test_dcor_fast_matches_double_centring(rng, unbiased):
    X, y = _data(rng, n=150)
    got = fc.dependence(X, y, "dcor", unbiased=unbiased)
    ref = [ref_dcor(X[:, j], y, unbiased=unbiased) for j in range(X.shape[1])]
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-13)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(4, 40), seed=st.integers(0, 2**16), ties=st.booleans())
def test_dcor_fast_matches_double_centring_any_n(n, seed, ties):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) * 100 + 1e4  # offsets: centring keeps digits
    y = rng.normal(size=n)
    if ties:
        X = np.round(X / 50) * 50
        y = np.round(y)
    X[0, :] = X[1, :] + 1  # never constant
    if np.all(y == y[0]):
        y[0] += 1
    for unbiased in (False, True):
        got = fc.dependence(X, y, "dcor", unbiased=unbiased, target="regression")
        ref = [ref_dcor(X[:, j], y, unbiased=unbiased) for j in range(2)]
        if unbiased and min(_u_dvar_ratio(y), *[_u_dvar_ratio(x) for x in X.T]) < 1e-3:
            continue  # a U-centred distance variance near 0 (tiny n, heavy ties): 0/0, rounding noise
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-11)


def test_dcor_multivariate_target_exponent_and_multiclass(rng):
    X, _ = _data(rng, n=80, p=3)
    Y = np.column_stack([X[:, 0] ** 2, rng.normal(size=80)])
    np.testing.assert_allclose(fc.dependence(X, Y, "dcor"), [ref_dcor(X[:, j], Y) for j in range(3)], rtol=1e-11)
    y = X[:, 0] + rng.normal(size=80)
    np.testing.assert_allclose(
        fc.dependence(X, y, "dcor", exponent=0.5), [ref_dcor(X[:, j], y, exponent=0.5) for j in range(3)],
        rtol=1e-11,
    )
    yc = rng.integers(0, 3, size=80)
    onehot = np.eye(3)[yc]
    np.testing.assert_allclose(fc.dependence(X, yc, "dcor"), [ref_dcor(X[:, j], onehot) for j in range(3)],
                               rtol=1e-11)


def test_dcor_properties(rng):
    x = rng.normal(size=(2000, 1))
    assert fc.dependence(x, 3.0 * x[:, 0] - 7.0, "dcor")[0] == pytest.approx(1.0, abs=1e-12)
    assert fc.dependence(x, -0.5 * x[:, 0] + 2.0, "dcor")[0] == pytest.approx(1.0, abs=1e-12)
    indep = fc.dependence(rng.normal(size=(2000, 3)), rng.normal(size=2000), "dcor")
    assert np.all(indep < 0.08)
    u = fc.dependence(rng.normal(size=(2000, 3)), rng.normal(size=2000), "dcor", unbiased=True)
    assert np.all(np.abs(u) < 0.01)
    # invariance to translation and scaling of x and y
    X, y = _data(rng)
    np.testing.assert_allclose(fc.dependence(5 * X + 3, -2 * y + 1, "dcor"), fc.dependence(X, y, "dcor"),
                               rtol=1e-10)


def test_dcor_sees_quadratic_effect_pearson_misses(rng):
    X = rng.normal(size=(1000, 3))
    y = X[:, 1] ** 2 + 0.1 * rng.normal(size=1000)
    assert abs(fc.dependence(X, y, "pearson")[1]) < 0.1
    assert np.argmax(fc.dependence(X, y, "dcor")) == 1
    assert np.argmax(fc.dependence(X, y, "hsic")) == 1
    assert np.argmax(fc.dependence(X, y, "mi", random_state=0)) == 1


def test_dcor_float32_and_torch_input_same_as_float64(rng):
    X, y = _data(rng)
    X32 = X.astype(np.float32)
    a = fc.dependence(torch.from_numpy(X32), torch.from_numpy(y), "dcor")
    b = fc.dependence(X32.astype(np.float64), y, "dcor")
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------ HSIC
@pytest.mark.parametrize("kernel", ["rbf", "linear"])
@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("normalized", [False, True])
def test_hsic_matches_gram_formula(rng, kernel, unbiased, normalized):
    X, y = _data(rng, n=60, p=3)
    got = fc.dependence(X, y, "hsic", kernel=kernel, unbiased=unbiased, normalized=normalized)
    ref = [ref_hsic(X[:, j], y, kernel=kernel, y_kernel=kernel, unbiased=unbiased, normalized=normalized)
           for j in range(3)]
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-14)


def test_hsic_classification_delta_kernel_and_linear_equals_r2(rng):
    X, y = _data(rng, n=60, p=3)
    yc = (y > 0.5).astype(int)
    np.testing.assert_allclose(fc.dependence(X, yc, "hsic"),
                               [ref_hsic(X[:, j], yc, y_kernel="delta") for j in range(3)], rtol=1e-10)
    # normalised biased linear HSIC of univariate x and y is r^2
    r = fc.dependence(X, y, "pearson")
    np.testing.assert_allclose(fc.dependence(X, y, "hsic", kernel="linear", normalized=True), r**2, rtol=1e-10)


# ---------------------------------------------------------------------------- mutual info
@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_mi_matches_sklearn_exactly(rng, seed, k):
    X, y = _data(rng, n=300)
    np.testing.assert_allclose(
        fc.dependence(X, y, "mi", n_neighbors=k, random_state=seed),
        mutual_info_regression(X, y, n_neighbors=k, random_state=seed), rtol=0, atol=1e-12,
    )
    yc = np.digitize(y, [0.0, 1.0])
    yc[:1] = 7  # a singleton class is dropped as scikit-learn does
    np.testing.assert_allclose(
        fc.dependence(X, yc, "mi", n_neighbors=k, random_state=seed),
        mutual_info_classif(X, yc, n_neighbors=k, random_state=seed), rtol=0, atol=1e-12,
    )


def test_mi_gaussian_closed_form(rng):
    # bivariate Gaussian with correlation rho: I = -0.5 log(1 - rho^2)
    rho, n = 0.8, 4000
    z = rng.normal(size=(n, 2))
    x = z[:, 0]
    y = rho * x + np.sqrt(1 - rho**2) * z[:, 1]
    got = fc.dependence(x[:, None], y, "mi", random_state=0)[0]
    assert got == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.03)
