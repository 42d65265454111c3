"""Canonical correlation analysis from moments: CCA (rho-bar, R2_CCA), SVCCA and PWCCA.

Every quantity is an exact function of the centred cross-products S_xx,
S_yy, S_xy: the canonical correlations are the singular values of the
whitened cross block W_x^T S_xy W_y with W = V diag(lambda^{-1/2}) from the
eigen-decomposition (float64) of each self block. Directions whose
eigenvalue is below ``rtol`` times the largest are dropped (and reported):
that is how rank deficiency (dead units, duplicated units, n < p) is
handled, never by adding an epsilon.

When a block is provably well-conditioned (Cholesky succeeds and the bound
lambda_min >= 1 / ||L^{-1}||_F^2 clears ``rtol`` x an upper bound of
lambda_max) CCA and PWCCA whiten with its Cholesky factor instead
(S = L L^T; same canonical correlations, no eigen-decomposition): p^3/3 for
the factor and p^3 for L^{-1} instead of a tridiagonalisation (4/3 p^3, half
of it memory-bound) or a full eigh.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import check_option
from ..errors import ConstantFeatureError, NotEnoughSamplesError, UnknownOptionError
from ..stats import Moments, MomentsSnapshot
from ._common import centred_blocks, moments_request
from ._linalg import cached, cholesky, eigh, peek, singular_values, solve_lower, svd
from ._registry import MeasureSpec, register

__all__ = [
    "CanonicalCorrelations",
    "RankDeficiencyWarning",
    "DEFAULT_RTOL",
    "canonical_correlations",
    "canonical_correlations_from",
    "cca_from",
    "svcca_from",
    "pwcca_from",
]

#: Default relative tolerance on covariance eigenvalues: directions with
#: lambda <= DEFAULT_RTOL * lambda_max are treated as having no variance.
#: float64 eigen-decompositions are accurate to about p * 2.2e-16 * lambda_max,
#: so 1e-10 leaves a margin of ~100 for p up to 4096.
DEFAULT_RTOL = 1e-10


class RankDeficiencyWarning(UserWarning):
    """Directions without variance were dropped from a covariance before whitening."""


@dataclass(frozen=True)
class _Spectrum:
    """Kept eigen-pairs of one (p, p) self block, eigenvalues descending."""

    values: torch.Tensor  # (r,)
    vectors: torch.Tensor  # (p, r)
    p: int
    dropped: int


def _spectrum(S: torch.Tensor, *, rtol: float) -> _Spectrum:
    """Eigen-decompose a centred self block in float64, keeping lambda > rtol * lambda_max."""
    evals, evecs = eigh(S)
    evals, evecs = evals.flip(0), evecs.flip(1)
    top = float(evals[0])
    keep = evals > rtol * top
    r = int(keep.sum())
    return _Spectrum(values=evals[:r], vectors=evecs[:, :r], p=S.shape[0], dropped=S.shape[0] - r)


def block_spectrum(snap: MomentsSnapshot, name: str, *, rtol: float, standardized: bool = False) -> _Spectrum:
    """Kept eigen-pairs of block ``name``'s covariance (or correlation matrix), computed once per snapshot."""

    def build() -> _Spectrum:
        S = snap.comoment(name, name)
        if standardized:
            d = _inverse_std(torch.diagonal(S))
            S = S * torch.outer(d, d)
        return _spectrum(S, rtol=rtol)

    return cached(snap, ("spectrum", name, rtol, standardized), build)


