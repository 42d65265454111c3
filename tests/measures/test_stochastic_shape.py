"""Stochastic shape metrics: Bures closed forms, planted alignments, metric axioms, energy formula, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import sqrtm
from scipy.stats import ortho_group

import featcorr as fc
from featcorr.errors import FeatcorrError, NotEnoughSamplesError, ShapeError, UnknownOptionError
from featcorr.measures import gaussian_shape_distance, stochastic_shape_distance


def ref_sq_bures(A: np.ndarray, B: np.ndarray) -> float:
    """tr A + tr B - 2 tr (A^1/2 B A^1/2)^1/2 with scipy.linalg.sqrtm."""
    rA = np.real(sqrtm(A))
    return float(np.trace(A) + np.trace(B) - 2 * np.trace(np.real(sqrtm(rA @ B @ rA))))


def ref_gaussian_identity(mx, cx, my, cy, alpha):
    """d^2 at T = I: (1/M) sum alpha ||mu - mu'||^2 + (2 - alpha) B^2."""
    terms = [alpha * np.sum((a - b) ** 2) + (2 - alpha) * ref_sq_bures(A, B) for a, A, b, B in zip(mx, cx, my, cy)]
    return float(np.mean(terms))


def ref_energy_identity(X, Y, estimator="v"):
    """Half energy distance per condition at T = I, averaged, by explicit loops over repeat pairs."""
    vals = []
    for x, y in zip(X, Y):
        cross = np.mean([np.linalg.norm(a - b) for a in x for b in y])

        def within(z):
            d = [np.linalg.norm(z[i] - z[j]) for i in range(len(z)) for j in range(len(z)) if i != j]
            return np.sum(d) / (len(z) * (len(z) - 1) if estimator == "u" else len(z) ** 2)

        vals.append(cross - 0.5 * (within(x) + within(y)))
    return float(np.mean(vals))


def _random_covs(rng, M, p, spread=(-1, 1)):
    out = []
    for _ in range(M):
        U = ortho_group.rvs(p, random_state=rng.integers(1 << 30))
        out.append(U @ np.diag(np.logspace(*spread, p)) @ U.T)
    return np.array(out)


def _responses(rng, M=12, r=25, p=4):
    """Noisy responses: condition means plus condition-specific anisotropic noise."""
    means = rng.normal(size=(M, 1, p)) * 2
    L = rng.normal(size=(M, p, p)) * 0.5
    return means + np.einsum("mrp,mpq->mrq", rng.normal(size=(M, r, p)), L)


# --------------------------------------------------------------- closed forms


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 1.5, 2.0])
def test_commuting_covariances_closed_form(rng, alpha):
    M, p = 6, 5
    mx, my = rng.normal(size=(M, p)), rng.normal(size=(M, p))
    a, b = rng.uniform(0.1, 4, size=(M, p)), rng.uniform(0.1, 4, size=(M, p))
    cx = np.array([np.diag(v) for v in a])
    cy = np.array([np.diag(v) for v in b])
    # diagonal (commuting) covariances: B^2 = sum (sqrt a - sqrt b)^2
    want = np.mean(alpha * np.sum((mx - my) ** 2, 1) + (2 - alpha) * np.sum((np.sqrt(a) - np.sqrt(b)) ** 2, 1))
    got = gaussian_shape_distance(mx, cx, my, cy, alpha=alpha, group="identity", squared=True)
    assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.7])
def test_general_bures_at_identity(rng, alpha):
    M, p = 5, 4
    mx, my = rng.normal(size=(M, p)), rng.normal(size=(M, p))
    cx, cy = _random_covs(rng, M, p), _random_covs(rng, M, p, (-2, 0.5))
    want = ref_gaussian_identity(mx, cx, my, cy, alpha)
    assert gaussian_shape_distance(mx, cx, my, cy, alpha=alpha, group="identity", squared=True) == pytest.approx(
        want, rel=1e-10
    )
    # the optimised distance is never above the identity alignment
    assert gaussian_shape_distance(mx, cx, my, cy, alpha=alpha, squared=True) <= want * (1 + 1e-12)


