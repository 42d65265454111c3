"""Moments plus the fourth-order row-norm sums that make debiased linear CKA exact in one pass.

Unbiased linear HSIC of the full data needs, besides the centred
cross-products, Sum_i a_i b_i with a_i = ||x_i - mu_x||^2 (METHODS.md A3).
Expanding around a fixed shift c (the first batch's mean, so that no large
offset is squared), with u_i = x_i - c, alpha_i = ||u_i||^2 and d = mean(u):

    Sum a_i b_i = Q_xy - 2 e.W_xy - 2 d.W_yx + |e|^2 T_x + |d|^2 T_y + 4 d' S_xy e + n |d|^2 |e|^2

where T_x = Sum alpha_i, Q_xy = Sum alpha_i beta_i, W_xy = Sum alpha_i v_i (a
vector over y's features), S_xy the centred cross-product and e = mean(v).
Each of these sums is additive; merging shards with different shifts converts
the other shard's sums to this one's shift, which needs its cross-products,
hence one statistic that holds both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import UnknownLayerError, UnknownOptionError
from ._base import normalize_batch
from ._moments import Moments, MomentsSnapshot

__all__ = ["DebiasedMoments", "DebiasedMomentsSnapshot"]


class DebiasedMoments(Moments):
    """Moments plus row-norm sums for exact one-pass debiased (unbiased-HSIC) linear CKA.

    Parameters are those of :class:`Moments` (``pairs``, ``blocks``,
    ``max_features``, ``max_memory_gb``, ``gemm_dtype``; ``self_blocks`` must
    stay ``"full"``). Its snapshot is a :class:`MomentsSnapshot`, so it also
    serves a plain :class:`Moments` request with the same options
    (:meth:`Moments.serves`): linear and debiased CKA requested together
    accumulate one statistic.

    Notes
    -----
    Per batch of n rows and stacked width P over L blocks, besides the moments:
    the block row norms alpha (n x L) of the shifted rows, and the sums
    T = Sum alpha (L), m = Sum u (P), Q = alpha' alpha (L x L),
    W = alpha' U (L x P), at cost n L P. The shift is the first batch's mean
    (kept for the life of the statistic). ``merge`` moves the other shard's
    sums to this shard's shift exactly using its cross-products; for block
    pairs without cross-products (``pairs`` not covering them) the merged
    sums are not defined and the snapshot refuses them.

    References
    ----------
    .. [1] Song, Smola, Gretton, Bedo, Borgwardt, JMLR 13, 2012 (unbiased HSIC).
    .. [2] Kornblith, Norouzi, Lee, Hinton, ICML 2019, arXiv:1905.00414 (debiased CKA).
    """

    kind = "moments"

    def __init__(self, pairs: Any = "all", **options: Any) -> None:
        super().__init__(pairs, **options)
        if self.self_blocks != "full":
            raise UnknownOptionError(
                "DebiasedMoments: self_blocks must be 'full' (moving row-norm sums between shards needs each "
                f"block's p x p self cross-product), got {self.self_blocks!r}."
            )

    def _reset(self) -> None:
        super()._reset()
        self.shift: torch.Tensor | None = None  # (P,)
        self.T: torch.Tensor | None = None  # (L,)
        self.msum: torch.Tensor | None = None  # (P,)
        self.Q: torch.Tensor | None = None  # (L, L)
        self.W: torch.Tensor | None = None  # (L, P)

    def _norm_sums(self, U: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(T, m, Q, W) of shifted rows U (n, P)."""
        alpha = torch.stack(
            [torch.einsum("ij,ij->i", U[:, o : o + p], U[:, o : o + p]) for o, p in self._spans()], dim=1
        )  # (n, L)
        return alpha.sum(0), U.sum(0), alpha.T @ alpha, alpha.T @ U

    def _spans(self) -> list[tuple[int, int]]:
        return [(self._offsets[b], self.widths[b]) for b in self.widths]

    def update(self, batch: Any = None, /, **blocks: Any) -> DebiasedMoments:
        """Add one batch: a mapping ``{name: (n, p) array}``, keyword arrays or one array."""
        data = normalize_batch(batch, blocks, caller="DebiasedMoments.update")
        super().update(data)
        dev = self.mean.device
        X = torch.cat([data[b].to(device=dev, dtype=torch.float64) for b in self.widths], dim=1)
        if self.shift is None:
            self.shift = X.mean(dim=0)
            L, P = len(self.widths), X.shape[1]
            self.T = torch.zeros(L, dtype=torch.float64, device=dev)
            self.msum = torch.zeros(P, dtype=torch.float64, device=dev)
            self.Q = torch.zeros(L, L, dtype=torch.float64, device=dev)
            self.W = torch.zeros(L, P, dtype=torch.float64, device=dev)
        T, m, Q, W = self._norm_sums(X - self.shift)
        self.T += T
        self.msum += m
        self.Q += Q
        self.W += W
        return self

    def merge(self, other: DebiasedMoments) -> DebiasedMoments:
        """Fold another shard in exactly, converting its sums to this shard's shift."""
        self._check_mergeable(other)
        if other.n == 0:
            return self
        if self.n == 0:
            return self.load_state_dict(other.state_dict())
        self._check_same_blocks(other)
        dev = self.mean.device
        T, m, Q, W = _shifted_sums(other, self.shift, dev)
        super().merge(other)
        self.T += T
        self.msum += m
        self.Q += Q
        self.W += W
        return self

    def finalize(self) -> DebiasedMomentsSnapshot:
        """Frozen snapshot: the moments plus the row-norm sums; raises when n < 2."""
        base = super().finalize()
        return DebiasedMomentsSnapshot(
            **{f: getattr(base, f) for f in MomentsSnapshot.__dataclass_fields__},
            shift_=self.shift.clone(),
            T_=self.T.clone(),
            msum_=self.msum.clone(),
            Q_=self.Q.clone(),
            W_=self.W.clone(),
        )

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        for k in ("shift", "T", "msum", "Q", "W"):
            v = getattr(self, k)
            state[k] = None if v is None else v.clone()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> DebiasedMoments:
        super().load_state_dict(state)
        for k in ("shift", "T", "msum", "Q", "W"):
            v = state.get(k)
            setattr(self, k, None if v is None else torch.as_tensor(v, dtype=torch.float64).clone())
        return self

    def __repr__(self) -> str:
        return f"DebiasedMoments(n={self.n}, blocks={self.widths}, pairs={self.pairs!r})"