def _full_rank_cholesky(snap: MomentsSnapshot, name: str, *, rtol: float) -> torch.Tensor | None:
    """Cholesky factor L of block ``name``'s self moment when provably lambda_min > rtol x lambda_max, else None.

    The test is rigorous (no eigenvalues computed): lambda_min(S) = 1 / ||L^{-1}||_2^2
    >= 1 / ||L^{-1}||_F^2 and lambda_max(S) <= min(||S||_F, ||S||_inf). Both
    bounds are within a factor of about sqrt(p) to p of the truth for spread
    spectra, so blocks whose condition number is within that factor of
    1 / rtol take the exact eigen-decomposition path instead. Cached per
    (snapshot, block, rtol).
    """

    def build() -> torch.Tensor | None:
        S = snap.comoment(name, name)
        L = cholesky(S)
        if L is None:
            return None
        Linv = solve_lower(L, torch.eye(S.shape[0], dtype=torch.float64, device=S.device))
        inv_fro2 = float(Linv.square().sum())
        lam_max_hi = min(float(torch.linalg.matrix_norm(S)), float(S.abs().sum(dim=1).max()))
        if not (inv_fro2 > 0.0 and 1.0 / inv_fro2 > rtol * lam_max_hi):
            return None
        return L

    return cached(snap, ("cholesky", name, rtol), build)


def _check_rtol(rtol: Any, caller: str) -> float:
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not (0.0 < float(rtol) < 1.0):
        raise UnknownOptionError(
            f"{caller}: rtol={rtol!r} must be a number in (0, 1); it is the relative eigenvalue tolerance below "
            f"which covariance directions are dropped (default {DEFAULT_RTOL:g})."
        )
    return float(rtol)


def _warn_dropped(caller: str, name: str, sp: _Spectrum, rtol: float) -> None:
    if sp.dropped:
        warnings.warn(
            f"{caller}: block {name!r} has numerical rank {sp.p - sp.dropped} of {sp.p} columns; "
            f"{sp.dropped} covariance direction(s) with eigenvalue <= rtol={rtol:g} x the largest were dropped "
            "(dead or duplicated units, or fewer samples than units). Canonical correlations are computed "
            "on the remaining directions.",
            RankDeficiencyWarning,
            stacklevel=3,
        )


def _check_n_vs_width(n: int, p: int, q: int, *, caller: str, a: str, b: str) -> None:
    if n <= p or n <= q:
        raise NotEnoughSamplesError(
            f"{caller}: CCA needs more samples than units on each side, but n={n} while block {a!r} has p={p} "
            f"and block {b!r} has q={q} units; with n <= max(p, q) every canonical correlation is 1 and the "
            "value is meaningless. Use more samples (n well above max(p, q)), pool conv maps (pool='mean'), "
            "or measure='svcca' (CCA on the top principal directions)."
        )


def _check_ranks(n: int, rx: int, ry: int, *, caller: str, a: str, b: str, fix: str) -> None:
    # The centred data live in an (n - 1)-dimensional space; a subspace of dimension >= n - 1 fills it, and
    # then every canonical correlation is 1.
    if max(rx, ry) >= n - 1:
        raise NotEnoughSamplesError(
            f"{caller}: the centred data of block {a!r} (rank {rx}) or block {b!r} (rank {ry}) span all n - 1 = "
            f"{n - 1} dimensions available with n={n} samples, so every canonical correlation is 1. {fix}"
        )


def _whitened_cross(sx: _Spectrum, sy: _Spectrum, Sxy: torch.Tensor) -> torch.Tensor:
    """T = (V_x lambda_x^{-1/2})^T S_xy (V_y lambda_y^{-1/2}), shape (r_x, r_y)."""
    Wx = sx.vectors / torch.sqrt(sx.values)
    Wy = sy.vectors / torch.sqrt(sy.values)
    return Wx.T @ Sxy @ Wy


