"""Neuron-level similarity of Wu et al. (2020): maxcorr, mincorr, lincca, and neuron rankings.

For neuron i of model m and another model m', s_{m'}(i) = max_j |rho_ij| is
the largest absolute Pearson correlation of i with any neuron of m'. The
model-pair similarity is mean_i s_{m'}(i) for both maxcorr and mincorr; the
two differ only in how they *rank* the neurons of m against several other
models (max or min over m' of s_{m'}(i)), which :func:`neuron_ranking` gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .._validation import as_2d, check_option, check_same_n
from ..errors import ConstantFeatureError, FeatcorrError
from ..stats import Moments, MomentsSnapshot
from ._cca import DEFAULT_RTOL, _check_ranks, _check_rtol, block_spectrum, svcca_from
from ._common import moments_request
from ._correlation import unit_correlation_from
from ._registry import MeasureSpec, register

__all__ = ["maxcorr_from", "lincca_from", "neuron_scores_from", "neuron_ranking", "RANKING_METHODS"]

#: Neuron-ranking methods of Wu et al. (2020).
RANKING_METHODS = ("maxcorr", "mincorr", "maxlinreg", "minlinreg")


def maxcorr_from(snap: MomentsSnapshot, a: str, b: str, *, constant: str = "drop") -> float:
    """Mean over neurons i of block ``a`` of max_j |corr(a_i, b_j)| (Wu et al.'s maxcorr/mincorr pair score).

    Parameters
    ----------
    snap : MomentsSnapshot
        Moments holding the (a, b) block and the diagonals of (a, a) and
        (b, b) (``Moments(self_blocks="diagonal")`` suffices).
    a, b : str
        Block names: the neurons of ``a`` are scored against ``b``.
    constant : {"drop", "raise"}, default="drop"
        Zero-variance (dead) units have no correlation. ``"drop"`` leaves
        dead units of ``a`` out of the mean and dead units of ``b`` out of
        the candidates of the max (the reference,
        johnmwu/contextual-corr-analysis, returns NaN instead); ``"raise"``
        raises :class:`~featcorr.errors.ConstantFeatureError` naming them.
        A block whose units are all dead raises either way.

    Returns
    -------
    float in [0, 1]; asymmetric (averages over the neurons of ``a``).

    Notes
    -----
    Invariant to translation, per-unit scaling (positive or negative) and
    permutation of units; not to rotations. Tested against ``np.corrcoef``
    (tests/measures/test_neuron.py, 1e-12).

    References
    ----------
    .. [1] Wu, Belinkov, Sajjad, Durrani, Dalvi, Glass, "Similarity Analysis
       of Contextual Word Representation Models", ACL 2020, arXiv:2005.01172.
    """
    check_option(constant, ("drop", "raise"), name="constant", caller="maxcorr")
    try:
        R = unit_correlation_from(snap, a, b, constant="raise" if constant == "raise" else "nan").abs()
    except ConstantFeatureError as exc:
        msg = str(exc).split(". Pass constant=")[0].replace("unit_correlation: ", "")
        raise ConstantFeatureError(f"maxcorr: {msg}; pass constant='drop' to leave them out.") from None
    live_a = snap.variances(a) > 0
    live_b = snap.variances(b) > 0 if b != a else live_a
    if not (bool(live_a.any()) and bool(live_b.any())):
        raise ConstantFeatureError(
            f"maxcorr: every unit of block {a if not bool(live_a.any()) else b!r} has zero variance (dead units), "
            "so no unit has a correlation."
        )
    return float(R[live_a][:, live_b].max(dim=1).values.mean())


def lincca_from(snap: MomentsSnapshot, a: str, b: str) -> float:
    """Wu et al.'s lincca: SVCCA on z-scored units keeping ``sum(cum < 0.99)`` variance directions.

    Same as ``svcca_from(snap, a, b, threshold=0.99, keep="variance",
    cut="strict", standardize=True)``, the convention of
    johnmwu/contextual-corr-analysis ``CCA(percent_variance=0.99,
    normalize_dimensions=True)``.

    Parameters
    ----------
    snap : MomentsSnapshot
        Moments holding the (a, a), (b, b) and (a, b) blocks.
    a, b : str
        Block names.

    Returns
    -------
    float
        Symmetric, in [0, 1].
    """
    return svcca_from(snap, a, b, threshold=0.99, keep="variance", cut="strict", standardize=True)


def _linreg_scores(snap: MomentsSnapshot, a: str, b: str, *, rtol: float, caller: str) -> torch.Tensor:
    """sqrt of the in-sample OLS R^2 of every unit of ``a`` from all units of ``b``, shape (p_a,)."""
    Sab = snap.comoment(a, b)
    va = snap.variances(a)
    dead = torch.nonzero(va <= 0).flatten().tolist()
    if dead:
        raise FeatcorrError(
            f"{caller}: block {a!r} has zero-variance unit(s) {dead[:10]}; their R^2 is 0/0. Drop those units."
        )
    sp = block_spectrum(snap, b, rtol=rtol)
    _check_ranks(snap.n, 0, sp.values.numel(), caller=caller, a=a, b=b,
                 fix="In-sample linear regression is then trivially perfect; use more samples.")
    proj = (Sab @ sp.vectors) / torch.sqrt(sp.values)  # (p_a, r_b)
    return torch.sqrt((proj * proj).sum(dim=1) / va)


def neuron_scores_from(
    snap: MomentsSnapshot, a: str, others: Sequence[str], *, method: str = "maxcorr", rtol: float = DEFAULT_RTOL
):
    """Per-neuron scores of block ``a`` against each block in ``others``, and their ranking.

    Parameters
    ----------
    snap : MomentsSnapshot
        Moments holding ``a``'s pairs with every block in ``others``.
    a : str
        The model/layer whose neurons are ranked.
    others : sequence of str
        The other models' blocks.
    method : {"maxcorr", "mincorr", "maxlinreg", "minlinreg"}, default="maxcorr"
        corr: s_b(i) = max_j |corr(a_i, b_j)|; linreg: s_b(i) = sqrt of the
        in-sample R^2 of a_i regressed on all of b. ``max*`` ranks by the max
        over ``others``, ``min*`` by the min.
    rtol : float, default=1e-10
        Relative eigenvalue tolerance for the linreg pseudo-inverse.

    Returns
    -------
    pandas.DataFrame indexed by neuron (0..p-1)
        One column per other block (s_b(i)), ``score`` (max or min over
        them) and ``rank`` (1 = highest score; ties broken by neuron index).
    """
    import pandas as pd

    caller = "neuron_ranking"
    check_option(method, RANKING_METHODS, name="method", caller=caller)
    rtol = _check_rtol(rtol, caller)
    others = [str(o) for o in others]
    if not others:
        raise FeatcorrError(f"{caller}: others is empty; pass at least one other model's representation.")
    cols = {}
    for b in others:
        if method.endswith("corr"):
            cols[b] = unit_correlation_from(snap, a, b).abs().max(dim=1).values
        else:
            cols[b] = _linreg_scores(snap, a, b, rtol=rtol, caller=caller)
    M = torch.stack([cols[b] for b in others], dim=1).cpu().numpy()
    score = M.max(axis=1) if method.startswith("max") else M.min(axis=1)
    order = np.argsort(-score, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(1, order.size + 1)
    frame = pd.DataFrame(M, columns=others)
    frame["score"] = score
    frame["rank"] = rank
    frame.index.name = "neuron"
    return frame


def neuron_ranking(X: Any, others: Mapping[str, Any] | Sequence[Any], *, method: str = "maxcorr",
                   rtol: float = DEFAULT_RTOL):
    """Rank the neurons of X by how well other models' neurons reproduce them (Wu et al. 2020).

    Parameters
    ----------
    X : array-like of shape (n_samples, p)
        The representation whose neurons are ranked.
    others : mapping name -> array-like (n_samples, q_m), or a sequence of arrays
        Other models' representations of the same samples (named ``"m0"``,
        ``"m1"``, ... when a sequence). maxcorr and mincorr rankings differ
        only when there are at least two.
    method : {"maxcorr", "mincorr", "maxlinreg", "minlinreg"}, default="maxcorr"
        See :func:`neuron_scores_from`.
    rtol : float, default=1e-10
        Relative eigenvalue tolerance for the linreg pseudo-inverse.

    Returns
    -------
    pandas.DataFrame indexed by neuron
        Per-model scores, ``score`` and ``rank`` (1 = most shared neuron).
        Sort with ``.sort_values("rank")``.

    Notes
    -----
    The model-pair similarity of maxcorr/mincorr is ``frame[m].mean()``
    (= ``similarity(X, others[m], measure="maxcorr")``). Tested against
    ``np.corrcoef`` and ``np.linalg.lstsq`` (tests/measures/test_neuron.py).

    References
    ----------
    .. [1] Wu et al., ACL 2020, arXiv:2005.01172.

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.measures import neuron_ranking
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3))
    >>> others = {"a": X[:, :1] + 0.1 * rng.normal(size=(100, 1)), "b": X[:, :2]}
    >>> neuron_ranking(X, others, method="mincorr")["rank"].tolist()
    [1, 2, 3]
    """
    caller = "neuron_ranking"
    if not isinstance(others, Mapping):
        others = {f"m{i}": o for i, o in enumerate(others)}
    if not others:
        raise FeatcorrError(f"{caller}: others is empty; pass at least one other model's representation.")
    tx = as_2d(X, name="X", caller=caller)
    batch = {"__x__": tx}
    for name, o in others.items():
        t = as_2d(o, name=f"others[{name!r}]", caller=caller)
        check_same_n(tx, t, names=("X", f"others[{name!r}]"), caller=caller)
        batch[str(name)] = t.to(tx.device)
    snap = Moments(pairs=("cross", ["__x__"], list(batch)[1:])).update(batch).finalize()
    return neuron_scores_from(snap, "__x__", list(batch)[1:], method=method, rtol=rtol)


# ----------------------------------------------------------------- registry
def _request(A, B, *, engine=None, **_: Any):
    return moments_request(A, B, engine=engine)


def _corr_request(A, B, *, engine=None, **_: Any):
    """Cross blocks plus the diagonals of the self blocks: unit correlations need only unit variances."""
    return moments_request(A, B, engine=engine, self_blocks="diagonal")


_WU = "Wu, Belinkov, Sajjad, Durrani, Dalvi, Glass, ACL 2020, arXiv:2005.01172"
for _name in ("maxcorr", "mincorr"):
    register(
        MeasureSpec(
            name=_name,
            statistic="moments",
            kind="similarity",
            invariances=("per-unit affine", "permutation of units"),
            value_range="[0, 1]",
            reference="np.corrcoef; johnmwu/contextual-corr-analysis MaxCorr/MinCorr (pair score)",
            paper=_WU,
            statistics=_corr_request,
            compute=lambda snaps, a, b, constant="drop", **_: maxcorr_from(snaps["moments"], a, b,
                                                                             constant=constant),
            options={"constant": "drop"},
            symmetric=False,
        )
    )

register(
    MeasureSpec(
        name="lincca",
        statistic="moments",
        kind="similarity",
        invariances=("per-unit scaling", "translation", "permutation of units"),
        value_range="[0, 1]",
        reference="float64 z-score + SVD + SVD oracle; johnmwu/contextual-corr-analysis CCA",
        paper=_WU,
        statistics=_request,
        compute=lambda snaps, a, b, **_: lincca_from(snaps["moments"], a, b),
    )
)