def test_alpha_two_is_procrustes_of_means(rng):
    M, p = 15, 6
    mx, my = rng.normal(size=(M, p)), rng.normal(size=(M, p))
    cx, cy = _random_covs(rng, M, p), _random_covs(rng, M, p)
    nuc = np.linalg.svd(my.T @ mx, compute_uv=False).sum()
    want = 2.0 * (np.sum(mx**2) + np.sum(my**2) - 2 * nuc) / M  # alpha = 2 weights the means by 2
    assert gaussian_shape_distance(mx, cx, my, cy, alpha=2.0, squared=True) == pytest.approx(want, rel=1e-10)


def test_repeats_equal_moments_path(rng):
    X, Y = _responses(rng), _responses(rng)
    mx, my = X.mean(1), Y.mean(1)
    cx = np.array([np.cov(x, rowvar=False) for x in X])
    cy = np.array([np.cov(y, rowvar=False) for y in Y])
    for alpha in (0.5, 1.0):
        got = stochastic_shape_distance(X, Y, alpha=alpha, group="identity")
        assert got == pytest.approx(np.sqrt(ref_gaussian_identity(mx, cx, my, cy, alpha)), rel=1e-10)
        assert stochastic_shape_distance(X, Y, alpha=alpha) == pytest.approx(
            gaussian_shape_distance(mx, cx, my, cy, alpha=alpha), rel=1e-8
        )
    c0 = np.array([np.cov(x, rowvar=False, ddof=0) for x in X])
    got0 = stochastic_shape_distance(X, Y, group="identity", ddof=0, squared=True)
    c0y = np.array([np.cov(y, rowvar=False, ddof=0) for y in Y])
    assert got0 == pytest.approx(ref_gaussian_identity(mx, c0, my, c0y, 1.0), rel=1e-10)


def test_eps_regularisation_adds_identity(rng):
    X, Y = _responses(rng, r=3, p=5), _responses(rng, r=3, p=5)  # rank-deficient covariances (3 repeats, 5 units)
    mx, my = X.mean(1), Y.mean(1)
    cx = np.array([np.cov(x, rowvar=False) + 1e-3 * np.eye(5) for x in X])
    cy = np.array([np.cov(y, rowvar=False) + 1e-3 * np.eye(5) for y in Y])
    got = stochastic_shape_distance(X, Y, group="identity", eps=1e-3, squared=True)
    assert got == pytest.approx(ref_gaussian_identity(mx, cx, my, cy, 1.0), rel=1e-9)


@pytest.mark.parametrize("estimator", ["v", "u"])
def test_energy_formula_at_identity(rng, estimator):
    X, Y = _responses(rng, M=4, r=6, p=3), _responses(rng, M=4, r=6, p=3) + 1.0
    want = ref_energy_identity(X, Y, estimator)
    got = stochastic_shape_distance(X, Y, method="energy", group="identity", estimator=estimator, squared=True)
    assert got == pytest.approx(want, rel=1e-12)


def test_energy_unbiased_can_be_negative(rng):
    X = rng.normal(size=(10, 4, 3))
    Y = rng.normal(size=(10, 4, 3))  # same distribution: the unbiased estimate fluctuates around 0
    vals = [stochastic_shape_distance(X, rng.normal(size=(10, 4, 3)), method="energy", group="identity",
                                      estimator="u", squared=True) for _ in range(20)]
    neg = [v for v in vals if v < 0]
    assert neg, "expected some negative unbiased estimates"
    with pytest.raises(FeatcorrError, match="squared=True"):
        for _ in range(50):
            stochastic_shape_distance(X, rng.normal(size=(10, 4, 3)), method="energy", group="identity",
                                      estimator="u")
    assert stochastic_shape_distance(X, Y, method="energy", estimator="v") >= 0.0