@dataclass(frozen=True)
class CanonicalCorrelations:
    """Canonical correlations of two blocks and how they were obtained.

    Attributes
    ----------
    rho : numpy.ndarray of shape (min(rank_x, rank_y),)
        Canonical correlations, descending, in [0, 1] up to rounding.
    n : int
        Number of samples.
    p, q : int
        Column counts of the two blocks.
    rank_x, rank_y : int
        Numerical ranks (eigen-directions kept at ``rtol``).
    rtol : float
        Relative eigenvalue tolerance used.
    """

    rho: np.ndarray
    n: int
    p: int
    q: int
    rank_x: int
    rank_y: int
    rtol: float

    @property
    def mean(self) -> float:
        """Mean canonical correlation rho-bar over the min(rank_x, rank_y) correlations."""
        return float(np.mean(self.rho))

    @property
    def r2(self) -> float:
        """R2_CCA: mean squared canonical correlation."""
        return float(np.mean(self.rho**2))


def canonical_correlations_from(
    snap: MomentsSnapshot, a: str, b: str, *, rtol: float = DEFAULT_RTOL, caller: str = "cca"
) -> CanonicalCorrelations:
    """Canonical correlations of blocks ``a`` and ``b`` from their centred moments.

    rho_i are the singular values of S_xx^{-1/2} S_xy S_yy^{-1/2}, i.e. the
    cosines of the principal angles between the column spaces of the centred
    X and Y (Hotelling 1936). Whitening uses the float64 eigen-decomposition
    of each self block; directions with eigenvalue <= ``rtol`` x the largest
    are dropped with a :class:`RankDeficiencyWarning`.

    Parameters
    ----------
    snap : MomentsSnapshot
        Moments holding the (a, a), (b, b) and (a, b) blocks.
    a, b : str
        Block names (X and Y).
    rtol : float, default=1e-10
        Relative eigenvalue tolerance.
    caller : str, default="cca"
        Name used in error messages.

    Returns
    -------
    CanonicalCorrelations
        Correlations, ranks and tolerance.

    Raises
    ------
    NotEnoughSamplesError
        When n <= p or n <= q, or a block's centred rank fills all n - 1
        dimensions (every rho would be 1).
    ConstantFeatureError
        When a block is constant.
    """
    res, _ = _cca_parts(snap, a, b, rtol=rtol, caller=caller, need_u=False)
    return res


def _cca_parts(
    snap: MomentsSnapshot, a: str, b: str, *, rtol: float, caller: str, need_u: bool
) -> tuple[CanonicalCorrelations, tuple | None]:
    """Canonical correlations plus, if ``need_u``, (B, U) with S_xx a_i = B u_i (u_i: left singular vectors) for PWCCA."""
    rtol = _check_rtol(rtol, caller)
    Sxx, Syy, Sxy = centred_blocks(snap, a, b, caller=caller)
    n, p, q = snap.n, Sxx.shape[0], Syy.shape[0]
    _check_n_vs_width(n, p, q, caller=caller, a=a, b=b)
    if b != a and peek(snap, ("spectrum", a, rtol, False)) is None:
        # Fast path when both blocks are provably full rank: whiten with Cholesky factors (S = L L^T, so
        # T = L_x^{-1} S_xy L_y^{-T} has the canonical correlations as singular values). For PWCCA, with
        # T = U diag(rho) V^T the canonical weights are a_i = L_x^{-T} u_i, so <h_i, x_j> = (S_xx a_i)_j = (L_x u_i)_j.
        Lx = _full_rank_cholesky(snap, a, rtol=rtol)
        Ly = None if Lx is None else _full_rank_cholesky(snap, b, rtol=rtol)
        if Lx is not None and Ly is not None:
            _check_ranks(n, p, q, caller=caller, a=a, b=b,
                         fix="Use more samples or fewer units (pool='mean'), or measure='svcca'.")
            T = cached(snap, ("whitened_cholesky", a, b, rtol), lambda: solve_lower(Ly, solve_lower(Lx, Sxy).T).T)
            res = dict(n=n, p=p, q=q, rank_x=p, rank_y=q, rtol=rtol)
            if need_u:
                U, rho_t, _ = svd(T)
                return CanonicalCorrelations(rho=rho_t.cpu().numpy(), **res), (Lx, U)
            return CanonicalCorrelations(rho=singular_values(T).cpu().numpy(), **res), None
    sx = block_spectrum(snap, a, rtol=rtol)
    sy = sx if b == a else block_spectrum(snap, b, rtol=rtol)
    rx, ry = sx.values.numel(), sy.values.numel()
    _check_ranks(n, rx, ry, caller=caller, a=a, b=b,
                 fix="Use more samples or fewer units (pool='mean'), or measure='svcca'.")
    _warn_dropped(caller, a, sx, rtol)
    if b != a:
        _warn_dropped(caller, b, sy, rtol)
    extra = None
    if b == a:
        rho = np.ones(rx)
    elif need_u:
        U, rho_t, _ = svd(_whitened_cross(sx, sy, Sxy))
        rho = rho_t.cpu().numpy()
        extra = (sx.vectors * torch.sqrt(sx.values), U)  # S_xx a_i = V diag(lambda^{1/2}) u_i
    else:
        rho = singular_values(_whitened_cross(sx, sy, Sxy)).cpu().numpy()
    res = CanonicalCorrelations(rho=rho, n=n, p=p, q=q, rank_x=rx, rank_y=ry, rtol=rtol)
    return res, extra


