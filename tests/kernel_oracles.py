"""Independent float64 numpy oracles for kernel CKA (Kornblith et al. 2019 demo formulas, re-written here)."""

from __future__ import annotations

import numpy as np


def gram_linear(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x @ x.T


def sq_distances(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)


def gram_rbf(x: np.ndarray, threshold: float = 1.0, *, sigma: float | None = None) -> np.ndarray:
    """exp(-d^2 / (2 sigma^2)); default sigma^2 = threshold^2 * median of the full d^2 matrix (zeros included)."""
    sq = sq_distances(x)
    if sigma is None:
        return np.exp(-sq / (2.0 * threshold**2 * np.median(sq)))
    return np.exp(-sq / (2.0 * sigma**2))


def center_gram(K: np.ndarray, unbiased: bool = False) -> np.ndarray:
    """Kornblith's center_gram: H K H, or the U-centred Gram when unbiased."""
    K = np.array(K, dtype=np.float64, copy=True)
    n = K.shape[0]
    if unbiased:
        np.fill_diagonal(K, 0.0)
        means = K.sum(0) / (n - 2)
        means -= means.sum() / (2 * (n - 1))
        K -= means[:, None]
        K -= means[None, :]
        np.fill_diagonal(K, 0.0)
        return K
    H = np.eye(n) - 1.0 / n
    return H @ K @ H


def cka(K: np.ndarray, L: np.ndarray, debiased: bool = False) -> float:
    Kc, Lc = center_gram(K, debiased), center_gram(L, debiased)
    return float(np.sum(Kc * Lc) / np.sqrt(np.sum(Kc * Kc) * np.sum(Lc * Lc)))


def hsic_song(K: np.ndarray, L: np.ndarray) -> float:
    """Unbiased HSIC by Song et al. 2012 eq. 5 (diagonals zeroed explicitly)."""
    K = np.array(K, dtype=np.float64, copy=True)
    L = np.array(L, dtype=np.float64, copy=True)
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    n = K.shape[0]
    one = np.ones(n)
    t = np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * one @ K @ L @ one
    return float(t / (n * (n - 3)))
