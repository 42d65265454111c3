"""Deconfounded CKA: closed form vs the paper's regression on Gram entries, streaming, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

import featcorr as fc
from featcorr.errors import ConstantFeatureError, FeatcorrError, ShapeError
from featcorr.measures import deconfounded_cka_from
from featcorr.stats import Moments


def _direct_dcka(X, Y, X0):
    """simtorch DeltaCKA style, float64: centre and Frobenius-normalise each representation, linear Grams,
    OLS of every one of the n^2 Gram entries on [1, K_0], then CKA of the double-centred residual Grams."""
    def gram(Z):
        Z = Z - Z.mean(0)
        Z = Z / np.linalg.norm(Z)
        return Z @ Z.T

    K0 = gram(X0)
    design = np.column_stack([np.ones(K0.size), K0.ravel()])
    n = X.shape[0]
    H = np.eye(n) - 1.0 / n

    def resid(Z):
        K = gram(Z)
        beta, *_ = np.linalg.lstsq(design, K.ravel(), rcond=None)
        return H @ (K - (design @ beta).reshape(n, n)) @ H

    Rx, Ry = resid(X), resid(Y)
    return float(np.sum(Rx * Ry) / np.sqrt(np.sum(Rx * Rx) * np.sum(Ry * Ry)))


def _case(rng, n=90, offset=0.0):
    X0 = rng.normal(size=(n, 12)) + offset
    X = np.tanh(X0 @ rng.normal(size=(12, 20)) / 3) + 0.3 * rng.normal(size=(n, 20))
    Y = np.maximum(X0[:, :6] @ rng.normal(size=(6, 14)), 0) + 0.5 * rng.normal(size=(n, 14)) - offset
    return X, Y, X0


def test_closed_form_matches_regression_on_gram_entries(rng):
    for offset in (0.0, 25.0):
        X, Y, X0 = _case(rng, offset=offset)
        got = fc.similarity(X, Y, measure="deconfounded_cka", confounder=X0)
        assert got == pytest.approx(_direct_dcka(X, Y, X0), rel=1e-9, abs=1e-12)
    X, Y, X0 = rng.normal(size=(30, 50)), rng.normal(size=(30, 40)), rng.normal(size=(30, 60))  # n < p
    got = fc.similarity(X, Y, measure="deconfounded_cka", confounder=X0)
    assert got == pytest.approx(_direct_dcka(X, Y, X0), rel=1e-9, abs=1e-12)


def test_deconfounding_removes_shared_input_structure_and_can_go_negative():
    negative = 0
    for seed in range(10):
        r = np.random.default_rng(seed)
        X0 = r.normal(size=(60, 5))
        X = X0 @ r.normal(size=(5, 8)) + 0.8 * r.normal(size=(60, 8))
        Y = X0 @ r.normal(size=(5, 8)) + 0.8 * r.normal(size=(60, 8))
        plain = fc.similarity(X, Y)
        d = fc.similarity(X, Y, measure="deconfounded_cka", confounder=X0)
        assert d == pytest.approx(_direct_dcka(X, Y, X0), rel=1e-9, abs=1e-12)
        assert d < plain  # both only share the input
        negative += d < 0
    assert negative >= 1


def test_streaming_moments_equal_array_path(rng):
    X, Y, X0 = _case(rng, n=200, offset=10.0)
    m = Moments(pairs="all")
    for lo in range(0, 200, 30):
        m.update({"x": X[lo : lo + 30], "y": Y[lo : lo + 30], "__input__": X0[lo : lo + 30]})
    got = deconfounded_cka_from(m.finalize(), "x", "y")
    assert got == pytest.approx(fc.similarity(X, Y, measure="deconfounded_cka", confounder=X0), rel=1e-11)
    assert deconfounded_cka_from(m.finalize(), "x", "x") == 1.0


def test_invariances(rng):
    X, Y, X0 = _case(rng)
    base = fc.similarity(X, Y, measure="deconfounded_cka", confounder=X0)
    Q = ortho_group.rvs(14, random_state=1)
    Q0 = ortho_group.rvs(12, random_state=2)
    got = fc.similarity(X, 4.0 * Y @ Q + 3.0, measure="deconfounded_cka", confounder=0.5 * X0 @ Q0 - 1.0)
    assert got == pytest.approx(base, rel=1e-9)


def test_bad_inputs(rng):
    X, Y, X0 = _case(rng, n=40)
    with pytest.raises(FeatcorrError, match="needs the array confounder="):
        fc.similarity(X, Y, measure="deconfounded_cka")
    with pytest.raises(ShapeError, match="X has 40 samples but confounder has 39"):
        fc.similarity(X, Y, measure="deconfounded_cka", confounder=X0[:-1])
    with pytest.raises(ConstantFeatureError, match="constant"):
        fc.similarity(X, Y, measure="deconfounded_cka", confounder=np.ones((40, 3)))
    Q = ortho_group.rvs(12, random_state=0)
    with pytest.raises(ConstantFeatureError, match="'X' is a multiple of the confounder's Gram"):
        fc.similarity(2.0 * X0 @ Q, Y, measure="deconfounded_cka", confounder=X0)