# --------------------------------------------------------------- planted alignments, axioms


@pytest.mark.parametrize("method", ["gaussian", "energy"])
def test_planted_rotation_gives_zero(rng, method):
    X = _responses(rng)
    Q = ortho_group.rvs(X.shape[2], random_state=5)
    assert stochastic_shape_distance(X, X @ Q, method=method) < 1e-6
    assert stochastic_shape_distance(X, X @ Q, method=method, group="identity") > 0.1


@pytest.mark.parametrize("method", ["gaussian", "energy"])
def test_planted_permutation_gives_zero(rng, method):
    X = _responses(rng, p=6)
    perm = rng.permutation(6)
    assert stochastic_shape_distance(X, X[:, :, perm], method=method, group="permutation") < 1e-6
    assert stochastic_shape_distance(X, X[:, :, perm], method=method, group="perm") < 1e-6


def test_random_init_reaches_the_planted_optimum(rng):
    X = _responses(rng)
    Q = ortho_group.rvs(X.shape[2], random_state=8)
    assert stochastic_shape_distance(X, X @ Q, init="random", seed=3) < 1e-5


def test_zero_padding_of_narrower_network(rng):
    X = _responses(rng, p=3)
    Xw = np.concatenate([X, np.zeros(X.shape[:2] + (2,))], axis=2) @ ortho_group.rvs(5, random_state=1)
    assert stochastic_shape_distance(X, Xw) < 1e-6


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**16), method=st.sampled_from(["gaussian", "energy"]))
def test_symmetry_and_triangle_inequality(seed, method):
    rng = np.random.default_rng(seed)
    A, B, C = (_responses(rng, M=8, r=10, p=3) for _ in range(3))
    dab = stochastic_shape_distance(A, B, method=method)
    dba = stochastic_shape_distance(B, A, method=method)
    dbc = stochastic_shape_distance(B, C, method=method)
    dac = stochastic_shape_distance(A, C, method=method)
    assert dab == pytest.approx(dba, rel=1e-4)
    assert dac <= dab + dbc + 1e-6
    assert dab > 0


# --------------------------------------------------------------- registry / sample path


def test_registry_entry_reads_rows_in_condition_order(rng):
    X, Y = _responses(rng), _responses(rng)
    M, r, p = X.shape
    want = stochastic_shape_distance(X, Y)
    assert fc.similarity(X.reshape(M * r, p), Y.reshape(M * r, p), measure="stochastic_shape", repeats=r) == (
        pytest.approx(want, rel=1e-12)
    )
    assert fc.similarity(X, Y, measure="stochastic_shape", repeats=r, pool="samples") == pytest.approx(want, rel=1e-12)
    e = stochastic_shape_distance(X, Y, method="energy")
    assert fc.similarity(X, Y, measure="stochastic_shape", repeats=r, pool="samples", method="energy") == (
        pytest.approx(e, rel=1e-12)
    )


def test_registry_bad_inputs(rng):
    X = _responses(rng)
    M, r, p = X.shape
    flat = X.reshape(M * r, p)
    with pytest.raises(UnknownOptionError, match="pass repeats="):
        fc.similarity(flat, flat, measure="stochastic_shape")
    with pytest.raises(ShapeError, match="pool='samples'"):
        fc.similarity(X, X, measure="stochastic_shape", repeats=r)  # flattened: 12 rows of r*p
    with pytest.raises(NotEnoughSamplesError, match=f"sample_size >= {M * r}"):
        fc.similarity(flat, flat, measure="stochastic_shape", repeats=r, sample_size=100)