def _shifted_sums(
    st: DebiasedMoments, new_shift: torch.Tensor, dev: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(T, m, Q, W) of ``st`` re-expressed around ``new_shift`` (u' = u + h, h = old shift - new shift)."""
    snap = MomentsSnapshot(
        n=st.n, widths=st.widths, offsets=st._offsets, tiles=tuple(st._tiles), mean_=st.mean, S_=tuple(st._S)
    )
    n = st.n
    h = (st.shift.to(dev) - new_shift).to(torch.float64)
    T, m, Q, W = (t.to(dev) for t in (st.T, st.msum, st.Q, st.W))
    names = list(st.widths)
    spans = [(st._offsets[b], st.widths[b]) for b in names]
    mu = m / n  # mean of the shifted rows
    hb = [h[o : o + p] for o, p in spans]
    mb = [m[o : o + p] for o, p in spans]
    c = torch.stack([hh @ hh for hh in hb])  # ||h_a||^2
    hm = torch.stack([hh @ mm for hh, mm in zip(hb, mb)])  # h_a . m_a
    T2 = T + 2 * hm + n * c
    m2 = m + n * h
    Q2 = Q.clone()
    W2 = W + torch.outer(T, h) + 2 * torch.outer(hm, h) + torch.outer(c, m) + n * torch.outer(c, h)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            ob, pb = spans[j]
            if not snap.has_pair(a, b):
                continue
            # uncentred (shifted) cross-product sum_i u_a u_b^T = S_ab + n mu_a mu_b^T
            Sab = snap.comoment(a, b)
            mua, mub = mu[spans[i][0] : spans[i][0] + spans[i][1]], mu[ob : ob + pb]
            UbUa_ha = Sab.T @ hb[i] + n * mub * (mua @ hb[i])  # (sum u_b u_a^T) h_a, over b's features
            W2[i, ob : ob + pb] += 2 * UbUa_ha
            quad = hb[i] @ (Sab @ hb[j]) + n * (hb[i] @ mua) * (mub @ hb[j])  # h_a^T (sum u_a u_b^T) h_b
            Q2[i, j] = (
                Q[i, j]
                + 2 * (hb[j] @ W[i, ob : ob + pb])
                + c[j] * T[i]
                + 2 * (hb[i] @ W[j, spans[i][0] : spans[i][0] + spans[i][1]])
                + 4 * quad
                + 2 * c[j] * hm[i]
                + c[i] * T[j]
                + 2 * c[i] * hm[j]
                + n * c[i] * c[j]
            )
    return T2, m2, Q2, W2


@dataclass(frozen=True, eq=False)
class DebiasedMomentsSnapshot(MomentsSnapshot):
    """Frozen result of :class:`DebiasedMoments`: moments plus row-norm sums around a shift."""

    shift_: torch.Tensor
    T_: torch.Tensor
    msum_: torch.Tensor
    Q_: torch.Tensor
    W_: torch.Tensor

    def _span_of(self, name: str) -> slice:
        o = self.offsets[name]
        return slice(o, o + self.widths[name])

    def sum_sq_norms(self, name: str) -> float:
        """Sum_i ||x_i - mu||^2 of block ``name`` (trace of its centred self cross-product)."""
        return float(torch.diagonal(self.comoment(name, name)).sum())

    def sum_norm_products(self, a: str, b: str) -> float:
        """Sum_i ||x_i - mu_x||^2 ||y_i - mu_y||^2 for blocks ``a`` (x) and ``b`` (y), exact."""
        self._check(a)
        self._check(b)
        if not self.has_pair(a, b):
            raise UnknownLayerError(
                f"the pair ({a!r}, {b!r}) was not accumulated (DebiasedMoments(pairs=...) did not request it); "
                "accumulate with pairs='all' or list the pair."
            )
        names = list(self.widths)
        i, j = names.index(a), names.index(b)
        n = self.n
        sa, sb = self._span_of(a), self._span_of(b)
        d, e = self.msum_[sa] / n, self.msum_[sb] / n
        S = self.comoment(a, b)
        dd, ee = float(d @ d), float(e @ e)
        return float(
            self.Q_[i, j]
            - 2 * (e @ self.W_[i, sb])
            - 2 * (d @ self.W_[j, sa])
            + ee * self.T_[i]
            + dd * self.T_[j]
            + 4 * (d @ (S @ e))
            + n * dd * ee
        )
