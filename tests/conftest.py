"""Shared fixtures and float64 reference formulas for the test suite."""

from __future__ import annotations

import numpy as np
import pytest


def ref_linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Textbook Gram-space linear CKA in float64: tr(KHLH) / sqrt(tr(KHKH) tr(LHLH))."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n = X.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    K = H @ (X @ X.T) @ H
    L = H @ (Y @ Y.T) @ H
    return float(np.sum(K * L) / np.sqrt(np.sum(K * K) * np.sum(L * L)))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
