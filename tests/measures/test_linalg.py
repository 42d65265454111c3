"""Decomposition helpers of the moment measures: Gram singular values (certified or refused), LAPACK threads,
and the Cholesky / eigen whitening paths of CCA and PWCCA agreeing."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch

from featcorr.errors import UnknownOptionError
from featcorr.measures import RankDeficiencyWarning, cca_from, pwcca_from
from featcorr.measures._cca import _full_rank_cholesky, block_spectrum
from featcorr.measures import _linalg
from featcorr.measures._linalg import _auto_threads, gram_singular_values, set_lapack_threads, singular_values
from featcorr.stats import Moments


@pytest.mark.parametrize("shape", [(60, 35), (35, 60), (300, 300)])
def test_gram_singular_values_match_numpy_svd(rng, shape):
    M = rng.normal(size=shape) * np.linspace(1.0, 0.05, shape[1])
    got = gram_singular_values(torch.from_numpy(M))
    assert got is not None  # well-conditioned enough: certified
    ref = np.linalg.svd(M, compute_uv=False)
    np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=1e-10 * ref[0])
    assert float(got.sum()) == pytest.approx(ref.sum(), rel=1e-13)


def test_gram_singular_values_refuse_uncertified_and_fallback_is_exact(rng):
    low_rank = rng.normal(size=(80, 4)) @ rng.normal(size=(4, 50))  # 46 zero singular values
    assert gram_singular_values(torch.from_numpy(low_rank)) is None
    decaying = rng.normal(size=(80, 50)) * np.logspace(0, -6, 50)
    assert gram_singular_values(torch.from_numpy(decaying)) is None
    for M in (low_rank, decaying):
        ref = np.linalg.svd(M, compute_uv=False)
        np.testing.assert_allclose(singular_values(torch.from_numpy(M)).numpy(), ref, rtol=0, atol=1e-12 * ref[0])
    assert gram_singular_values(torch.zeros(5, 3, dtype=torch.float64)) is None


def test_set_lapack_threads_and_auto_rule(rng, monkeypatch):
    old = set_lapack_threads(None)
    try:
        assert old == "auto"
        M = torch.from_numpy(rng.normal(size=(40, 30)))
        np.testing.assert_allclose(singular_values(M).numpy(), np.linalg.svd(M.numpy(), compute_uv=False), atol=1e-12)
        with pytest.raises(UnknownOptionError, match="positive int"):
            set_lapack_threads(0)
    finally:
        set_lapack_threads(old)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(_linalg, "_others_running", lambda: 0)  # only this process: both threads
    assert _auto_threads(2) == 2
    monkeypatch.setattr(_linalg, "_others_running", lambda: 1)  # another busy process: one thread
    assert _auto_threads(2) == 1
    monkeypatch.setattr(_linalg, "_others_running", lambda: None)  # cannot tell: one thread
    assert _auto_threads(2) == 1
    monkeypatch.undo()
    assert isinstance(_linalg._others_running(), (int, float))  # Linux: /proc/loadavg is read


def _pair(rng, n=500, p=14, q=10):
    X = rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) + 2.0
    Y = np.tanh(X[:, :6] @ rng.normal(size=(6, q)) / 4) + 0.8 * rng.normal(size=(n, q))
    return X, Y


def test_cholesky_and_eigen_whitening_agree(rng):
    X, Y = _pair(rng)
    chol = Moments(pairs="all").update({"x": X, "y": Y}).finalize()
    eig = Moments(pairs="all").update({"x": X, "y": Y}).finalize()
    block_spectrum(eig, "x", rtol=1e-10)  # a cached spectrum sends cca/pwcca down the eigen path
    assert _full_rank_cholesky(chol, "x", rtol=1e-10) is not None
    v_chol, v_eig = cca_from(chol, "x", "y"), cca_from(eig, "x", "y")
    assert 0.1 < v_chol < 0.9 and v_chol == pytest.approx(v_eig, abs=1e-12)
    assert pwcca_from(chol, "x", "y") == pytest.approx(pwcca_from(eig, "x", "y"), abs=1e-12)
    assert pwcca_from(chol, "y", "x") == pytest.approx(pwcca_from(eig, "y", "x"), abs=1e-12)


def test_nearly_collinear_full_rank_block_takes_the_eigen_path(rng):
    X, Y = _pair(rng)
    X[:, 3] = X[:, 2] + 1e-9 * rng.normal(size=X.shape[0])  # full rank, condition ~1e20 > 1 / rtol
    snap = Moments(pairs="all").update({"x": X, "y": Y}).finalize()
    assert _full_rank_cholesky(snap, "x", rtol=1e-10) is None  # the bound refuses the Cholesky path
    with pytest.warns(RankDeficiencyWarning, match="rank 13 of 14"):
        cca_from(snap, "x", "y")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _full_rank_cholesky(snap, "y", rtol=1e-10) is not None
