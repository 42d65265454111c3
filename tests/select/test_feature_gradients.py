"""FeatureGradients: learnability estimator vs brute force, hand-written gradient vs autograd, planted recovery."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.feature_selection import SelectKBest, f_regression
from sklearn.utils.estimator_checks import parametrize_with_checks

from featcorr.errors import FeatcorrError, NotEnoughSamplesError, ShapeError
from featcorr.select import FeatureGradients
from featcorr.select._fg_solver import _krylov_sv1, data_statistics
from featcorr.select._gram import add_gram, full_from_upper
from featcorr.select._learnability import SLE_COEFFICIENTS, BatchWorkspace, learnability, learnability_terms


def _brute_chains(X, y, s, k):
    """T_k by enumerating every chain i0 < i1 < ... < i_{k+1} (float64, literal definition)."""
    K = (X * s) @ X.T
    n = X.shape[0]
    tot = 0.0
    for idx in itertools.combinations(range(n), k + 2):
        v = y[idx[0]] * y[idx[-1]]
        for a, b in zip(idx[:-1], idx[1:]):
            v *= K[a, b]
        tot += v
    return tot / math.comb(n, k + 2)


def _matrix_formula(X, y, s, k):
    G = np.triu((X * s) @ X.T, 1)
    return y @ np.linalg.matrix_power(G, k + 1) @ y / math.comb(X.shape[0], k + 2)


def test_terms_match_chain_enumeration(rng):
    X, y, s = rng.normal(size=(9, 4)), rng.normal(size=9), rng.uniform(size=4)
    T = learnability_terms(torch.tensor(X), torch.tensor(y), torch.tensor(s), 3).numpy()
    for k in range(3):
        np.testing.assert_allclose(T[k], _brute_chains(X, y, s, k), rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("order", [1, 4, 7])
def test_terms_match_matrix_formula_large_n(rng, order):
    # n = 300 exercises the 1/n rescaling that keeps binom(n, k+2) far from overflow
    X, y, s = rng.normal(size=(300, 6)) / 10, rng.normal(size=300), rng.uniform(size=6)
    T = learnability_terms(torch.tensor(X), torch.tensor(y), torch.tensor(s), order).numpy()
    ref = [_matrix_formula(X, y, s, k) for k in range(order)]
    np.testing.assert_allclose(T, ref, rtol=1e-9, atol=1e-15)


def test_learnability_value_is_coefficient_sum(rng):
    X, y = rng.normal(size=(40, 5)), rng.normal(size=40)
    ref = sum(c * _matrix_formula(X, y, np.ones(5), k) for k, c in enumerate(SLE_COEFFICIENTS[4]))
    assert learnability(X, y, order=4) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("order,block,n", [(1, 64, 50), (4, 8, 50), (4, 7, 53), (6, 16, 40)])
def test_blocked_value_and_gradient_match_autograd(rng, order, block, n):
    X, y = torch.tensor(rng.normal(size=(n, 6))), torch.tensor(rng.normal(size=n))
    s = torch.tensor(rng.uniform(size=6), requires_grad=True)
    coef = torch.tensor(SLE_COEFFICIENTS[order], dtype=torch.float64)
    z = torch.dot(coef, learnability_terms(X, y, s, order))
    (g,) = torch.autograd.grad(z, s)
    ws = BatchWorkspace(n, 6, order, SLE_COEFFICIENTS[order], dtype=torch.float64, device=torch.device("cpu"),
                        block=block)
    ws.set_batch(X, s.detach())
    z2, g2 = ws.value_and_grad(y)
    assert float(z2) == pytest.approx(float(z.detach()), rel=1e-10, abs=1e-15)
    np.testing.assert_allclose(g2.numpy(), g.numpy(), rtol=1e-9, atol=1e-14)


def _suppressor(rng, n=2000, D=20):
    """Classical suppressor: x7 is the shared noise of x3, uncorrelated with y, corr(x3, x7) ~ 0.95."""
    X = rng.normal(size=(n, D))
    shared = rng.normal(size=n)
    X[:, 3] = np.sqrt(0.108) * rng.normal(size=n) + shared
    X[:, 7] = shared + 0.05 * rng.normal(size=n)
    y = X[:, 3] - X[:, 7] + 0.05 * rng.normal(size=n)
    return X, y


def test_finds_suppressor_pair_univariate_ranking_misses(rng):
    X, y = _suppressor(rng)
    assert abs(np.corrcoef(X[:, 3], X[:, 7])[0, 1] - 0.95) < 0.02
    uni = SelectKBest(f_regression, k=2).fit(X, y).get_support(indices=True)
    assert abs(np.corrcoef(X[:, 7], y)[0, 1]) < 0.06
    assert 7 not in set(uni)  # x7 alone says nothing about y
    fg = FeatureGradients(n_features=2, batch_size=500, n_epochs=20, penalty=0.3, random_state=0).fit(X, y)
    assert set(fg.get_support(indices=True)) == {3, 7}
    assert fg.n_steps_ == 40  # 80 minibatches, gradients of 2 averaged per step (target_batch_size=1000)
    assert fg.scores_[[3, 7]].min() > 0.9 > np.delete(fg.scores_, [3, 7]).max()


def test_classification_and_multiclass(rng):
    X, y = _suppressor(rng)
    fg = FeatureGradients(n_features=2, batch_size=500, n_epochs=20, penalty=0.3, random_state=0)
    fg.fit(X, (y > 0).astype(int))
    assert set(fg.get_support(indices=True)) == {3, 7}
    y3 = np.digitize(X[:, 5] + 0.3 * rng.normal(size=len(y)), [-0.5, 0.5])
    fg3 = FeatureGradients(n_features=1, batch_size=500, n_epochs=10, random_state=0).fit(X, y3)
    assert fg3.get_support(indices=True).tolist() == [5] and fg3.task_ == "classification"


def test_feature_map_makes_square_effect_visible(rng):
    X = rng.normal(size=(2000, 8))
    y = X[:, 2] ** 2 + 0.1 * rng.normal(size=2000)
    plain = FeatureGradients(n_features=1, batch_size=500, n_epochs=10, random_state=0).fit(X, y)
    mapped = FeatureGradients(n_features=1, batch_size=500, n_epochs=10, feature_map="square", random_state=0)
    mapped.fit(X, y)
    assert mapped.get_support(indices=True).tolist() == [2]
    assert mapped.x_.shape == (16,)
    assert plain.scores_[2] < 0.5 < mapped.scores_[2]  # invisible without the map


def test_stream_of_chunks_equals_in_memory_without_shuffle(rng):
    X, y = _suppressor(rng, n=1200, D=10)
    chunks = [(torch.tensor(X[i : i + 300]), torch.tensor(y[i : i + 300])) for i in range(0, 1200, 300)]
    a = FeatureGradients(n_features=2, batch_size=400, n_epochs=5, shuffle=False, dtype="float64").fit(X, y)
    b = FeatureGradients(n_features=2, batch_size=400, n_epochs=5, dtype="float64").fit(chunks)
    np.testing.assert_allclose(b.x_, a.x_, rtol=1e-5, atol=1e-7)  # sv1: float32 Gram vs float64 co-moments
    assert b.n_features_in_ == 10 and b.n_steps_ == 5  # 15 minibatches, 3 per step



def test_float32_stream_equals_float32_in_memory(rng):
    X, y = _suppressor(rng, n=1200, D=10)
    X = X.astype(np.float32)
    chunks = [(torch.from_numpy(X[i : i + 300]), torch.tensor(y[i : i + 300])) for i in range(0, 1200, 300)]
    a = FeatureGradients(n_features=2, batch_size=400, n_epochs=5, shuffle=False).fit(X, y)
    b = FeatureGradients(n_features=2, batch_size=400, n_epochs=5).fit(chunks)
    np.testing.assert_allclose(b.x_, a.x_, atol=1e-5)
    np.testing.assert_array_equal(b.support_, a.support_)


def test_float32_matches_float64(rng):
    X, y = _suppressor(rng, n=1000, D=10)
    a = FeatureGradients(n_features=2, batch_size=250, n_epochs=5, random_state=1, dtype="float64").fit(X, y)
    b = FeatureGradients(n_features=2, batch_size=250, n_epochs=5, random_state=1).fit(X, y)
    np.testing.assert_allclose(b.x_, a.x_, atol=1e-3)


def test_n_features_none_keeps_nonnegative_logits(rng):
    X, y = _suppressor(rng, n=1000, D=10)
    fg = FeatureGradients(n_features=None, batch_size=250, n_epochs=10, random_state=0).fit(X, y)
    np.testing.assert_array_equal(fg.support_, fg.x_ >= 0)


def test_bad_inputs(rng):
    X, y = rng.normal(size=(50, 4)), rng.normal(size=50)
    with pytest.raises(FeatcorrError, match="order"):
        learnability(X, y, order=13)
    with pytest.raises(ShapeError, match="s has 3 entries"):
        learnability(X, y, s=np.ones(3))
    with pytest.raises(NotEnoughSamplesError, match="too small for order=4"):
        learnability(X[:3], y[:3], order=4)
    with pytest.raises(FeatcorrError, match="one-shot iterator"):
        FeatureGradients(n_features=1).fit(iter([(X, y)]))
    with pytest.raises(ShapeError, match="every chunk needs 4 features"):
        FeatureGradients(n_features=1).fit([(X, y), (X[:, :3], y)])
    with pytest.raises(FeatcorrError, match="NaN"):
        Xn = X.copy()
        Xn[3, 1] = np.nan
        FeatureGradients(n_features=1).fit(Xn, y)
    with pytest.raises(FeatcorrError, match="n_features=5 is larger"):
        FeatureGradients(n_features=5).fit(X, y)



def _ref_scale(X, zscore=True):
    """float64 reference of the preprocessing: std * (top singular value of the standardised X / sqrt(n))."""
    Xc = X - X.mean(0)
    std = X.std(0, ddof=1) if zscore else np.ones(X.shape[1])
    sv1 = np.linalg.svd(Xc / std / np.sqrt(X.shape[0]), compute_uv=False)[0]
    return X.mean(0), std * sv1


@pytest.mark.parametrize("n,D,mode", [(700, 40, "gram_DxD"), (60, 150, "gram_nxn"), (700, 40, "stream"),
                                      (700, 40, "center")])
def test_preprocessing_statistics_equal_float64_svd(rng, n, D, mode):
    X = (rng.normal(size=(n, D)) @ rng.normal(size=(D, D)) / 4 + 3.0).astype(np.float32)  # correlated, offset
    y = rng.normal(size=n)
    mean_ref, scale_ref = _ref_scale(X.astype(np.float64), zscore=mode != "center")
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    chunks = lambda: ((Xt[i : i + 256], yt[i : i + 256]) for i in range(0, n, 256))  # noqa: E731
    stats = data_statistics(chunks, preprocess="center" if mode == "center" else "zscore", classification=False,
                            device=torch.device("cpu"), rows=None if mode == "stream" else Xt)
    np.testing.assert_allclose(stats.mean.numpy(), mean_ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(stats.scale.numpy(), scale_ref, rtol=2e-6)
    assert stats.y_std == pytest.approx(y.std(ddof=1), rel=1e-12)



@pytest.mark.parametrize("n,D", [(900, 120), (80, 200)])
def test_krylov_top_singular_value_equals_float64_svd(rng, n, D):
    # i.i.d. columns: the flat Marchenko-Pastur edge is the slow case for Lanczos
    X = rng.normal(size=(n, D)).astype(np.float32)
    mean_ref, scale_ref = _ref_scale(X.astype(np.float64))
    Xt = torch.from_numpy(X)
    mean, std = Xt.double().mean(0), Xt.double().std(0)
    chunks = lambda: ((Xt[i : i + 128], None) for i in range(0, n, 128))  # noqa: E731
    sv1 = _krylov_sv1(chunks, mean, std, n, torch.device("cpu"))
    assert sv1 == pytest.approx(scale_ref[0] / X.astype(np.float64).std(0, ddof=1)[0], rel=1e-6)


@pytest.mark.parametrize("order", ["C", "F"])
def test_add_gram_equals_float64_product(rng, order):
    a = np.asarray(rng.normal(size=(300, 37)), order=order).astype(np.float32, order=order)
    acc = torch.full((37, 37), 1.5, dtype=torch.float64)
    add_gram(acc, torch.from_numpy(a) if order == "C" else torch.from_numpy(a.T).T)
    ref = a.astype(np.float64).T @ a.astype(np.float64) + 1.5
    np.testing.assert_allclose(full_from_upper(acc).numpy(), ref, rtol=1e-5, atol=1e-4)


def test_workspace_buffers_are_reused_without_leaking_between_batches(rng):
    n, D, order = 70, 9, 4
    ws = BatchWorkspace(n, D, order, SLE_COEFFICIENTS[order], dtype=torch.float64, device=torch.device("cpu"),
                        block=16)
    coef = torch.tensor(SLE_COEFFICIENTS[order], dtype=torch.float64)
    for _ in range(3):  # a new batch written straight into ws.batch, then through a copy
        X, y = torch.tensor(rng.normal(size=(n, D))), torch.tensor(rng.normal(size=n))
        s = torch.tensor(rng.uniform(size=D))
        ref = float(torch.dot(coef, learnability_terms(X, y, s, order)))
        ws.batch.copy_(X)
        ws.set_batch(ws.batch, s)
        z1, g1 = ws.value_and_grad(y)
        ws.set_batch(X, s)
        z2, g2 = ws.value_and_grad(y)
        assert float(z1) == pytest.approx(ref, rel=1e-10) and float(z2) == pytest.approx(ref, rel=1e-10)
        np.testing.assert_array_equal(g1.numpy(), g2.numpy())


def test_seeded_runs_are_reproducible(rng):
    X, y = _suppressor(rng, n=1000, D=10)
    fit = lambda seed: FeatureGradients(n_features=2, batch_size=250, n_epochs=3, random_state=seed).fit(X, y).x_  # noqa: E731
    np.testing.assert_array_equal(fit(7), fit(7))
    assert not np.array_equal(fit(7), fit(8))  # the seed drives the row shuffling


@parametrize_with_checks([FeatureGradients(n_features=1, n_epochs=3, random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)