def test_bad_inputs(rng):
    X = _responses(rng)
    with pytest.raises(ShapeError, match=r"\(n_conditions, n_repeats, n_features\)"):
        stochastic_shape_distance(X[:, 0], X[:, 0])
    with pytest.raises(ShapeError, match="12 conditions but Y has 11"):
        stochastic_shape_distance(X, X[:-1])
    with pytest.raises(NotEnoughSamplesError, match="1 repeat"):
        stochastic_shape_distance(X[:, :1], X[:, :1])
    with pytest.raises(UnknownOptionError, match="alpha must be in"):
        stochastic_shape_distance(X, X, alpha=2.5)
    with pytest.raises(UnknownOptionError, match="group='rotation'"):
        stochastic_shape_distance(X, X, group="rotation")
    with pytest.raises(UnknownOptionError, match="method='wasserstein'"):
        stochastic_shape_distance(X, X, method="wasserstein")
    with pytest.raises(UnknownOptionError, match="max_iter"):
        stochastic_shape_distance(X, X, max_iter=0)
    with pytest.raises(FeatcorrError, match="NaN"):
        Z = X.copy()
        Z[0, 0, 0] = np.nan
        stochastic_shape_distance(Z, X)
    cov = np.array([np.diag([1.0, -1.0])] * 3)
    with pytest.raises(FeatcorrError, match="positive semi-definite"):
        gaussian_shape_distance(np.zeros((3, 2)), cov, np.zeros((3, 2)), np.abs(cov))
    with pytest.raises(ShapeError, match="covariances must be"):
        gaussian_shape_distance(np.zeros((3, 2)), np.ones((3, 3, 3)), np.zeros((3, 2)), np.ones((3, 2, 2)))


def test_three_d_arrays_need_pool_samples(rng):
    # non-regression: (n_conditions, n_repeats, p) with the default pool='flatten' took the repeats for features;
    # with 20 conditions and 10 repeats the row count divides and the result was silently wrong
    X, Y = _responses(rng, M=20, r=10), _responses(rng, M=20, r=10)
    want = stochastic_shape_distance(X, Y)
    with pytest.raises(ShapeError, match=r"\(20, 10, 4\).*Pass pool='samples'"):
        fc.similarity(X, Y, measure="stochastic_shape", repeats=10)
    with pytest.raises(ShapeError, match="pool='mean' would not keep"):
        fc.similarity(X, Y, measure="stochastic_shape", repeats=10, pool="mean")
    assert fc.similarity(X, Y, measure="stochastic_shape", pool="samples") == pytest.approx(want, rel=1e-12)
    with pytest.raises(ShapeError, match="repeats=5 disagrees"):
        fc.similarity(X, Y, measure="stochastic_shape", repeats=5, pool="samples")
    conv = X.reshape(200, 4, 1, 1)  # repeats on the batch axis, one position
    assert fc.similarity(conv, Y.reshape(200, 4, 1, 1), measure="stochastic_shape", repeats=10) == (
        pytest.approx(want, rel=1e-12)
    )
    with pytest.raises(ShapeError, match="interleaves"):
        fc.similarity(conv, conv, measure="stochastic_shape", repeats=10, pool="samples")


def test_significance_permutes_and_resamples_whole_conditions(rng):
    # rows of one condition (its repeats) must move together: the null/bootstrap draws are the measure on
    # condition-permuted / condition-resampled arrays, drawn from the same generator sequence
    M, r = 8, 6
    X, Y = _responses(rng, M=M, r=r), _responses(rng, M=M, r=r)
    res = fc.significance(X, Y, "stochastic_shape", pool="samples", n_permutations=4, n_bootstrap=3, random_state=5)
    g = np.random.default_rng(5)
    perms = np.argsort(g.random((4, M)), axis=1)
    np.testing.assert_allclose(res.null, [stochastic_shape_distance(X, Y[p]) for p in perms], rtol=1e-10)
    boots = [g.integers(0, M, size=M) for _ in range(3)]
    np.testing.assert_allclose(res.bootstrap, [stochastic_shape_distance(X[i], Y[i]) for i in boots], rtol=1e-10)
    assert res.value == pytest.approx(stochastic_shape_distance(X, Y), rel=1e-12)
