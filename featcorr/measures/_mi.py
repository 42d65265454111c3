"""k-nearest-neighbour mutual information of every feature with a target, as scikit-learn estimates it.

Reproduces ``sklearn.feature_selection.mutual_info_regression`` and
``mutual_info_classif`` (dense X, continuous features) step by step:

1. every feature (and a continuous y) is divided by its standard deviation
   (ddof 0, no centring), then gets noise 1e-10 * max(1, mean|x|) * N(0, 1)
   drawn from ``numpy.random.RandomState(random_state)`` -- one (n, p) draw for
   X first, then one (n,) draw for a continuous y, exactly as scikit-learn;
2. continuous target (Kraskov, Stogbauer & Grassberger 2004, estimator 1):
   eps_i = distance to the k-th neighbour in the max-norm of (x, y), moved
   one ulp toward 0; n_x(i), n_y(i) = points other than i within eps_i in
   each marginal; I = psi(n) + psi(k) - <psi(n_x + 1)> - <psi(n_y + 1)>;
3. discrete target (Ross 2014): per class k' = min(k, n_c - 1), eps_i = the
   k'-th within-class neighbour distance moved one ulp toward 0,
   m_i = all points within eps_i (i included); samples of singleton classes
   are dropped; I = psi(n) + <psi(k')> - <psi(n_c)> - <psi(m_i)>;
4. negative estimates become 0 (as scikit-learn), in nats.

Neighbour distances come from a k-d tree (scipy ``cKDTree``, max-norm) and
the marginal counts from sorted columns with an exact binary search on
|x_j - x_i| <= eps_i, so the counts equal scikit-learn's tree counts.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

__all__ = ["mi_scores", "add_sklearn_noise"]


def add_sklearn_noise(
    X: np.ndarray, y: np.ndarray | None, random_state: int | np.random.RandomState | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Scale by the std (no centring) and add scikit-learn's 1e-10 jitter; y only when continuous (not None)."""
    from sklearn.preprocessing import scale
    from sklearn.utils import check_random_state

    rng = check_random_state(random_state)
    n = X.shape[0]
    X = scale(np.array(X, dtype=np.float64, copy=True), with_mean=False, copy=False)
    means = np.maximum(1, np.mean(np.abs(X), axis=0))
    X += 1e-10 * means * rng.standard_normal(size=X.shape)
    if y is not None:
        y = scale(np.asarray(y, dtype=np.float64), with_mean=False)
        y = y + 1e-10 * np.maximum(1, np.mean(np.abs(y))) * rng.standard_normal(size=n)
    return X, y


def _count_within(sorted_v: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """#{j : |sorted_v[j] - v_i| <= r_i} for each i, exact on the computed differences."""
    n = sorted_v.shape[0]
    # first j with v_i - s_j <= r_i (the difference falls as j grows)
    lo = np.zeros(v.shape[0], dtype=np.int64)
    hi = np.full(v.shape[0], n, dtype=np.int64)
    while True:
        active = lo < hi
        if not active.any():
            break
        mid = (lo + hi) // 2
        midc = np.minimum(mid, n - 1)
        ok = (v - sorted_v[midc]) <= r
        hi = np.where(active & ok, mid, hi)
        lo = np.where(active & ~ok, mid + 1, lo)
    first = lo
    # first j with s_j - v_i > r_i
    lo = np.zeros(v.shape[0], dtype=np.int64)
    hi = np.full(v.shape[0], n, dtype=np.int64)
    while True:
        active = lo < hi
        if not active.any():
            break
        mid = (lo + hi) // 2
        midc = np.minimum(mid, n - 1)
        beyond = (sorted_v[midc] - v) > r
        hi = np.where(active & beyond, mid, hi)
        lo = np.where(active & ~beyond, mid + 1, lo)
    return lo - first


def _kth_distance(Z: np.ndarray, k: int) -> np.ndarray:
    """Max-norm distance of each row of Z (n, d) to its k-th nearest other row."""
    d, _ = cKDTree(Z).query(Z, k=k + 1, p=np.inf)
    return d[:, -1]


def _mi_cc(x: np.ndarray, y: np.ndarray, k: int, ys: np.ndarray) -> float:
    n = x.shape[0]
    radius = np.nextafter(_kth_distance(np.column_stack([x, y]), k), 0)
    nx = _count_within(np.sort(x), x, radius) - 1.0
    ny = _count_within(ys, y, radius) - 1.0
    mi = digamma(n) + digamma(k) - np.mean(digamma(nx + 1)) - np.mean(digamma(ny + 1))
    return max(0.0, float(mi))


def _mi_cd(c: np.ndarray, d: np.ndarray, k: int) -> float:
    n = c.shape[0]
    radius = np.empty(n)
    counts = np.empty(n)
    k_all = np.empty(n)
    for label in np.unique(d):
        mask = d == label
        m = int(mask.sum())
        if m > 1:
            kk = min(k, m - 1)
            radius[mask] = np.nextafter(_kth_distance(c[mask, None], kk), 0)
            k_all[mask] = kk
        counts[mask] = m
    keep = counts > 1
    c, radius, counts, k_all = c[keep], radius[keep], counts[keep], k_all[keep]
    m_all = _count_within(np.sort(c), c, radius)
    mi = digamma(keep.sum()) + np.mean(digamma(k_all)) - np.mean(digamma(counts)) - np.mean(digamma(m_all))
    return max(0.0, float(mi))


def mi_scores(
    X: np.ndarray,
    y: np.ndarray,
    *,
    discrete_target: bool,
    n_neighbors: int = 3,
    random_state: int | np.random.RandomState | None = None,
) -> np.ndarray:
    """Mutual information (nats) of each column of X (n, p) with y, as scikit-learn estimates it, (p,)."""
    Xn, yn = add_sklearn_noise(X, None if discrete_target else y, random_state)
    p = Xn.shape[1]
    out = np.empty(p)
    if discrete_target:
        for j in range(p):
            out[j] = _mi_cd(Xn[:, j], y, n_neighbors)
    else:
        ys = np.sort(yn)
        for j in range(p):
            out[j] = _mi_cc(Xn[:, j], yn, n_neighbors, ys)
    return out
