"""Per-batch unbiased HSIC terms of every pair of feature blocks, summed over batches.

``MinibatchHSIC`` computes, for each incoming batch of m rows, the unbiased
HSIC estimate (Song et al. 2012, eq. 5) between every pair of blocks
(layers), linear or RBF kernel, and adds them to a float64 (L x L) sum with
the batch count. Minibatch CKA (Nguyen, Raghu & Kornblith 2021) is the ratio
of the averaged terms. Merging is a sum, hence exact.

Per batch, for the linear kernel: each block is centred on its batch mean
(unbiased linear HSIC is exactly invariant to a mean shift, so this only
protects digits) into a buffer reused batch after batch, and all pair
traces tr(K~_a K~_b) come from the cheaper of two exact routes
(:mod:`._linear_traces`): the m x m Grams by BLAS ?syrk (half a GEMM's
flops) and ONE product of the stacked, flattened Grams, or, when the total
width P is below about m, the feature-space identity
tr(K_a K_b) = ||X_a^T X_b||_F^2 from one P x P ?syrk. The row sums of K~ need
no n x n pass: with centred X they are -||x_i||^2, read off the Gram diagonal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import (
    ConstantFeatureError,
    NonFiniteError,
    EmptyStatisticError,
    NotEnoughSamplesError,
    ShapeError,
    StatisticMismatchError,
    UnknownLayerError,
    UnknownOptionError,
    close_matches_hint,
)
from ._base import Statistic, _freeze, normalize_batch
from ._linear_traces import choose_route, feature_space_traces, hollow_gram_traces, uses_blas
from ._moments import normalize_pairs

__all__ = ["MinibatchHSIC", "MinibatchHSICSnapshot", "MIN_BATCH_ROWS"]

#: Fewest rows a batch needs for the unbiased HSIC estimator (its 1/(m(m-3)) factor).
MIN_BATCH_ROWS = 4

_KERNELS = ("linear", "rbf")
_GEMM_DTYPES = ("float64", "float32", "bfloat16")
_NP_DTYPES = {torch.float64: np.float64, torch.float32: np.float32}
_TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}


class MinibatchHSIC(Statistic):
    """Sums over batches of the unbiased HSIC of every pair of blocks (linear or RBF kernel).

    Parameters
    ----------
    kernel : {"linear", "rbf"}, default="linear"
        Kernel of the Gram matrices. RBF: K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2)).
    pairs : "all", "self", ("cross", names_a, names_b) or iterable of (name_a, name_b), default="all"
        Block pairs the caller will read. Every pair of blocks is computed
        anyway: all pairs come from one (L x m^2) x (m^2 x L) product (or one
        P x P cross-product) whose cost is small next to the Grams. Names are
        checked against the first batch.
    bandwidth : float or mapping {block: float}, optional
        RBF only: sigma of each block's kernel, fixed for the whole stream
        (each batch would otherwise use a different kernel, and the averaged
        terms would not estimate one HSIC). Default ``None``: set from the
        *first* batch by Kornblith's convention, sigma^2 = threshold^2 x the
        median of that batch's full m x m matrix of squared distances
        (zeros included). Shards merged later must use the same bandwidths:
        pass them explicitly (e.g. from a :class:`Reservoir` sample).
    threshold : float, default=1.0
        RBF only: fraction of the median distance used when ``bandwidth`` is None.
    batch_size : int, optional
        When set, each ``update`` is split into consecutive chunks of this many
        rows, each one HSIC batch (the array entry points use this). Default:
        every ``update`` is one batch.
    blocks : sequence of str, optional
        Accumulate only these blocks of each batch.
    gemm_dtype : {"float64", "float32", "bfloat16"}, default="float64"
        Precision of the Gram (or cross-) products of the *centred* batch; the
        inner products of the Grams are float32 or better and the sums over
        batches always float64. Measured in bench/results/minibatch_cka.md
        (one core, batches of 500, HSIC work only): ``"float64"`` 0.8x the
        speed of pytorch-cka's float32 Grams; ``"float32"`` about 2x faster
        than float64 (1.7-1.8x pytorch-cka), CKA within 3e-8 to 3e-6 of
        float64; ``"bfloat16"`` (linear kernel only; inputs and Gram entries
        rounded to 8-bit mantissas, fast on CPUs with AVX512-BF16/AMX) 3-3.6x
        pytorch-cka, CKA within ~1e-5.

    Notes
    -----
    Unbiased HSIC of one batch of m rows, with K~ and L~ the Grams with zeroed
    diagonals (Song et al. 2012, eq. 5):

    HSIC_u = [tr(K~ L~) + (1'K~1)(1'L~1) / ((m-1)(m-2)) - 2/(m-2) 1'K~L~1] / (m(m-3)).

    Batches with fewer than 4 rows have no unbiased estimate: they are
    *skipped* and counted (``n_skipped_batches``, ``n_skipped_rows`` in the
    snapshot), so a loader whose last batch has 1-3 rows still works; use
    ``drop_last=True`` to avoid them. Unequal batches: every usable batch's
    term is unbiased whatever its size, and each batch counts once in the
    average (as in Nguyen et al. and pytorch-cka); a smaller last batch only
    adds variance.

    References
    ----------
    .. [1] Song, Smola, Gretton, Bedo, Borgwardt, "Feature Selection via
       Dependence Maximization", JMLR 13, 2012 (eq. 5).
    .. [2] Nguyen, Raghu, Kornblith, "Do Wide and Deep Networks Learn the Same
       Things?", ICLR 2021, arXiv:2010.15327.

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.stats import MinibatchHSIC
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 5))
    >>> s = MinibatchHSIC(batch_size=25).update({"x": X, "y": X @ rng.normal(size=(5, 3))}).finalize()
    >>> s.n_batches, s.hsic("x", "y") > 0
    (4, True)
    """

    kind = "minibatch_hsic"

    def __init__(
        self,
        kernel: str = "linear",
        *,
        pairs: Any = "all",
        bandwidth: float | Mapping[str, float] | None = None,
        threshold: float = 1.0,
        batch_size: int | None = None,
        blocks: Sequence[str] | None = None,
        gemm_dtype: str = "float64",
    ) -> None:
        if kernel not in _KERNELS:
            raise UnknownOptionError(f"MinibatchHSIC: kernel={kernel!r} is not supported; choose one of {_KERNELS}.")
        if gemm_dtype not in _GEMM_DTYPES:
            raise UnknownOptionError(
                f"MinibatchHSIC: gemm_dtype={gemm_dtype!r} is not supported; choose one of {_GEMM_DTYPES}."
            )
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < MIN_BATCH_ROWS
        ):
            raise UnknownOptionError(
                f"MinibatchHSIC: batch_size must be an int >= {MIN_BATCH_ROWS} (unbiased HSIC needs 4 rows), "
                f"got {batch_size!r}."
            )
        if not (isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and threshold > 0):
            raise UnknownOptionError(f"MinibatchHSIC: threshold must be a positive number, got {threshold!r}.")
        if kernel == "rbf" and gemm_dtype == "bfloat16":
            raise UnknownOptionError(
                "MinibatchHSIC: gemm_dtype='bfloat16' is for the linear kernel only (RBF Grams need accurate "
                "distances); use 'float32' or 'float64'."
            )
        if kernel == "linear" and bandwidth is not None:
            raise UnknownOptionError(
                "MinibatchHSIC: bandwidth is an RBF option but kernel='linear'; drop bandwidth or use kernel='rbf'."
            )
        self.kernel = kernel
        self.pairs = normalize_pairs(pairs, "MinibatchHSIC")
        self.bandwidth = _check_bandwidth(bandwidth)
        self.threshold = float(threshold)
        self.batch_size = batch_size
        self.only = None if blocks is None else tuple(str(b) for b in blocks)
        self.gemm_dtype = gemm_dtype
        self._reset()

    def _reset(self) -> None:
        self.widths: dict[str, int] = {}
        self.sigma: dict[str, float] = {}  # RBF bandwidth (sigma) per block, fixed for the stream
        self.H: torch.Tensor | None = None  # (L, L) float64 sum over batches of HSIC_u
        self.ss: torch.Tensor | None = None  # (L,) float64 sum of centred squares (detects constant blocks)
        self.n_batches = 0
        self.n_rows = 0
        self.n_skipped_batches = 0
        self.n_skipped_rows = 0
        self._workspace: dict[str, Any] = {}  # reused Gram buffer (not state: never saved or merged)

    def config(self) -> dict[str, Any]:
        bw = self.bandwidth if not isinstance(self.bandwidth, dict) else sorted(self.bandwidth.items())
        return {
            "kernel": self.kernel,
            "pairs": self.pairs,
            "bandwidth": bw,
            "threshold": self.threshold,
            "batch_size": self.batch_size,
            "blocks": self.only,
            "gemm_dtype": self.gemm_dtype,
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> MinibatchHSIC:
        if state.get("class") != cls.__name__:
            raise StatisticMismatchError(
                f"{cls.__name__}.from_state_dict: the state belongs to {state.get('class')!r}, not {cls.__name__}."
            )
        cfg = dict(state["config"])
        if isinstance(cfg.get("bandwidth"), (list, tuple)):
            cfg["bandwidth"] = dict(cfg["bandwidth"])
        return cls(**cfg).load_state_dict(state)

    def __setstate__(self, state: dict[str, Any]) -> None:
        other = type(self).from_state_dict(state)
        self.__dict__.update(other.__dict__)

    @property
    def blocks(self) -> list[str]:
        """Block names in accumulation order (empty before the first update)."""
        return list(self.widths)

    # ----------------------------------------------------------------- update
    def update(self, batch: Any = None, /, **blocks: Any) -> MinibatchHSIC:
        """Add one batch (or, with ``batch_size``, consecutive chunks of it): ``{name: (m, p) array}``."""
        data = _fast_blocks(batch, blocks)
        if data is None:  # anything but 2-D floating torch tensors of one n: the shared validation path
            data = normalize_batch(batch, blocks, caller="MinibatchHSIC.update")
        if self.only is not None:
            missing = [b for b in self.only if b not in data]
            if missing:
                raise ShapeError(
                    f"MinibatchHSIC.update: the batch lacks block(s) {missing} this statistic accumulates "
                    f"(batch blocks: {list(data)})."
                )
            data = {b: data[b] for b in self.only}
        widths = {k: int(v.shape[1]) for k, v in data.items()}
        if not self.widths:
            self._setup(widths, next(iter(data.values())).device)
        elif widths != self.widths:
            self._raise_block_mismatch(widths)
        n = next(iter(data.values())).shape[0]
        step = self.batch_size or n
        for lo in range(0, n, step):
            self._one_batch({k: v[lo : lo + step] for k, v in data.items()})
        return self

    def _setup(self, widths: Mapping[str, int], device: torch.device) -> None:
        names = list(widths)
        wanted = _pair_names(self.pairs)
        unknown = sorted(x for x in wanted if x not in widths)
        if unknown:
            raise UnknownLayerError(
                f"MinibatchHSIC: pairs name block(s) {unknown} that the batch does not carry (blocks: {names})."
            )
        if isinstance(self.bandwidth, dict):
            lacking = [b for b in names if b not in self.bandwidth]
            if lacking:
                raise UnknownOptionError(
                    f"MinibatchHSIC: bandwidth gives no value for block(s) {lacking}; pass one float for all "
                    "blocks or a value for every block."
                )
        self.widths = dict(widths)
        L = len(names)
        with torch.inference_mode(False):  # normal tensors: updates may come inside and outside inference_mode
            self.H = torch.zeros(L, L, dtype=torch.float64, device=device)
            self.ss = torch.zeros(L, dtype=torch.float64, device=device)

    def _raise_block_mismatch(self, widths: Mapping[str, int]) -> None:
        missing = [b for b in self.widths if b not in widths]
        extra = [b for b in widths if b not in self.widths]
        changed = {b: (self.widths[b], widths[b]) for b in widths if b in self.widths and self.widths[b] != widths[b]}
        raise ShapeError(
            "MinibatchHSIC.update: this batch's blocks differ from the first batch's: "
            + (f"missing {missing}; " if missing else "")
            + (f"unexpected {extra}; " if extra else "")
            + (f"feature counts changed {changed} (before, now); " if changed else "")
            + "every batch must carry the same blocks with the same number of features."
        )

    def _one_batch(self, data: Mapping[str, torch.Tensor]) -> None:
        m = next(iter(data.values())).shape[0]
        if m < MIN_BATCH_ROWS:
            self.n_skipped_batches += 1
            self.n_skipped_rows += m
            return
        dev = self.H.device
        names = list(self.widths)
        L = len(names)
        d = torch.empty(L, m, dtype=torch.float64, device=dev)  # ||x_i - mean||^2 per block
        gram_dtype = _TORCH_DTYPES[self.gemm_dtype]
        route = choose_route(m, list(self.widths.values()), gram_dtype) if self.kernel == "linear" else "rbf"
        # BLAS ?syrk Grams carry the squared row norms on their diagonal: read them there, not in another pass
        norms_from_gram = route == "gram" and uses_blas(dev, gram_dtype)
        centred = []
        for i, name in enumerate(names):
            x = data[name]
            # float64 Grams, or float64 input: centre in float64. Else float32: any shift is exact for unbiased
            # linear HSIC, so the float32 mean only has to remove the offset, not be exact.
            wide = self.gemm_dtype == "float64" or x.dtype == torch.float64
            x = self._centred(name, x, torch.float64 if wide else torch.float32, dev)
            if not norms_from_gram:
                d[i] = torch.linalg.vecdot(x, x)
            if x.dtype != gram_dtype:
                x = x.to(gram_dtype)
            centred.append(x)
        if route == "features":
            tr = feature_space_traces(centred, d)  # (L, L) tr(K~_a K~_b) from X_a^T X_b
        elif route == "gram":
            tr = hollow_gram_traces(centred, self._workspace, diagonals=d if norms_from_gram else None)
            tr = tr.to(torch.float64)
        if not bool(torch.isfinite(d).all()):  # NaN/inf anywhere in a row makes its squared norm non-finite
            bad = [names[i] for i in range(L) if not bool(torch.isfinite(d[i]).all())]
            self._workspace.clear()  # buffers may hold NaN: start clean
            raise NonFiniteError(
                f"MinibatchHSIC.update: block(s) {bad} contain NaN or inf (or values too large to square in "
                f"{self.gemm_dtype}); remove or impute those samples first."
            )
        if route == "rbf":
            if not self.sigma:
                self._set_bandwidths(names, centred, d)
            tr, r = self._rbf_terms(names, centred, d)
        else:
            r = -d  # row sums of K~ for centred X: K 1 = 0, minus the diagonal
        self.ss += d.sum(dim=1)
        s = r.sum(dim=1)  # (L,) totals 1'K~1
        num = tr + torch.outer(s, s) / ((m - 1) * (m - 2)) - (2.0 / (m - 2)) * (r @ r.T)
        self.H += num / (m * (m - 3))
        self.n_batches += 1
        self.n_rows += m

    def _centred(self, name: str, x: torch.Tensor, dtype: torch.dtype, dev: torch.device) -> torch.Tensor:
        """``x - mean(x)`` in ``dtype``; on the CPU written into a buffer reused batch after batch (no page faults)."""
        if dev.type != "cpu" or x.device.type != "cpu":
            x = x.to(device=dev, dtype=dtype)
            return x - x.mean(dim=0)
        key = ("centred", name)
        buf = self._workspace.get(key)
        if buf is None or buf.shape != tuple(x.shape) or buf.dtype != _NP_DTYPES[dtype]:
            buf = np.empty(tuple(x.shape), dtype=_NP_DTYPES[dtype])
            self._workspace[key] = buf
        out = torch.from_numpy(buf)  # a fresh view each batch: no torch inference-mode flag sticks to the buffer
        out.copy_(x)
        return out.sub_(out.mean(dim=0))

    def _set_bandwidths(self, names: list[str], centred: list[torch.Tensor], d: torch.Tensor) -> None:
        if self.bandwidth is not None:
            bw = self.bandwidth
            self.sigma = {b: float(bw[b] if isinstance(bw, dict) else bw) for b in names}
            return
        for i, name in enumerate(names):
            x = centred[i].to(torch.float64)
            sq = (d[i][:, None] + d[i][None, :] - 2.0 * (x @ x.T)).clamp_(min=0.0)
            sq.fill_diagonal_(0.0)
            med = _median(sq.flatten())  # Kornblith: full matrix, zeros included, numpy's median
            if not med > 0:
                raise ConstantFeatureError(
                    f"MinibatchHSIC: the median squared distance of block {name!r} in the first batch is 0 (more "
                    "than half of its row pairs coincide, e.g. a constant or mostly dead layer), so the RBF "
                    "bandwidth cannot be set from it; pass bandwidth= explicitly."
                )
            self.sigma[name] = self.threshold * math.sqrt(med)

    def _rbf_terms(
        self, names: list[str], centred: list[torch.Tensor], d: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        m = d.shape[1]
        L = len(names)
        G = torch.empty(L, m, m, dtype=centred[0].dtype, device=d.device)
        for i, name in enumerate(names):
            x = centred[i]
            di = d[i].to(x.dtype)
            torch.mm(x, x.T, out=G[i])
            G[i].mul_(-2.0).add_(di[:, None]).add_(di[None, :]).clamp_(min=0.0)  # squared distances
            G[i].mul_(-1.0 / (2.0 * self.sigma[name] ** 2)).exp_()
            G[i].fill_diagonal_(0.0)  # hollow: zero the diagonal in place (never K - torch.diag(K))
        flat = G.reshape(L, m * m)
        tr = (flat @ flat.T).to(torch.float64)
        r = G.sum(dim=2, dtype=torch.float64)
        return tr, r

    # ------------------------------------------------------------------ merge
    def merge(self, other: MinibatchHSIC) -> MinibatchHSIC:
        """Add another statistic's sums (same options, blocks and bandwidths): exact."""
        self._check_mergeable(other)
        if other.n_batches == 0 and other.n_skipped_batches == 0:
            return self
        if not self.widths:
            return self.load_state_dict(other.state_dict())
        self._check_same_blocks(other)
        if self.kernel == "rbf" and self.sigma and other.sigma and self.sigma != other.sigma:
            raise StatisticMismatchError(
                f"MinibatchHSIC.merge: the shards used different RBF bandwidths ({self.sigma} vs {other.sigma}): "
                "each set them from its own first batch. Pass bandwidth= explicitly (one value per block) to "
                "every shard."
            )
        if other.H is not None:
            self.H += other.H.to(self.H.device)
            self.ss += other.ss.to(self.ss.device)
        if not self.sigma:
            self.sigma = dict(other.sigma)
        self.n_batches += other.n_batches
        self.n_rows += other.n_rows
        self.n_skipped_batches += other.n_skipped_batches
        self.n_skipped_rows += other.n_skipped_rows
        return self

    # --------------------------------------------------------------- finalize
    def finalize(self) -> MinibatchHSICSnapshot:
        """Frozen snapshot of the mean HSIC terms; raises when no batch of >= 4 rows was seen."""
        if self.n_batches == 0:
            extra = (
                f" {self.n_skipped_batches} batch(es) with {self.n_skipped_rows} row(s) in total were skipped "
                f"because each had fewer than {MIN_BATCH_ROWS} rows."
                if self.n_skipped_batches
                else ""
            )
            raise (NotEnoughSamplesError if self.n_skipped_batches else EmptyStatisticError)(
                "MinibatchHSIC.finalize: no batch with at least 4 rows was accumulated, so there is no unbiased "
                f"HSIC estimate.{extra} Use batches of at least 4 rows (e.g. batch_size=256)."
            )
        return MinibatchHSICSnapshot(
            kernel=self.kernel,
            widths=dict(self.widths),
            sigma=dict(self.sigma),
            H_=self.H / self.n_batches,
            ss_=self.ss.clone(),
            n_batches=self.n_batches,
            n_rows=self.n_rows,
            n_skipped_batches=self.n_skipped_batches,
            n_skipped_rows=self.n_skipped_rows,
        )

    # ------------------------------------------------------------ state dict
    def state_dict(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            "config": self.config(),
            "widths": list(self.widths.items()),
            "sigma": sorted(self.sigma.items()),
            "H": None if self.H is None else self.H.clone(),
            "ss": None if self.ss is None else self.ss.clone(),
            "counts": [self.n_batches, self.n_rows, self.n_skipped_batches, self.n_skipped_rows],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> MinibatchHSIC:
        if state.get("class") != type(self).__name__ or _freeze(state.get("config")) != _freeze(self.config()):
            raise StatisticMismatchError(
                f"MinibatchHSIC.load_state_dict: the state was saved with {state.get('class')} "
                f"{state.get('config')}, not this statistic's {self.config()}."
            )
        self._reset()
        self.widths = {str(k): int(v) for k, v in state["widths"]}
        self.sigma = {str(k): float(v) for k, v in state["sigma"]}
        if state["H"] is not None:
            with torch.inference_mode(False):
                self.H = torch.as_tensor(state["H"], dtype=torch.float64).clone()
                self.ss = torch.as_tensor(state["ss"], dtype=torch.float64).clone()
        self.n_batches, self.n_rows, self.n_skipped_batches, self.n_skipped_rows = (int(c) for c in state["counts"])
        return self

    def __repr__(self) -> str:
        return f"MinibatchHSIC(kernel={self.kernel!r}, n_batches={self.n_batches}, blocks={self.widths})"


@dataclass(frozen=True, eq=False)
class MinibatchHSICSnapshot:
    """Frozen result of :class:`MinibatchHSIC`: mean unbiased HSIC of every block pair.

    Attributes
    ----------
    n_batches, n_rows : int
        Batches (of >= 4 rows) and rows used.
    n_skipped_batches, n_skipped_rows : int
        Batches of 1-3 rows left out (no unbiased estimate exists for them).
    sigma : dict
        RBF bandwidth (sigma) used for each block; empty for the linear kernel.
    """

    kernel: str
    widths: dict[str, int]
    sigma: dict[str, float]
    H_: torch.Tensor
    ss_: torch.Tensor
    n_batches: int
    n_rows: int
    n_skipped_batches: int
    n_skipped_rows: int

    @property
    def blocks(self) -> list[str]:
        """Block names in accumulation order."""
        return list(self.widths)

    def _i(self, name: str) -> int:
        if name not in self.widths:
            raise UnknownLayerError(
                f"no block named {name!r} in these HSIC terms (blocks: {list(self.widths)})."
                + close_matches_hint(name, self.widths)
            )
        return list(self.widths).index(name)

    def hsic(self, a: str, b: str) -> float:
        """Mean over batches of the unbiased HSIC of blocks ``a`` and ``b`` (can be negative)."""
        return float(self.H_[self._i(a), self._i(b)])

    def matrix(self) -> torch.Tensor:
        """(L, L) float64 mean HSIC terms, rows and columns in :attr:`blocks` order."""
        return self.H_.clone()

    def sum_of_squares(self, name: str) -> float:
        """Sum over used batches of the batch-centred squares of block ``name`` (0 iff constant in every batch)."""
        return float(self.ss_[self._i(name)])


# ---------------------------------------------------------------------------
def _fast_blocks(batch: Any, named: Mapping[str, Any]) -> dict[str, torch.Tensor] | None:
    """The batch as-is when it is a mapping of 2-D floating torch tensors with one n (hot path), else None.

    Finiteness is then checked on the per-row squared norms of the centred blocks,
    which are non-finite exactly when a row holds NaN or inf.
    """
    blocks = dict(batch) if isinstance(batch, Mapping) else ({} if batch is None else None)
    if blocks is None:
        return None
    blocks.update(named)
    if not blocks:
        return None
    n = None
    for t in blocks.values():
        if not (isinstance(t, torch.Tensor) and t.ndim == 2 and t.is_floating_point() and t.shape[1] > 0):
            return None
        if n is None:
            n = t.shape[0]
        elif t.shape[0] != n or n == 0:
            return None
    return {str(k): v.detach() for k, v in blocks.items()}


def _median(t: torch.Tensor) -> float:
    """Median as numpy defines it (mean of the two middle values for an even count)."""
    k = t.numel()
    hi = float(torch.kthvalue(t, k // 2 + 1).values)
    return hi if k % 2 else 0.5 * (hi + float(torch.kthvalue(t, k // 2).values))


def _pair_names(pairs: Any) -> set[str]:
    if isinstance(pairs, str):
        return set()
    if pairs and pairs[0] == "cross":
        return set(pairs[1]) | set(pairs[2])
    return {x for p in pairs for x in p}


def _check_bandwidth(bw: Any) -> Any:
    if bw is None:
        return None
    if isinstance(bw, Mapping):
        out = {}
        for k, v in bw.items():
            out[str(k)] = _positive(v, f"bandwidth[{k!r}]")
        return out
    return _positive(bw, "bandwidth")


def _positive(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise UnknownOptionError(
            f"MinibatchHSIC: {name} must be a positive finite number (the RBF sigma), got {v!r}."
        )
    return float(v)