def canonical_correlations(X: Any, Y: Any, *, rtol: float = DEFAULT_RTOL, pool: str = "flatten") -> CanonicalCorrelations:
    """Canonical correlations of two representations of the same samples.

    Parameters
    ----------
    X : array-like of shape (n_samples, p)
        First representation; rows are samples.
    Y : array-like of shape (n_samples, q)
        Same samples, same order; n_samples must exceed p and q.
    rtol : float, default=1e-10
        Relative eigenvalue tolerance for rank deficiency.
    pool : str, default="flatten"
        How >2-D activations become 2-D (see :func:`featcorr.similarity`).

    Returns
    -------
    CanonicalCorrelations
        ``.rho`` (descending), ``.mean`` (rho-bar), ``.r2`` (R2_CCA) and the ranks.

    Notes
    -----
    Equal to the singular values of Q_x^T Q_y for thin QR factors of the
    centred X and Y (tested to 1e-8 in tests/measures/test_cca.py). Invariant
    to translation and to any invertible linear map of X or of Y.

    References
    ----------
    .. [1] Hotelling, "Relations between two sets of variates", Biometrika 1936.

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.measures import canonical_correlations
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 3))
    >>> res = canonical_correlations(X, X @ rng.normal(size=(3, 3)) + 1.0)
    >>> np.round(res.rho, 10).tolist()
    [1.0, 1.0, 1.0]
    """
    from ._api import blocks_from_arrays

    batch, a, b = blocks_from_arrays(X, Y, caller="canonical_correlations", pool=pool)
    snap = Moments(pairs="all").update(batch).finalize()
    return canonical_correlations_from(snap, a, b, rtol=rtol, caller="canonical_correlations")


_SUMMARIES = ("mean", "r2")


def cca_from(
    snap: MomentsSnapshot, a: str, b: str, *, summary: str = "mean", rtol: float = DEFAULT_RTOL
) -> float:
    """Mean canonical correlation rho-bar (or R2_CCA) of blocks ``a`` and ``b``.

    rho-bar = (1/c) sum_i rho_i and R2_CCA = (1/c) sum_i rho_i^2 with
    c = min(rank_x, rank_y) (= min(p, q) at full rank, Kornblith et al.'s
    denominator).

    Parameters
    ----------
    snap : MomentsSnapshot
        Moments holding the (a, a), (b, b) and (a, b) blocks.
    a, b : str
        Block names.
    summary : {"mean", "r2"}, default="mean"
        rho-bar or R2_CCA.
    rtol : float, default=1e-10
        Relative eigenvalue tolerance for rank deficiency.

    Returns
    -------
    float in [0, 1], symmetric in (a, b).

    Notes
    -----
    Invariant to translation and any invertible linear map of either block.
    Tested against QR + SVD of the centred arrays (tests/measures/test_cca.py,
    1e-8) and google/svcca ``cca_core`` / cca-zoo (tests/anchors).

    References
    ----------
    .. [1] Kornblith, Norouzi, Lee, Hinton, ICML 2019, arXiv:1905.00414.
    """
    check_option(summary, _SUMMARIES, name="summary", caller="cca")
    res = canonical_correlations_from(snap, a, b, rtol=rtol, caller="cca")
    return res.mean if summary == "mean" else res.r2


