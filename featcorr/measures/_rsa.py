"""Representational similarity analysis (RSA) and deconfounded RSA from a reservoir sample."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .._validation import as_2d, as_tensor, check_option, check_same_n
from ..errors import ConstantFeatureError, NonFiniteError, NotEnoughSamplesError, ShapeError
from ..stats import Reservoir, ReservoirSnapshot
from ._rdm import (
    COMPARISONS,
    RDM_METHODS,
    compare_rdm_matrices,
    compare_representations,
    compare_vectors,
    rdm_matrix,
    rdm_vector,
    upper,
)
from ._registry import MeasureSpec, get_measure, register

__all__ = [
    "rdm",
    "compare_rdms",
    "rsa",
    "rsa_from",
    "deconfounded_rsa",
    "deconfounded_rsa_from",
    "sample_request",
    "RDM_METHODS",
    "COMPARISONS",
]

#: Comparisons offered for the residual RDMs of deconfounded RSA (residuals are not distances).
DECONFOUNDED_COMPARISONS = ("spearman", "pearson", "kendall_tau_a", "rho_a")

#: Block name under which the compare engine adds the model input.
INPUT_BLOCK = "__input__"


def sample_request(
    blocks_a: Sequence[str], blocks_b: Sequence[str], *, sample_size: int = 5000, seed: int = 0,
    extra: Sequence[str] = (), **_: Any,
) -> dict[str, Reservoir]:
    """The one Reservoir every sample-based measure asks for: the same rows of every needed block."""
    blocks = tuple(dict.fromkeys(tuple(blocks_a) + tuple(blocks_b) + tuple(extra)))
    return {"sample": Reservoir(size=sample_size, seed=seed, blocks=blocks)}


def _min3(X: torch.Tensor, *, name: str, caller: str) -> None:
    if X.shape[0] < 3:
        raise NotEnoughSamplesError(
            f"{caller}: found {name} with {X.shape[0]} sample(s) while a minimum of 3 is required for an RDM "
            "comparison (an RDM over n samples has n(n-1)/2 entries); pass more samples."
        )


def rsa_from(
    snap: ReservoirSnapshot, a: str, b: str, *, rdm: str = "correlation", comparison: str = "spearman"
) -> float:
    """RSA of blocks ``a`` and ``b`` of a reservoir sample: compare the RDMs of the sampled rows.

    Parameters
    ----------
    snap : ReservoirSnapshot
        Sample holding blocks ``a`` and ``b`` (the same rows for both).
    a, b : str
        Block names.
    rdm : str, default="correlation"
        One of :data:`RDM_METHODS` (see :func:`rdm`).
    comparison : str, default="spearman"
        One of :data:`COMPARISONS` (see :func:`compare_rdms`).

    Returns
    -------
    float
        The comparison of the two RDMs, in [-1, 1] (``rho_a`` and ``kendall_tau_a``
        are smaller in magnitude when there are ties). Exact on the data when
        the stream held at most ``size`` rows (``snap.exact``).
    """
    caller = "rsa"
    check_option(rdm, RDM_METHODS, name="rdm", caller=caller)
    check_option(comparison, COMPARISONS, name="comparison", caller=caller)
    X = snap.rows(a)
    _min3(X, name=f"block {a!r}", caller=caller)
    Y = None if b == a else snap.rows(b)
    return compare_representations(X, Y, rdm, comparison, names=(f"block {a!r}", f"block {b!r}"), caller=caller)


def _residual(d: torch.Tensor, d0: torch.Tensor, *, name: str, caller: str) -> torch.Tensor:
    """Residual of the OLS regression of d on [1, d0] (both 1-D); d0 is already centred."""
    dc = d - d.mean()
    s00 = float(torch.dot(d0, d0))
    r = dc - (float(torch.dot(dc, d0)) / s00) * d0
    # a residual below 1e-10 of the centred RDM is rounding of an exact affine relation (R^2 = 1)
    if not float(torch.dot(r, r)) > 1e-20 * float(torch.dot(dc, dc)):
        raise ConstantFeatureError(
            f"{caller}: the RDM of {name} is an affine function of the confounder's RDM (R^2 = 1 up to rounding), "
            "so nothing is left after deconfounding; the deconfounded similarity is 0/0. Compare other layers or "
            "use rsa."
        )
    return r


def deconfounded_rsa_from(
    snap: ReservoirSnapshot, a: str, b: str, *, rdm: str = "correlation", comparison: str = "spearman",
    confounder_rdm: str | None = None, confounder: str = INPUT_BLOCK,
) -> float:
    """Deconfounded RSA of blocks ``a`` and ``b``: compare RDM residuals after regressing out the input's RDM.

    Each representation's RDM entries (i < j) are regressed by ordinary least
    squares on an intercept and the confounder's RDM entries; the two residual
    vectors are compared (Cui et al. 2022).

    Parameters
    ----------
    snap : ReservoirSnapshot
        Sample holding blocks ``a``, ``b`` and ``confounder``.
    a, b : str
        Block names.
    rdm : str, default="correlation"
        RDM method of the representations (:data:`RDM_METHODS`).
    comparison : {"spearman", "pearson", "kendall_tau_a", "rho_a"}, default="spearman"
    confounder_rdm : str, optional
        RDM method of the confounder; defaults to ``rdm``.
    confounder : str, default="__input__"
        Block holding the confounder (the compare engine adds the model input there).

    Returns
    -------
    float in [-1, 1].
    """
    caller = "deconfounded_rsa"
    check_option(rdm, RDM_METHODS, name="rdm", caller=caller)
    check_option(comparison, DECONFOUNDED_COMPARISONS, name="comparison", caller=caller)
    crdm = rdm if confounder_rdm is None else confounder_rdm
    check_option(crdm, RDM_METHODS, name="confounder_rdm", caller=caller)
    X0 = snap.rows(confounder)
    _min3(X0, name="the confounder", caller=caller)
    d0 = rdm_vector(X0, crdm, name="the confounder", caller=caller)
    d0 = d0 - d0.mean()
    if not float(torch.dot(d0, d0)) > 0.0:
        raise ConstantFeatureError(
            f"{caller}: the confounder's RDM is constant (all samples equally far apart), so there is nothing to "
            "regress out; use rsa instead, or check that the confounder is the model input."
        )
    rx = _residual(rdm_vector(snap.rows(a), rdm, name=f"block {a!r}", caller=caller), d0,
                   name=f"block {a!r}", caller=caller)
    ry = rx if b == a else _residual(rdm_vector(snap.rows(b), rdm, name=f"block {b!r}", caller=caller), d0,
                                     name=f"block {b!r}", caller=caller)
    return compare_vectors(rx, ry, comparison, what=(f"the residual RDM of {a!r}", f"the residual RDM of {b!r}"),
                           caller=caller)


# ---------------------------------------------------------------- array API
def _matrix_from(R: Any, *, name: str, caller: str) -> torch.Tensor:
    """Accept a square RDM or a condensed vector (scipy ``squareform`` order); return the square float64 matrix."""
    t = as_tensor(R, name=name, caller=caller).to(torch.float64)
    if t.ndim == 1:
        N = t.shape[0]
        n = int(round((1 + np.sqrt(1 + 8 * N)) / 2))
        if n * (n - 1) // 2 != N:
            raise ShapeError(
                f"{caller}: {name} is 1-D with {N} entries, which is not n(n-1)/2 for any n; pass a square RDM "
                "or the condensed upper triangle (scipy.spatial.distance.squareform order)."
            )
        D = torch.zeros(n, n, dtype=torch.float64, device=t.device)
        mask = torch.ones(n, n, dtype=torch.bool, device=t.device).triu_(1)
        D[mask] = t
        return D + D.T
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise ShapeError(
            f"{caller}: {name} has shape {tuple(t.shape)}; an RDM is square (n, n) or a condensed vector of "
            "length n(n-1)/2. To build one from activations use featcorr.measures.rdm(X)."
        )
    # RDMs computed as 1 - Z Z^T by other tools are symmetric with a zero diagonal only up to rounding
    scale = float(t.abs().max()) if t.numel() else 0.0
    tol = 1e-10 * scale
    asym = float((t - t.T).abs().max()) if t.numel() else 0.0
    if asym > tol:
        raise ShapeError(
            f"{caller}: {name} is not symmetric (max |D[i, j] - D[j, i]| = {asym:.3g}); an RDM satisfies "
            "D[i, j] == D[j, i]."
        )
    diag = float(torch.diagonal(t).abs().max()) if t.numel() else 0.0
    if diag > tol:
        raise ShapeError(f"{caller}: {name} has a non-zero diagonal (max |D[i, i]| = {diag:.3g}); an RDM has D[i, i] == 0.")
    # use the upper triangle, mirrored, with an exact zero diagonal
    U = torch.triu(t, diagonal=1)
    return U + U.T


def rdm(X: Any, method: str = "correlation", *, pool: str = "flatten") -> np.ndarray:
    """Representational dissimilarity matrix of the rows (samples, conditions) of X.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or (n_samples, c, h, w) / (n_samples, t, d)
        Activations; rows are samples (conditions).
    method : str, default="correlation"
        ``"correlation"``: 1 - Pearson r of two rows across features
        (rsatoolbox ``"correlation"``); ``"cosine"``: 1 - cosine;
        ``"euclidean"``: plain Euclidean distance ||x_i - x_j||;
        ``"sq_euclidean"``: ||x_i - x_j||^2;
        ``"sq_euclidean_per_feature"``: ||x_i - x_j||^2 / p, which is what
        rsatoolbox calls ``"euclidean"``.
    pool : str, default="flatten"
        How >2-D input becomes 2-D (see :func:`featcorr.similarity`).

    Returns
    -------
    numpy.ndarray of shape (n_samples, n_samples), float64
        Symmetric, exact zero diagonal, entries >= 0 (correlation and cosine
        distances lie in [0, 2]).

    Notes
    -----
    Built from one Gram matrix in float64; squared distances that rounding
    makes slightly negative (about -1e-16 ||x||^2, for identical rows) are
    set to 0. Correlation distance is invariant to a per-row affine map
    x_i -> a_i x_i + b_i (a_i > 0); Euclidean ones to orthogonal maps and
    translations of the features. Tested against ``scipy.spatial.distance.pdist``
    (tests/measures/test_rsa.py) and rsatoolbox 0.3.2 ``calc_rdm``
    (tests/anchors/test_rsa_anchors.py) to 1e-10.

    Raises
    ------
    ConstantFeatureError
        For correlation (cosine) distance when a row is constant (all zero).

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.measures import rdm
    >>> rdm(np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]]), "euclidean")
    array([[ 0.,  5., 10.],
           [ 5.,  0.,  5.],
           [10.,  5.,  0.]])
    """
    X = as_2d(X, name="X", caller="rdm", pool=pool, min_samples=2)
    return rdm_matrix(X, method, caller="rdm").cpu().numpy()


def compare_rdms(rdm1: Any, rdm2: Any, method: str = "spearman") -> float:
    """Compare two RDMs (square or condensed) the way rsatoolbox's ``rdm.compare`` does.

    Parameters
    ----------
    rdm1, rdm2 : array-like of shape (n, n) or (n(n-1)/2,)
        RDMs over the same n samples; square ones must be symmetric with a
        zero diagonal, condensed ones in ``scipy.spatial.distance.squareform``
        order. NaN entries at the same positions in both are dropped (except
        for the whitened comparisons, which need every entry).
    method : str, default="spearman"
        ``"spearman"``: Pearson correlation of average ranks (ties averaged);
        ``"pearson"``: Pearson correlation of the entries (rsatoolbox ``"corr"``);
        ``"kendall_tau_a"``: (C - D) / (N(N-1)/2), no tie correction
        (rsatoolbox ``"tau-a"``); ``"rho_a"``: 12 sum (r - r_bar)(s - s_bar) / (N^3 - N),
        the expected Spearman correlation under random tie breaking
        (rsatoolbox ``"rho-a"``); ``"cosine"``; ``"whitened_cosine"``: cosine
        of the double-centred RDMs G = -1/2 H D H (rsatoolbox ``"cosine_cov"``
        without a noise covariance; equals linear CKA of the patterns when D
        holds squared Euclidean distances); ``"whitened_pearson"``: the same
        after subtracting the mean entry (rsatoolbox ``"corr_cov"``).

    Returns
    -------
    float
        In [-1, 1]; cosine of two RDMs (non-negative entries) lies in [0, 1].

    Notes
    -----
    Rank comparisons (spearman, kendall_tau_a, rho_a) are invariant to any
    strictly increasing transform of either RDM. With ties (RDMs of
    categorical models, ReLU layers) Kendall tau-a and rho-a stay below 1 in
    magnitude even for identical RDMs, as Nili et al. (2014) intend. Cost:
    O(N) for N = n(n-1)/2 entries, plus for rank comparisons one stable radix
    sort per RDM (numba, :mod:`featcorr.measures._rank_sort`) and for tau-a
    two sorts and a merge-sort inversion count (Knight 1966); without numba,
    numpy sorts and ``scipy.stats.kendalltau``. Tested against scipy.stats
    (rankdata, spearmanr, pearsonr), a brute-force tau-a and rsatoolbox 0.3.2
    ``rdm.compare`` to 1e-10 (1e-12 on the compiled path).

    References
    ----------
    .. [1] Nili, Wingfield, Walther, Su, Marslen-Wilson, Kriegeskorte, "A Toolbox
       for Representational Similarity Analysis", PLoS Comput. Biol. 10(4), 2014.
    .. [2] Diedrichsen, Berlot, Mur, Schütt, Shahbazi, Kriegeskorte, "Comparing
       representational geometries using whitened unbiased-distance-matrix
       similarity", arXiv:2007.02789, 2020.
    """
    caller = "compare_rdms"
    check_option(method, COMPARISONS, name="method", caller=caller)
    D1 = _matrix_from(rdm1, name="rdm1", caller=caller)
    D2 = _matrix_from(rdm2, name="rdm2", caller=caller)
    if D1.shape != D2.shape:
        raise ShapeError(
            f"{caller}: rdm1 is over {D1.shape[0]} samples but rdm2 over {D2.shape[0]}; compare RDMs of the same "
            "samples in the same order."
        )
    v1, v2 = upper(D1), upper(D2)
    n1, n2 = torch.isnan(v1), torch.isnan(v2)
    if bool(torch.isinf(v1).any() or torch.isinf(v2).any()):
        raise NonFiniteError(f"{caller}: an RDM holds inf; remove or recompute those entries.")
    if bool(n1.any() or n2.any()):
        if not torch.equal(n1, n2):
            raise NonFiniteError(
                f"{caller}: rdm1 has {int(n1.sum())} NaN entries and rdm2 {int(n2.sum())}, at different positions; "
                "NaN entries are dropped only where both RDMs are NaN."
            )
        if method in ("whitened_cosine", "whitened_pearson"):
            raise NonFiniteError(
                f"{caller}: method={method!r} needs every RDM entry but {int(n1.sum())} are NaN; use a "
                "non-whitened comparison or fill them."
            )
        keep = ~n1
        if int(keep.sum()) < 2:
            raise NotEnoughSamplesError(f"{caller}: fewer than 2 non-NaN RDM entries are left to compare.")
        return compare_vectors(v1[keep], v2[keep], method, what=("rdm1", "rdm2"), caller=caller)
    return compare_rdm_matrices(D1, D2, method, what=("rdm1", "rdm2"), caller=caller)


def rsa(
    X: Any, Y: Any, *, rdm: str = "correlation", comparison: str = "spearman", sample_size: int = 5000,
    seed: int = 0, pool: str = "flatten",
) -> float:
    """Representational similarity analysis: compare the RDMs of two representations of the same samples.

    Parameters
    ----------
    X : array-like of shape (n_samples, p) (or >2-D, see ``pool``)
    Y : array-like of shape (n_samples, q)
    rdm : str, default="correlation"
        RDM method, see :func:`rdm` (``"sq_euclidean_per_feature"`` is
        rsatoolbox's ``"euclidean"``).
    comparison : str, default="spearman"
        RDM comparison, see :func:`compare_rdms`.
    sample_size : int, default=5000
        RDMs are O(n^2): when n_samples > sample_size, a seeded uniform sample
        of rows (the same rows of X and Y) is compared (:class:`featcorr.stats.Reservoir`).
        With n_samples <= sample_size the result is exact on all the data.
    seed : int, default=0
        Seed of that sample.
    pool : str, default="flatten"

    Returns
    -------
    float
        Similarity in [-1, 1], 1 for identical RDMs (rank comparisons: for
        RDMs in the same order, without ties).

    Notes
    -----
    Same as ``featcorr.similarity(X, Y, measure="rsa", ...)``. Invariances:
    those of the RDM (correlation: per-sample affine maps; Euclidean:
    orthogonal maps and translation; all: the same permutation of features),
    and, for rank comparisons, any monotone transform of the dissimilarities;
    not invariant to general linear maps. Tested against scipy pdist +
    spearmanr / kendalltau / a brute-force tau-a (tests/measures/test_rsa.py)
    and rsatoolbox 0.3.2 ``calc_rdm`` + ``compare`` for every RDM method and
    comparison it offers (tests/anchors/test_rsa_anchors.py), to 1e-10.

    Cost: Pearson, cosine and the whitened comparisons of every RDM method
    but ``"euclidean"`` are computed from sums of the patterns without
    building the RDMs (:mod:`featcorr.measures._rdm_moments`: O(n p q) time,
    O(p q) memory; e.g. whitened cosine of correlation RDMs is linear CKA of
    the row-normalised patterns); the others build each condensed RDM with
    one float64 GEMM over row blocks (O(n^2 p)) and rank it with a radix sort.

    References
    ----------
    .. [1] Kriegeskorte, Mur, Bandettini, "Representational similarity analysis -
       connecting the branches of systems neuroscience", Front. Syst. Neurosci. 2, 2008.
    .. [2] Nili et al., PLoS Comput. Biol. 10(4), 2014 (tau-a, rho-a).

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.measures import rsa
    >>> X = np.random.default_rng(0).normal(size=(50, 8))
    >>> rsa(X, 3.0 * X + 1.0)
    1.0
    """
    from ._api import similarity

    return similarity(X, Y, measure="rsa", rdm=rdm, comparison=comparison, sample_size=sample_size, seed=seed,
                      pool=pool)


def deconfounded_rsa(
    X: Any, Y: Any, confounder: Any, *, rdm: str = "correlation", comparison: str = "spearman",
    confounder_rdm: str | None = None, sample_size: int = 5000, seed: int = 0, pool: str = "flatten",
) -> float:
    """Deconfounded RSA (Cui et al. 2022): RSA of the RDM residuals left after regressing out the input's RDM.

    Parameters
    ----------
    X : array-like of shape (n_samples, p)
    Y : array-like of shape (n_samples, q)
    confounder : array-like of shape (n_samples, r)
        The confounder of the same samples, usually the model input (flattened
        pixels or embeddings).
    rdm : str, default="correlation"
        RDM method of X and Y (see :func:`rdm`).
    comparison : {"spearman", "pearson", "kendall_tau_a", "rho_a"}, default="spearman"
        Comparison of the residual RDM vectors.
    confounder_rdm : str, optional
        RDM method of the confounder; defaults to ``rdm``.
    sample_size, seed, pool
        As in :func:`rsa`.

    Returns
    -------
    float in [-1, 1]
        Can be much lower than plain RSA when both representations mostly
        inherit the input's similarity structure.

    Notes
    -----
    For each representation, the upper-triangle RDM entries d are regressed
    by ordinary least squares on [1, d0], d0 the confounder's RDM entries;
    the residuals are compared. This follows the dRSA recipe of Cui et al.
    (regression of the representation's RDM on the input's); whether their
    code regresses over all n^2 entries or the n(n-1)/2 pairs and with an
    intercept was not verified: featcorr uses the pairs i < j and an
    intercept. Same as ``featcorr.similarity(X, Y, measure="deconfounded_rsa",
    confounder=confounder)``. Invariances: those of :func:`rsa` for X, Y and
    the confounder. Tested against a direct float64 OLS on scipy pdist RDMs
    (tests/measures/test_rsa.py).

    References
    ----------
    .. [1] Cui, Kumar, Marttinen, Kaski, "Deconfounded Representation Similarity
       for Comparison of Neural Networks", NeurIPS 2022, arXiv:2202.00095.
    """
    caller = "deconfounded_rsa"
    spec = get_measure("deconfounded_rsa", caller=caller)
    opts = spec.resolve_options(
        {"rdm": rdm, "comparison": comparison, "confounder_rdm": confounder_rdm, "sample_size": sample_size,
         "seed": seed},
        caller=caller,
    )
    tx = as_2d(X, name="X", caller=caller, pool=pool)
    ty = as_2d(Y, name="Y", caller=caller, pool=pool)
    t0 = as_2d(confounder, name="confounder", caller=caller, pool=pool)
    check_same_n(tx, ty, caller=caller)
    check_same_n(tx, t0, names=("X", "confounder"), caller=caller)
    from ._api import evaluate

    return evaluate(spec, {"X": tx, "Y": ty.to(tx.device), INPUT_BLOCK: t0.to(tx.device)}, "X", "Y", opts)


# ---------------------------------------------------------------- registry
def _rsa_compute(snaps: Mapping[str, Any], a: str, b: str, *, rdm: str, comparison: str, **_: Any) -> float:
    return rsa_from(snaps["sample"], a, b, rdm=rdm, comparison=comparison)


def _drsa_compute(
    snaps: Mapping[str, Any], a: str, b: str, *, rdm: str, comparison: str, confounder_rdm: str | None, **_: Any
) -> float:
    return deconfounded_rsa_from(snaps["sample"], a, b, rdm=rdm, comparison=comparison,
                                 confounder_rdm=confounder_rdm)


register(
    MeasureSpec(
        name="rsa",
        statistic="sample",
        kind="similarity",
        invariances=("RDM's (correlation: per-sample affine)", "monotone maps of dissimilarities (rank comparisons)"),
        value_range="[-1, 1]",
        reference="rsatoolbox 0.3.2 calc_rdm + rdm.compare; scipy pdist + spearmanr",
        paper="Kriegeskorte, Mur, Bandettini 2008, Front. Syst. Neurosci.; Nili et al. 2014, PLoS Comput. Biol.",
        statistics=lambda A, B, *, engine=None, **opts: sample_request(A, B, **opts),
        compute=_rsa_compute,
        options={"rdm": "correlation", "comparison": "spearman", "sample_size": 5000, "seed": 0},
    )
)

register(
    MeasureSpec(
        name="deconfounded_rsa",
        statistic="sample",
        kind="similarity",
        invariances=("RDM's (correlation: per-sample affine)", "monotone maps of residuals (rank comparisons)"),
        value_range="[-1, 1]",
        reference="direct float64 OLS of scipy pdist RDMs on the input RDM",
        paper="Cui, Kumar, Marttinen, Kaski, NeurIPS 2022, arXiv:2202.00095",
        statistics=lambda A, B, *, engine=None, **opts: sample_request(A, B, extra=(INPUT_BLOCK,), **opts),
        compute=_drsa_compute,
        options={"rdm": "correlation", "comparison": "spearman", "confounder_rdm": None, "sample_size": 5000,
                 "seed": 0},
        extra_blocks=(INPUT_BLOCK,),
    )
)
