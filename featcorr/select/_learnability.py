"""Kong & Valiant's learnability U-statistics in linear time and space (Sheth & Fusi's minibatch form).

For a batch X (n, D), a target y (n,) and feature weights s (D,), let
G_s = strictly upper-triangular part of X diag(s) X^T. Then

    T_k = y^T G_s^{k+1} y / binom(n, k+2),    k = 0 .. order-1,

is the unbiased U-statistic over chains of distinct increasing indices
i0 < i1 < ... < i_{k+1} of y_i0 (x_i0^T S x_i1) ... (x_ik^T S x_i{k+1}) y_i{k+1}.
Every product G_s r is computed with one cumulative sum over rows, O(n D)
time and memory, never an n x n matrix. Chains are grown alternately from the
right (G_s r) and the left (G_s^T l) as in Sheth & Fusi, and T_k = l^T r.
To stay far from overflow for large batches, each step divides by n and the
factor n^(k+1) / binom(n, k+2) is folded into the (float64) coefficients.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import FeatcorrError, NotEnoughSamplesError, ShapeError

__all__ = ["SLE_COEFFICIENTS", "learnability_terms", "learnability", "chain_scales", "BatchWorkspace"]

#: Polynomial coefficients c_k of the sublinear learnability estimator, orders 1..12.
#: Values as published in NNI (``nni/algorithms/feature_engineering/gradient_selector/constants.py``,
#: ``Coefficients.SLE``, MIT licence), "computed running the sublinear paper's authors' code"
#: (Kong & Valiant 2018); how they were fitted is not documented there.
SLE_COEFFICIENTS: dict[int, tuple[float, ...]] = {
    1: (0.60355337,),
    2: (1.52705001, -0.34841729),
    3: (2.90254224, -1.87216745, 0.0),
    4: (4.63445685, -5.19936195, 0.0, 1.50391676),
    5: (6.92948049, -14.12216211, 9.4475009, 0.0, -1.21093546),
    6: (9.54431082, -28.09414643, 31.84703652, -11.18763791, -1.14175281, 0.0),
    7: (12.54505041, -49.64891525, 79.78828031, -46.72250909, 0.0, 0.0, 5.02973646),
    8: (16.03550163, -84.286182, 196.86078756, -215.36747071, 92.63961263, 0.0, 0.0, -4.86280869),
    9: (19.86409184, -130.76801006, 390.95349861, -570.09210416, 354.77764899, 0.0, -73.84234865, 0.0,
        10.09148767),
    10: (24.1117752, -194.946061, 734.214614, -1428.51995, 1415.67410, -581.738134, 0.0, 0.0, 31.1664751,
         1.05018365),
    11: (28.75280839, -279.22576729, 1280.46325445, -3104.47148101, 3990.6092248, -2300.29413333, 0.0,
         427.35289033, 0.0, 0.0, -42.17587475),
    12: (33.85141912, -391.4229382, 2184.97827882, -6716.28280208, 11879.75233977, -11739.97267239,
         5384.94542245, 0.0, -674.23291712, 0.0, 0.0, 39.37456439),
}


def chain_scales(n: int, order: int) -> np.ndarray:
    """float64 factors n^(k+1) / binom(n, k+2), k < order, that turn scaled chain products into T_k."""
    k = np.arange(order)
    log_binom = np.array([math.lgamma(n + 1) - math.lgamma(kk + 3) - math.lgamma(n - kk - 1) for kk in k])
    return np.exp((k + 1) * math.log(n) - log_binom)


def _right(X: torch.Tensor, W: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """(G_s r) / n with G_s = triu(X diag(s) X^T, 1) and W = X * s; O(nD), no n x n."""
    # (G r)_i = W_i . sum_{j>i} X_j r_j = W_i . (total - prefix_i)
    cs = torch.cumsum(X * r.unsqueeze(1), dim=0)  # (n, D) inclusive prefix sums
    out = W @ cs[-1] - torch.linalg.vecdot(W, cs)
    return out / X.shape[0]


def _left(X: torch.Tensor, W: torch.Tensor, q: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """(G_s^T l) / n; q_j = x_j^T diag(s) x_j removes the diagonal from the inclusive prefix sums."""
    cs = torch.cumsum(X * l.unsqueeze(1), dim=0)
    out = torch.linalg.vecdot(W, cs) - q * l
    return out / X.shape[0]


def learnability_terms(X: torch.Tensor, y: torch.Tensor, s: torch.Tensor | None, order: int) -> torch.Tensor:
    """Return (T_0, ..., T_{order-1}) for one batch; differentiable in ``s``.

    ``X`` (n, D) and ``y`` (n,) are tensors already preprocessed, ``s`` (D,)
    the feature weights (``None`` = all ones). Needs n >= order + 1 so that
    every chain of order + 1 distinct indices exists.
    """
    n = X.shape[0]
    if n < order + 1:
        raise NotEnoughSamplesError(
            f"learnability: a batch of {n} sample(s) is too small for order={order}; "
            f"each T_k needs chains of k+2 distinct samples, so pass at least {order + 1} rows per batch."
        )
    W = X if s is None else X * s
    q = torch.linalg.vecdot(W, X)
    scale = torch.as_tensor(chain_scales(n, order), dtype=X.dtype, device=X.device)
    l = y
    r = y
    out = []
    for i in range(order):
        if i % 2 == 0:
            r = _right(X, W, r)
        else:
            l = _left(X, W, q, l)
        out.append(torch.dot(l, r) * scale[i])
    return torch.stack(out)


def learnability(
    X,
    y,
    *,
    s=None,
    order: int = 4,
    coefficients=None,
    dtype: torch.dtype = torch.float64,
) -> float:
    """Sublinear learnability estimate sum_k c_k T_k of (X, y) on X as given (no preprocessing).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features, used as given (Feature Gradients z-scores them and divides by
        the top singular value of X / sqrt(n) first).
    y : array-like of shape (n_samples,)
        Target (centred and scaled for regression, +-1 for classes).
    s : array-like of shape (n_features,), optional
        Feature weights of the kernel x_i^T diag(s) x_j; default all ones.
    order : int, default=4
        Number of terms, 1..12.
    coefficients : sequence of float, optional
        c_0..c_{order-1}; default :data:`SLE_COEFFICIENTS` ``[order]``.
    dtype : torch.dtype, default=torch.float64
        Computation precision.

    Returns
    -------
    float
        sum_k c_k T_k; for a target of unit second moment it estimates the
        fraction of its variance a linear model of X explains.
    """
    from .._validation import as_2d, as_tensor, check_same_n

    Xt = as_2d(X, name="X", caller="learnability", dtype=dtype)
    yt = as_tensor(y, name="y", caller="learnability").to(dtype=dtype, device=Xt.device).reshape(-1)
    check_same_n(Xt, yt, names=("X", "y"), caller="learnability")
    if not (isinstance(order, (int, np.integer)) and 1 <= order <= 12):
        raise FeatcorrError(f"learnability: order={order!r} must be an integer between 1 and 12.")
    coef = SLE_COEFFICIENTS[int(order)] if coefficients is None else tuple(coefficients)
    if len(coef) != order:
        raise ShapeError(f"learnability: {len(coef)} coefficient(s) given for order={order}; pass exactly {order}.")
    st = None
    if s is not None:
        st = as_tensor(s, name="s", caller="learnability").to(dtype=dtype, device=Xt.device).reshape(-1)
        if st.shape[0] != Xt.shape[1]:
            raise ShapeError(f"learnability: s has {st.shape[0]} entries but X has {Xt.shape[1]} features.")
    T = learnability_terms(Xt, yt, st, int(order))
    return float(torch.dot(T, torch.as_tensor(coef, dtype=T.dtype, device=T.device)))


class BatchWorkspace:
    """Value and gradient of z(s) = sum_k a_k T_k(s) on batches of one shape, blocked over rows.

    Rows are cut into blocks of ``block`` rows (zero-padded at the end). A
    product G_s r splits into the part inside each block, from the block's
    own (block x block) Gram triu(X_A diag(s) X_A^T, 1) (computed once per
    batch), and the part across blocks, X_A diag(s) (reverse cumulative sum
    over blocks of X_B^T r_B). The right chain v_t = G^t y and the left
    chain u_t = (G^T)^t y advance together, so each chain step is two
    batched passes over the batch with two vectors each, laid out as rows
    ((nb, 2, b) x (nb, b, D)) -- the layout that runs as fast as a plain
    matrix-vector product on CPU. The cost is O(n D (block + order)) time and
    O(n (D + block)) memory, never n x n. The gradient is written out by hand
    (no autograd): d/ds_d y^T G^m y = sum_t u_t^T triu(x_d x_d^T, 1) v_{m-1-t},
    summed over k with the coefficients folded in.

    Tested against autograd through :func:`learnability_terms` (itself tested
    against brute-force chain enumeration) in tests/select/test_feature_gradients.py.
    """

    def __init__(self, n: int, D: int, order: int, coef, *, dtype: torch.dtype, device: torch.device,
                 block: int = 16) -> None:
        self.n, self.D, self.order = n, D, order
        self.b = max(1, min(block, n))
        self.nb = -(-n // self.b)
        self.alpha = torch.as_tensor(np.asarray(coef, dtype=np.float64) * chain_scales(n, order), dtype=dtype,
                                     device=device)
        self._alpha = [float(a) for a in self.alpha]
        kw = {"dtype": dtype, "device": device}
        self.Xp = torch.zeros(self.nb * self.b, D, **kw)  # padded batch
        self.Wp = torch.zeros(self.nb * self.b, D, **kw)  # X * s
        self.X3 = self.Xp.view(self.nb, self.b, D)
        self.W3 = self.Wp.view(self.nb, self.b, D)
        self.upper = torch.ones(self.b, self.b, dtype=dtype, device=device).triu(1)
        # preallocated work buffers: a fresh (n, D) tensor per step costs more in page faults than its GEMM
        self.Ku = torch.empty(self.nb, self.b, self.b, **kw)
        self.KuT = self.Ku.transpose(1, 2)
        self.G3 = torch.empty(self.nb, self.b, D, **kw)
        self.bs = torch.empty(self.nb, 2 * order, D, **kw)
        self.P = torch.empty(self.nb, order, D, **kw)
        self.bs_c = {c: torch.empty(self.nb, c, D, **kw) for c in (1, 2)}
        self.C_c = {c: torch.empty(self.nb, c, D, **kw) for c in (1, 2)}
        self.S_c = {c: torch.empty(self.nb, c, D, **kw) for c in (1, 2)}

    @property
    def batch(self) -> torch.Tensor:
        """The (n, D) view of the batch buffer: write a batch here and :meth:`set_batch` skips its copy."""
        return self.Xp[: self.n]

    def set_batch(self, X: torch.Tensor, s: torch.Tensor) -> None:
        """Fix the batch X (n, D) and the weights s (D,)."""
        if X.data_ptr() != self.Xp.data_ptr() or X.stride() != self.Xp.stride():
            self.Xp[: self.n].copy_(X)
        torch.mul(self.Xp, s, out=self.Wp)
        torch.bmm(self.W3, self.X3.transpose(1, 2), out=self.Ku)  # (nb, b, b): W_i . X_j within each block
        self.Ku.mul_(self.upper)  # strictly upper part (i < j)

    def _rows(self, r: torch.Tensor) -> torch.Tensor:
        """(n,) or (c, n) -> (nb, c, b), zero-padded."""
        r = r.reshape(-1, r.shape[-1])
        c = r.shape[0]
        if r.shape[1] != self.nb * self.b:
            r = torch.cat([r, r.new_zeros(c, self.nb * self.b - r.shape[1])], 1)
        return r.view(c, self.nb, self.b).transpose(0, 1)

    def _unrows(self, r3: torch.Tensor) -> torch.Tensor:
        """(nb, c, b) -> (c, n)."""
        return r3.transpose(0, 1).reshape(r3.shape[1], -1)[:, : self.n]

    def _step(self, v: torch.Tensor | None, u: torch.Tensor | None) -> tuple:
        """One chain step: (G v / n, G^T u / n) for whichever of v, u is given."""
        vecs = [t for t in (v, u) if t is not None]
        c = len(vecs)
        r3 = self._rows(torch.stack(vecs))  # (nb, c, b)
        bs, C, S = self.bs_c[c], self.C_c[c], self.S_c[c]
        torch.bmm(r3, self.X3, out=bs)  # (nb, c, D): X_A^T r_A per block
        torch.cumsum(bs, 0, out=C)  # inclusive prefix sums over blocks
        i = 0
        inside = []
        if v is not None:  # right chain: blocks after A, total - inclusive prefix
            torch.sub(C[-1, 0], C[:, 0], out=S[:, 0])
            inside.append(torch.bmm(r3[:, :1], self.KuT))  # (G_A v_A)^T = v_A^T K_A^T
            i = 1
        if u is not None:  # left chain: blocks before A, inclusive prefix - own block
            torch.sub(C[:, i], bs[:, i], out=S[:, i])
            inside.append(torch.bmm(r3[:, i : i + 1], self.Ku))
        inner = inside[0] if c == 1 else torch.cat(inside, 1)
        out = torch.baddbmm(inner, S, self.W3.transpose(1, 2))  # (nb, c, b)
        res = list(self._unrows(out) / self.n)
        return (res.pop(0) if v is not None else None), (res.pop(0) if u is not None else None)

    def value_and_grad(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return z = sum_k a_k T_k (0-d) and dz/ds (D,) for target y (n,)."""
        K = self.order
        a = self._alpha
        v = [y]
        u = [y]
        n_right = max(K - 1, 1)
        n_left = K - 1
        for t in range(n_right):
            nv, nu = self._step(v[-1], u[-1] if t < n_left else None)
            v.append(nv)
            if nu is not None:
                u.append(nu)
        z = y.new_zeros(())
        for i in range(K):
            b = min(i + 1, len(v) - 1)
            z = z + a[i] * torch.dot(u[i + 1 - b], v[b])
        # w_t = sum_m alpha_{t+m} v_m ; gradient = sum_t sum_{i<j} u_ti w_tj X_i * X_j (elementwise over d)
        U = torch.stack(u[:K])  # (K, n)
        Wt = torch.stack([sum(a[t + m] * v[m] for m in range(K - t)) for t in range(K)])  # (K, n)
        UW3 = self._rows(torch.cat([U, Wt]))  # (nb, 2K, b)
        U3, W3t = UW3[:, :K], UW3[:, K:]
        # within blocks: M_A = triu(U_A^T W_A, 1) (b x b); sum_i X_id (M_A X_A)_id
        M = torch.bmm(U3.transpose(1, 2), W3t).mul_(self.upper)
        grad = torch.bmm(M, self.X3, out=self.G3).mul_(self.X3).sum((0, 1))
        # across blocks: sum_{A<B} (X_A^T u_A) (X_B^T w_B), per t
        bs = torch.bmm(UW3, self.X3, out=self.bs)  # (nb, 2K, D)
        bu, bw = bs[:, :K], bs[:, K:]
        prefix_u = torch.cumsum(bu, 0, out=self.P).sub_(bu)  # exclusive: blocks before
        grad += prefix_u.mul_(bw).sum((0, 1))
        return z, grad / self.n
