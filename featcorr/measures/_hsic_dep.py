"""HSIC of every feature with a target (Gretton et al. 2005; Song et al. 2012).

Per feature x_f the Gram matrix K_f (n x n) is built from x_f alone (linear
x x^T or Gaussian exp(-(x_i - x_j)^2 / (2 sigma^2))); the target Gram L is
linear, Gaussian, or the delta kernel 1[y_i = y_j] for class labels.

- biased: HSIC_b = tr(K H L H) / (n - 1)^2, H = I - 11^T/n;
- unbiased: HSIC_u = [tr(K~L~) + 1^T K~ 1 1^T L~ 1 / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n(n-3)),
  K~, L~ with zero diagonal;
- normalised: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with the same estimator (= CKA with that kernel).

Bandwidth: ``"median"`` sets sigma to the median of the pairwise distances
|z_i - z_j| over i < j (the median heuristic of Gretton et al. 2005/2008),
per feature and for the target separately; a number fixes sigma.
"""

from __future__ import annotations

import torch

__all__ = ["median_distance", "gram", "hsic_scores"]


def median_distance(Z: torch.Tensor) -> torch.Tensor:
    """Median (mean of the two middle values when even, as numpy) of the distances |z_i - z_j|, i < j, of Z (n, q)."""
    n = Z.shape[0]
    D = torch.cdist(Z, Z, compute_mode="donot_use_mm_for_euclid_dist") if Z.shape[1] > 1 else (Z - Z.T).abs()
    d = D[torch.ones(n, n, dtype=torch.bool, device=Z.device).triu_(1)]
    m = d.numel()
    lo = torch.kthvalue(d, (m + 1) // 2).values
    return lo if m % 2 else (lo + torch.kthvalue(d, m // 2 + 1).values) / 2.0


def gram(Z: torch.Tensor, kernel: str, bandwidth: float | str = "median") -> torch.Tensor:
    """Gram matrix of Z (n, q): 'linear', 'rbf' (Gaussian) or 'delta' (Z holds class codes)."""
    if kernel == "linear":
        return Z @ Z.T
    if kernel == "delta":
        z = Z.reshape(-1)
        return (z[:, None] == z[None, :]).to(torch.float64)
    sigma = median_distance(Z) if bandwidth == "median" else torch.as_tensor(float(bandwidth), dtype=Z.dtype)
    D2 = torch.cdist(Z, Z, compute_mode="donot_use_mm_for_euclid_dist").pow(2) if Z.shape[1] > 1 else (Z - Z.T).pow(2)
    return torch.exp(-D2 / (2.0 * sigma * sigma))


def _hsic(K: torch.Tensor, L: torch.Tensor, unbiased: bool) -> torch.Tensor:
    n = K.shape[0]
    if not unbiased:
        Kc = K - K.mean(dim=0, keepdim=True) - K.mean(dim=1, keepdim=True) + K.mean()
        return (Kc * L).sum() / (n - 1) ** 2  # tr(KHLH) = <HKH, L>
    Kt = K - torch.diag(torch.diagonal(K))
    Lt = L - torch.diag(torch.diagonal(L))
    KL1 = Kt @ Lt.sum(dim=1)
    return (
        (Kt * Lt).sum() + Kt.sum() * Lt.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * KL1.sum()
    ) / (n * (n - 3))


def hsic_scores(
    X: torch.Tensor,
    L: torch.Tensor,
    *,
    kernel: str = "rbf",
    bandwidth: float | str = "median",
    unbiased: bool = False,
    normalized: bool = False,
) -> torch.Tensor:
    """HSIC of each column of X (n, p) with a fixed target Gram L (n, n), (p,)."""
    p = X.shape[1]
    out = torch.empty(p, dtype=torch.float64, device=X.device)
    lself = _hsic(L, L, unbiased) if normalized else None
    for j in range(p):
        K = gram(X[:, j : j + 1], kernel, bandwidth)
        h = _hsic(K, L, unbiased)
        if normalized:
            h = h / torch.sqrt(_hsic(K, K, unbiased) * lself)
        out[j] = h
    return out