# --------------------------------------------------------------------- SVCCA
_KEEP = ("variance", "singular_values")
_CUTS = ("inclusive", "strict")


def _n_kept(values: torch.Tensor, threshold: float, keep: str, cut: str) -> int:
    """Number of leading principal directions to keep (values: eigenvalues, descending)."""
    w = values if keep == "variance" else torch.sqrt(values)
    ratio = torch.cumsum(w, 0) / w.sum()
    below = int((ratio < threshold).sum())
    return below if cut == "strict" else min(below + 1, values.numel())


def _check_threshold(threshold: Any, caller: str) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < float(threshold) <= 1.0:
        raise UnknownOptionError(
            f"{caller}: threshold={threshold!r} must be a fraction in (0, 1], e.g. 0.99 to keep the principal "
            "directions explaining 99% of the variance."
        )
    return float(threshold)


def _inverse_std(v: torch.Tensor) -> torch.Tensor:
    """1 / std per unit from the variances ``v``; 0 for zero-variance (dead) units, which leaves them out."""
    live = v > 0
    return torch.where(live, torch.rsqrt(torch.where(live, v, torch.ones_like(v))), torch.zeros_like(v))


def _standardise(S: torch.Tensor, *, name: str, caller: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Correlation matrix of a self block and the 1/std scaling; dead units get weight 0 (left out)."""
    d = _inverse_std(torch.diagonal(S))
    if not bool((d > 0).any()):
        raise ConstantFeatureError(
            f"{caller}: standardize=True divides every unit by its standard deviation, but every unit of block "
            f"{name!r} has zero variance."
        )
    return S * torch.outer(d, d), d


def _reduced(sp: _Spectrum, *, threshold: float, keep: str, cut: str, name: str, caller: str) -> _Spectrum:
    """The leading k eigen-pairs that SVCCA keeps."""
    k = _n_kept(sp.values, threshold, keep, cut)
    if k == 0:
        raise UnknownOptionError(
            f"{caller}: with cut='strict' and threshold={threshold:g}, block {name!r} keeps no principal direction "
            f"(its first direction alone explains {float(sp.values[0] / sp.values.sum()):.4f} of the "
            f"{'variance' if keep == 'variance' else 'singular-value sum'}). Use cut='inclusive' or a larger "
            "threshold."
        )
    return _Spectrum(values=sp.values[:k], vectors=sp.vectors[:, :k], p=sp.p, dropped=sp.p - k)


def svcca_from(
    snap: MomentsSnapshot,
    a: str,
    b: str,
    *,
    threshold: float = 0.99,
    keep: str = "variance",
    cut: str = "inclusive",
    standardize: bool = False,
    rtol: float = DEFAULT_RTOL,
) -> float:
    """SVCCA: mean canonical correlation of the leading principal directions.

    Each block is reduced to its top k centred principal directions (eigen-
    vectors of S_xx), k the fewest whose cumulative share reaches
    ``threshold``; SVCCA is the mean of the min(k_x, k_y) canonical
    correlations of the reduced blocks.

    Parameters
    ----------
    snap : MomentsSnapshot
        Moments holding the (a, a), (b, b) and (a, b) blocks.
    a, b : str
        Block names.
    threshold : float in (0, 1], default=0.99
        Share of the total to keep.
    keep : {"variance", "singular_values"}, default="variance"
        Cumulate eigenvalues sigma^2 (variance, as in the paper) or singular
        values sigma (anatome's ``_svd_reduction``).
    cut : {"inclusive", "strict"}, default="inclusive"
        ``"inclusive"`` keeps the fewest directions whose cumulative share is
        >= threshold; ``"strict"`` keeps those whose cumulative share is
        < threshold (anatome, johnmwu ``sum(cum < 0.99 total)``), one fewer.
    standardize : bool, default=False
        Z-score every unit first (PCA of the correlation matrix), as
        johnmwu/contextual-corr-analysis ``CCA(normalize_dimensions=True)``.
        Zero-variance (dead) units cannot be z-scored and are left out (the
        reference divides by zero and returns NaN).
    rtol : float, default=1e-10
        Relative eigenvalue tolerance: directions at or below it never count.

    Returns
    -------
    float in [0, 1], symmetric in (a, b).

    Notes
    -----
    Works for n < p (at most n - 1 directions carry variance). Invariant to
    translation, orthogonal maps and isotropic scaling (not to general
    invertible maps: the truncation depends on the spectrum); with
    ``standardize=True`` also to per-unit scaling. Tested against a float64
    SVD + QR + SVD oracle on the arrays (tests/measures/test_cca.py, 1e-8).
    Unlike anatome, the SVD is of the *centred* data.

    References
    ----------
    .. [1] Raghu, Gilmer, Yosinski, Sohl-Dickstein, "SVCCA", NeurIPS 2017,
       arXiv:1706.05806.
    """
    caller = "svcca"
    threshold = _check_threshold(threshold, caller)
    check_option(keep, _KEEP, name="keep", caller=caller)
    check_option(cut, _CUTS, name="cut", caller=caller)
    check_option(standardize, (False, True), name="standardize", caller=caller)
    rtol = _check_rtol(rtol, caller)
    Sxx, Syy, Sxy = centred_blocks(snap, a, b, caller=caller)
    if standardize:
        Sxx, dx = _standardise(Sxx, name=a, caller=caller)
        Syy, dy = (Sxx, dx) if b == a else _standardise(Syy, name=b, caller=caller)
        Sxy = Sxx if b == a else Sxy * torch.outer(dx, dy)
    opts = dict(threshold=threshold, keep=keep, cut=cut, caller=caller)
    sx = _reduced(block_spectrum(snap, a, rtol=rtol, standardized=standardize), name=a, **opts)
    sy = sx if b == a else _reduced(block_spectrum(snap, b, rtol=rtol, standardized=standardize), name=b, **opts)
    _check_ranks(
        snap.n, sx.values.numel(), sy.values.numel(), caller=caller, a=a, b=b,
        fix=f"Lower threshold (now {threshold:g}) or use more samples.",
    )
    if b == a:
        return 1.0
    rho = singular_values(_whitened_cross(sx, sy, Sxy))
    return float(rho.mean())


# --------------------------------------------------------------------- PWCCA
def pwcca_from(
    snap: MomentsSnapshot, a: str, b: str, *, side: str = "x", rtol: float = DEFAULT_RTOL
) -> float:
    """Projection-weighted CCA (Morcos et al. 2018) with the paper's weights.

    With canonical variates h_i = X_c a_i (unit norm) on the weighting side,
    alpha~_i = sum_j |<h_i, x_j>| over that side's units x_j, and
    PWCCA = sum_i alpha_i rho_i / sum_i alpha_i over the
    min(rank_x, rank_y) canonical pairs. From moments,
    <h_i, x_j> = (S_xx a_i)_j.

    Parameters
    ----------
    snap : MomentsSnapshot
        Moments holding the (a, a), (b, b) and (a, b) blocks.
    a, b : str
        Block names (X and Y).
    side : {"x", "y"}, default="x"
        Whose canonical variates and units give the weights (the paper uses
        the representation being explained, X).
    rtol : float, default=1e-10
        Relative eigenvalue tolerance.

    Returns
    -------
    float in [0, 1]; asymmetric: pwcca(a, b) != pwcca(b, a) in general.

    Notes
    -----
    Same sample requirements as :func:`cca_from`. Invariant to translation,
    orthogonal maps and isotropic scaling of either block (the weights are
    not invariant to general invertible maps of the weighting side). Tested
    against the paper formula written on the arrays with QR/SVD
    (tests/measures/test_cca.py, 1e-8). google/svcca ``compute_pwcca`` and
    anatome ``pwcca_distance`` compute different weights (see METHODS A7);
    they are not offered here.

    References
    ----------
    .. [1] Morcos, Raghu, Bengio, "Insights on representational similarity in
       neural networks with canonical correlation", NeurIPS 2018,
       arXiv:1806.05759.
    """
    caller = "pwcca"
    check_option(side, ("x", "y"), name="side", caller=caller)
    rtol = _check_rtol(rtol, caller)
    if side == "y":
        a, b = b, a
    res, extra = _cca_parts(snap, a, b, rtol=rtol, caller=caller, need_u=True)
    if extra is None:  # a block with itself
        return 1.0
    B, U = extra
    c = res.rho.size
    # <h_i, x_j> = (S_xx a_i)_j = (B u_i)_j: B = V diag(lambda^{1/2}) (eigen whitening) or L_x (Cholesky whitening)
    proj = B @ U[:, :c]  # (p, c)
    w = proj.abs().sum(dim=0).cpu().numpy()
    return float((w * res.rho).sum() / w.sum())


# ----------------------------------------------------------------- registry
def _cca_compute(snaps: Mapping[str, Any], a: str, b: str, **opts: Any) -> float:
    return cca_from(snaps["moments"], a, b, **opts)


def _svcca_compute(snaps: Mapping[str, Any], a: str, b: str, **opts: Any) -> float:
    return svcca_from(snaps["moments"], a, b, **opts)


def _pwcca_compute(snaps: Mapping[str, Any], a: str, b: str, **opts: Any) -> float:
    return pwcca_from(snaps["moments"], a, b, **opts)


def _request(A, B, *, engine=None, **_: Any):
    return moments_request(A, B, engine=engine)


register(
    MeasureSpec(
        name="cca",
        statistic="moments",
        kind="similarity",
        invariances=("invertible linear", "translation"),
        value_range="[0, 1]",
        reference="float64 QR + SVD of the centred arrays; google/svcca cca_core cca_coef1; cca-zoo CCA",
        paper="Hotelling 1936; Kornblith et al., ICML 2019, arXiv:1905.00414 (rho-bar, R2_CCA)",
        statistics=_request,
        compute=_cca_compute,
        options={"summary": "mean", "rtol": DEFAULT_RTOL},
    )
)

register(
    MeasureSpec(
        name="svcca",
        statistic="moments",
        kind="similarity",
        invariances=("orthogonal", "isotropic scaling", "translation"),
        value_range="[0, 1]",
        reference="float64 SVD + QR + SVD of the centred arrays; anatome/johnmwu conventions as options",
        paper="Raghu, Gilmer, Yosinski, Sohl-Dickstein, NeurIPS 2017, arXiv:1706.05806",
        statistics=_request,
        compute=_svcca_compute,
        options={"threshold": 0.99, "keep": "variance", "cut": "inclusive", "standardize": False, "rtol": DEFAULT_RTOL},
    )
)

register(
    MeasureSpec(
        name="pwcca",
        statistic="moments",
        kind="similarity",
        invariances=("orthogonal", "isotropic scaling", "translation"),
        value_range="[0, 1]",
        reference="Morcos et al.'s weight formula on the arrays (float64 QR + SVD)",
        paper="Morcos, Raghu, Bengio, NeurIPS 2018, arXiv:1806.05759",
        statistics=_request,
        compute=_pwcca_compute,
        options={"side": "x", "rtol": DEFAULT_RTOL},
        symmetric=False,
    )
)
