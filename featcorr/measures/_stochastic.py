"""Stochastic shape metrics (Duong et al. 2023): distances between networks with noisy responses.

Each network answers condition i (an input) with a distribution over repeats
(dropout, sampling, neural noise). The Gaussian metric compares per-condition
means and covariances with a 2-Wasserstein ground metric, the energy metric
compares the repeats themselves; both minimise over a group of alignments
(orthogonal maps, permutations, or none) by alternating optimisation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .._validation import as_tensor, check_finite, check_option
from ..errors import FeatcorrError, NotEnoughSamplesError, ShapeError, UnknownOptionError
from ..stats import ReservoirSnapshot
from ._registry import MeasureSpec, register
from ._rsa import sample_request

__all__ = ["stochastic_shape_distance", "gaussian_shape_distance", "stochastic_shape_from"]

METHODS = ("gaussian", "energy")
GROUPS = ("orthogonal", "permutation", "identity")
_GROUP_ALIASES = {"orth": "orthogonal", "perm": "permutation"}
INITS = ("means", "random")
ESTIMATORS = ("v", "u")


# ----------------------------------------------------------------- helpers
def _polar(K: torch.Tensor) -> torch.Tensor:
    """Orthogonal T maximising tr(T^T K): the polar factor P Q^T of K = P diag Q^T."""
    P, _, Qh = torch.linalg.svd(K)
    return P @ Qh


def _group_solve(K: torch.Tensor, group: str) -> torch.Tensor:
    """T in the group maximising sum_jk K_jk T_jk, i.e. minimising ||A - B T|| for K = B^T A."""
    if group == "orthogonal":
        return _polar(K)
    if group == "permutation":
        from scipy.optimize import linear_sum_assignment

        r, c = linear_sum_assignment(K.detach().cpu().numpy(), maximize=True)
        T = torch.zeros_like(K)
        T[torch.as_tensor(r), torch.as_tensor(c)] = 1.0
        return T
    return torch.eye(K.shape[0], dtype=K.dtype, device=K.device)


def _init_T(mx: torch.Tensor, my: torch.Tensor, group: str, init: str, seed: int) -> torch.Tensor:
    p = mx.shape[1]
    if group == "identity":
        return torch.eye(p, dtype=mx.dtype, device=mx.device)
    if init == "means":
        return _group_solve(my.T @ mx, group)
    g = torch.Generator().manual_seed(int(seed))
    if group == "orthogonal":
        Q, R = torch.linalg.qr(torch.randn(p, p, generator=g, dtype=torch.float64))
        return (Q * torch.sign(torch.diagonal(R))).to(mx.device)
    perm = torch.randperm(p, generator=g)
    return torch.eye(p, dtype=mx.dtype)[perm].to(mx.device)


def _resolve(group: str, init: str, max_iter: Any, tol: Any, caller: str) -> str:
    group = _GROUP_ALIASES.get(group, group)
    check_option(group, GROUPS, name="group", caller=caller)
    check_option(init, INITS, name="init", caller=caller)
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise UnknownOptionError(f"{caller}: max_iter must be a positive int, got {max_iter!r}.")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0:
        raise UnknownOptionError(f"{caller}: tol must be a float >= 0 (relative decrease of the objective), got {tol!r}.")
    return group


def _pad(A: torch.Tensor, p: int) -> torch.Tensor:
    if A.shape[-1] == p:
        return A
    pad = torch.zeros(*A.shape[:-1], p - A.shape[-1], dtype=A.dtype, device=A.device)
    return torch.cat([A, pad], dim=-1)


def _cov_sqrt(C: torch.Tensor, eps: float) -> torch.Tensor:
    """Square roots of (C_i^T C_i + eps I) from the thin SVD of C_i (M, r, p) -> (M, p, p); no eigenvalue clipping."""
    _, s, Vh = torch.linalg.svd(C, full_matrices=False)  # s (M, k), Vh (M, k, p)
    V = Vh.transpose(1, 2)
    S = (V * torch.sqrt(s * s + eps)[:, None, :]) @ Vh
    if eps > 0:
        p = C.shape[2]
        eye = torch.eye(p, dtype=C.dtype, device=C.device)
        S = S + math.sqrt(eps) * (eye - V @ Vh)
    return S


# ----------------------------------------------------------------- Gaussian
def _check_alpha(alpha: Any, caller: str) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0.0 <= float(alpha) <= 2.0:
        raise UnknownOptionError(
            f"{caller}: alpha must be in [0, 2] (0 covariances only, 1 2-Wasserstein, 2 means only), got {alpha!r}."
        )
    return float(alpha)


def _gaussian_fit(
    mx: torch.Tensor, Sx: torch.Tensor, my: torch.Tensor, Sy: torch.Tensor, *, alpha: float, group: str, init: str,
    max_iter: int, tol: float, seed: int,
) -> tuple[float, torch.Tensor, int]:
    """Alternating minimisation of (1/M) sum_i [alpha ||mx_i - my_i T||^2 + (2 - alpha) B^2(Sx_i^2, T^T Sy_i^2 T)].

    Returns (squared distance, T, iterations). B^2(A^2, B^2) = min_U ||A - B U||_F^2
    over orthogonal U, so both steps are Procrustes problems and the
    objective, a sum of squared residuals, never increases and is never negative.
    """
    M = mx.shape[0]
    T = _init_T(mx, my, group, init, seed)

    def u_step(T: torch.Tensor) -> tuple[float, torch.Tensor]:
        # U_i = argmin_U ||Sx_i - T^T Sy_i U|| = polar((T^T Sy_i)^T Sx_i); residual form of B^2
        TSy = T.T @ Sy  # (M, p, p)
        U = _polar(TSy.transpose(1, 2) @ Sx)
        res_cov = Sx - TSy @ U
        res_mean = mx - my @ T
        f = (alpha * float((res_mean * res_mean).sum()) + (2.0 - alpha) * float((res_cov * res_cov).sum())) / M
        return f, U

    f, U = u_step(T)
    it = 0
    if group != "identity":
        for it in range(1, max_iter + 1):
            # ||Sx_i - T^T Sy_i U_i|| = ||Sx_i - U_i^T Sy_i T||: Procrustes of rows [my; U^T Sy] onto [mx; Sx]
            K = alpha * (my.T @ mx) + (2.0 - alpha) * (Sy @ U @ Sx).sum(dim=0)
            T_new = _group_solve(K, group)
            f_new, U_new = u_step(T_new)
            if f_new > f:  # the steps never increase f in exact arithmetic: a rise is rounding or a cycle
                break
            done = f_new == 0.0 or f - f_new <= tol * f
            T, U, f = T_new, U_new, f_new
            if done:
                break
    return f, T, it


def gaussian_shape_distance(
    means_x: Any, covs_x: Any, means_y: Any, covs_y: Any, *, alpha: float = 1.0, group: str = "orthogonal",
    init: str = "means", max_iter: int = 1000, tol: float = 1e-10, seed: int = 0, squared: bool = False,
) -> float:
    """Gaussian stochastic shape distance from per-condition means and covariances.

    d_alpha = min over T in the group of
    sqrt((1/M) sum_i [alpha ||mu_i - T mu'_i||^2 + (2 - alpha) B^2(Sigma_i, T Sigma'_i T^T)]),
    B^2(A, B) = tr A + tr B - 2 ||A^(1/2) B^(1/2)||_* the squared Bures distance.

    Parameters
    ----------
    means_x, means_y : array-like of shape (n_conditions, p) and (n_conditions, q)
    covs_x, covs_y : array-like of shape (n_conditions, p, p) and (n_conditions, q, q)
        Symmetric positive semi-definite covariances; the narrower network is
        zero-padded to the wider one.
    alpha, group, init, max_iter, tol, seed, squared
        As in :func:`stochastic_shape_distance`.

    Returns
    -------
    float >= 0.

    Notes
    -----
    The covariance square roots come from an eigendecomposition; eigenvalues
    within 1e-10 of the largest of 0 are rounding of a PSD matrix and are
    set to 0, clearly negative ones raise. Same optimisation as
    :func:`stochastic_shape_distance`. Tested against the commuting
    (diagonal) closed form sum (sqrt(a) - sqrt(b))^2, a scipy ``sqrtm`` Bures
    formula and alpha = 2 Procrustes of the means
    (tests/measures/test_stochastic_shape.py), and netrep
    ``GaussianStochasticMetric`` at alpha = 1 to 1e-6 (tests/anchors/test_rsa_anchors.py).

    References
    ----------
    .. [1] Duong et al., ICLR 2023, arXiv:2211.11665.
    """
    caller = "gaussian_shape_distance"
    alpha = _check_alpha(alpha, caller)
    group = _resolve(group, init, max_iter, tol, caller)
    mx = as_tensor(means_x, name="means_x", caller=caller).to(torch.float64)
    my = as_tensor(means_y, name="means_y", caller=caller).to(torch.float64)
    cx = as_tensor(covs_x, name="covs_x", caller=caller).to(torch.float64)
    cy = as_tensor(covs_y, name="covs_y", caller=caller).to(torch.float64)
    for t, nm in ((mx, "means_x"), (my, "means_y"), (cx, "covs_x"), (cy, "covs_y")):
        check_finite(t, name=nm, caller=caller)
    if mx.ndim != 2 or my.ndim != 2 or cx.ndim != 3 or cy.ndim != 3:
        raise ShapeError(
            f"{caller}: expected means of shape (n_conditions, p) and covariances (n_conditions, p, p); got "
            f"{tuple(mx.shape)}, {tuple(cx.shape)}, {tuple(my.shape)}, {tuple(cy.shape)}."
        )
    if cx.shape != (mx.shape[0], mx.shape[1], mx.shape[1]) or cy.shape != (my.shape[0], my.shape[1], my.shape[1]):
        raise ShapeError(
            f"{caller}: covariances must be (n_conditions, p, p) matching the means; got means_x {tuple(mx.shape)} "
            f"with covs_x {tuple(cx.shape)} and means_y {tuple(my.shape)} with covs_y {tuple(cy.shape)}."
        )
    if mx.shape[0] != my.shape[0]:
        raise ShapeError(f"{caller}: X has {mx.shape[0]} conditions but Y has {my.shape[0]}; they must match.")
    Sx = _psd_sqrt(cx, name="covs_x", caller=caller)
    Sy = _psd_sqrt(cy, name="covs_y", caller=caller)
    p = max(mx.shape[1], my.shape[1])
    mx, my = _pad(mx, p), _pad(my, p)
    Sx, Sy = _pad(_pad(Sx, p).transpose(1, 2), p), _pad(_pad(Sy, p).transpose(1, 2), p)
    f, _, _ = _gaussian_fit(mx, Sx, my.to(mx.device), Sy.to(mx.device), alpha=alpha, group=group, init=init,
                            max_iter=max_iter, tol=tol, seed=seed)
    return f if squared else math.sqrt(f)


def _psd_sqrt(C: torch.Tensor, *, name: str, caller: str) -> torch.Tensor:
    if not torch.allclose(C, C.transpose(1, 2), rtol=1e-12, atol=0.0):
        raise ShapeError(f"{caller}: {name} are not symmetric; pass covariance matrices.")
    w, V = torch.linalg.eigh(C)
    scale = w.abs().amax(dim=1, keepdim=True)
    if bool((w < -1e-10 * scale).any()):
        raise FeatcorrError(
            f"{caller}: {name} has negative eigenvalues (smallest {float(w.min()):.3g}); covariances must be "
            "positive semi-definite."
        )
    # eigenvalues within rounding of 0 (|w| <= 1e-10 max) are 0: the square root of PSD rounding noise
    w = torch.where(w < 0, torch.zeros_like(w), w)
    return (V * torch.sqrt(w)[:, None, :]) @ V.transpose(1, 2)


# ----------------------------------------------------------------- energy
def _pair_dists(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """(M, ra, rb) Euclidean distances by direct differences (no Gram cancellation)."""
    return torch.cdist(A, B, compute_mode="donot_use_mm_for_euclid_dist")


def _energy(
    X: torch.Tensor, Y: torch.Tensor, *, group: str, init: str, max_iter: int, tol: float, seed: int,
    estimator: str, squared: bool, caller: str,
) -> float:
    """Half energy distance per condition, averaged, minimised over the group by IRLS."""
    T = _init_T(X.mean(dim=1), Y.mean(dim=1), group, init, seed)
    R = _pair_dists(X, Y @ T)  # (M, rx, ry)
    loss = float(R.mean())
    if group != "identity":
        for _ in range(max_iter):
            if loss == 0.0:
                break
            # IRLS (Weiszfeld) for min sum ||x_a - y_b T||: weights 1/residual, floored at 1e-12 of the mean
            # residual so that an exactly matched pair does not get an infinite weight
            W = 1.0 / torch.clamp(R, min=1e-12 * loss)
            K = (Y.transpose(1, 2) @ W.transpose(1, 2) @ X).sum(dim=0)  # sum_m,a,b w_mab y_mb^T x_ma
            T_new = _group_solve(K, group)
            R_new = _pair_dists(X, Y @ T_new)
            loss_new = float(R_new.mean())
            if loss_new > loss:  # IRLS never increases the sum in exact arithmetic; keep the better T
                break
            done = loss - loss_new <= tol * loss
            T, R, loss = T_new, R_new, loss_new
            if done:
                break
    rx, ry = X.shape[1], Y.shape[1]
    wx = _pair_dists(X, X).sum(dim=(1, 2))  # (M,) sum over ordered pairs, zeros on the diagonal
    wy = _pair_dists(Y, Y).sum(dim=(1, 2))
    if estimator == "u":
        within = 0.5 * (wx / (rx * (rx - 1)) + wy / (ry * (ry - 1)))
    else:
        within = 0.5 * (wx / (rx * rx) + wy / (ry * ry))
    v = float((R.mean(dim=(1, 2)) - within).mean())
    if v < 0.0:
        if estimator == "v" and -v <= 1e-12 * loss:
            v = 0.0  # the plug-in energy distance is >= 0; this is rounding of an exact 0
        elif not squared:
            raise FeatcorrError(
                f"{caller}: the unbiased (estimator='u') squared energy distance is negative ({v:.3g}): at this "
                "number of repeats the two networks' response distributions are indistinguishable. Pass "
                "squared=True to get the signed squared value, or estimator='v' (plug-in, never negative)."
            )
    return v if squared else math.sqrt(v)


# ----------------------------------------------------------------- array API
def _as_3d(A: Any, *, name: str, caller: str) -> torch.Tensor:
    t = as_tensor(A, name=name, caller=caller)
    t = t.to(torch.float64)
    if t.ndim != 3:
        raise ShapeError(
            f"{caller}: {name} has shape {tuple(t.shape)}; expected (n_conditions, n_repeats, n_features): the "
            "responses to each condition (input) over repeated stochastic passes. For 2-D rows ordered condition "
            "by condition use X.reshape(n_conditions, n_repeats, -1)."
        )
    check_finite(t, name=name, caller=caller)
    if t.shape[0] < 2:
        raise NotEnoughSamplesError(f"{caller}: {name} has {t.shape[0]} condition(s) while a minimum of 2 is required.")
    if t.shape[1] < 2:
        raise NotEnoughSamplesError(
            f"{caller}: {name} has {t.shape[1]} repeat(s) per condition while a minimum of 2 is required to see "
            "its noise; record more stochastic passes (e.g. dropout on) per input."
        )
    if t.shape[2] < 1:
        raise ShapeError(f"{caller}: {name} has 0 features.")
    return t


def stochastic_shape_distance(
    X: Any, Y: Any, *, method: str = "gaussian", alpha: float = 1.0, group: str = "orthogonal", init: str = "means",
    max_iter: int = 1000, tol: float = 1e-10, seed: int = 0, ddof: int = 1, eps: float = 0.0,
    estimator: str = "v", squared: bool = False,
) -> float:
    """Stochastic shape metric between two networks' repeated noisy responses (Duong et al. 2023).

    Parameters
    ----------
    X : array-like of shape (n_conditions, n_repeats_x, p)
        Responses of network 1: for each condition (input), ``n_repeats_x``
        stochastic passes (dropout, sampling, trials). The axes are explicit
        here; elsewhere in featcorr a 3-D array means tokens.
    Y : array-like of shape (n_conditions, n_repeats_y, q)
        Responses of network 2 to the same conditions in the same order. The
        narrower network is zero-padded to max(p, q) features.
    method : {"gaussian", "energy"}, default="gaussian"
        ``"gaussian"``: each condition summarised by its mean and covariance,
        compared with the alpha-interpolated 2-Wasserstein ground metric;
        ``"energy"``: the repeats themselves, compared with the (half)
        energy distance.
    alpha : float in [0, 2], default=1.0
        Gaussian only: weight of means (alpha) vs covariances (2 - alpha);
        1 is the 2-Wasserstein distance, 2 compares means only, 0 covariances only.
    group : {"orthogonal", "permutation", "identity"}, default="orthogonal"
        Alignments minimised over (netrep's "orth"/"perm" also accepted).
    init : {"means", "random"}, default="means"
        Start of the alternating optimisation: Procrustes of the condition
        means (netrep's default), or a random element of the group drawn from ``seed``.
    max_iter : int, default=1000
    tol : float, default=1e-10
        Stop when an iteration lowers the objective by at most ``tol`` times its value.
    seed : int, default=0
        Seed of ``init="random"``.
    ddof : int, default=1
        Gaussian only: covariances divide the scatter by n_repeats - ddof
        (1 as ``numpy.cov``).
    eps : float, default=0.0
        Gaussian only: add eps * I to every covariance (netrep's
        ``pairwise_distances`` adds 1e-6); not needed here, since square
        roots come from an SVD of the centred repeats.
    estimator : {"v", "u"}, default="v"
        Energy only: within-network terms averaged over all ordered repeat
        pairs including a == b ("v", plug-in: never negative, a metric between
        the empirical distributions) or over distinct pairs ("u", netrep's;
        unbiased, can be negative).
    squared : bool, default=False
        Return d^2 instead of d (for "u", the signed squared value).

    Returns
    -------
    float >= 0
        A distance: 0 for networks equal up to the group (rotated, permuted),
        symmetric, satisfies the triangle inequality at the global optimum.

    Notes
    -----
    Gaussian (alpha in [0, 2]): d^2 = min_T (1/M) sum_i [alpha ||mu_i - T mu'_i||^2
    + (2 - alpha) B^2(Sigma_i, T Sigma'_i T^T)], B^2(A, B) = tr A + tr B - 2 ||A^(1/2) B^(1/2)||_*.
    Since B^2(A, B) = min_U ||A^(1/2) - B^(1/2) U||_F^2 over orthogonal U,
    the optimisation alternates U_i and T steps, each a Procrustes problem;
    every value is a sum of squared residuals (never negative, no clipping).
    netrep's fit weights the stacked rows by alpha and 2 - alpha, i.e. its
    objective weights alpha^2 and (2 - alpha)^2 while its score uses alpha and
    2 - alpha; they agree at alpha = 1. featcorr minimises the score itself.
    Energy: per condition E||x - T y|| - (E||x - x'|| + E||y - y'||) / 2, averaged
    over conditions, square-rooted: half the usual energy distance, as netrep's
    ``EnergyStochasticMetric``; T by iteratively reweighted Procrustes.
    Both problems are non-convex: the result is the best alignment found from
    ``init``, an upper bound on the exact distance.
    Invariances: the group only (orthogonal maps / permutations of units).
    Means are compared as given, so a translation of one network's responses
    changes the distance (centre each network over conditions first if that
    is wanted); not isotropic scaling (a distance in the units of the responses).
    Tested against closed forms (commuting covariances, planted rotations and
    permutations, alpha = 2 equals Procrustes of means) in
    tests/measures/test_stochastic_shape.py and against netrep
    ``GaussianStochasticMetric`` / ``EnergyStochasticMetric`` in
    tests/anchors/test_rsa_anchors.py.

    References
    ----------
    .. [1] Duong, Zhou, Nassar, Berman, Olieslagers, Williams, "Representational
       Dissimilarity Metric Spaces for Stochastic Neural Networks", ICLR 2023,
       arXiv:2211.11665.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import ortho_group
    >>> from featcorr.measures import stochastic_shape_distance
    >>> X = np.random.default_rng(0).normal(size=(20, 30, 4))  # 20 inputs, 30 noisy passes, 4 units
    >>> Q = ortho_group.rvs(4, random_state=1)
    >>> stochastic_shape_distance(X, X @ Q) < 1e-6
    True
    """
    caller = "stochastic_shape_distance"
    check_option(method, METHODS, name="method", caller=caller)
    group = _resolve(group, init, max_iter, tol, caller)
    tx = _as_3d(X, name="X", caller=caller)
    ty = _as_3d(Y, name="Y", caller=caller).to(tx.device)
    if tx.shape[0] != ty.shape[0]:
        raise ShapeError(
            f"{caller}: X has {tx.shape[0]} conditions but Y has {ty.shape[0]}; both networks must answer the same "
            "conditions in the same order (axis 0)."
        )
    p = max(tx.shape[2], ty.shape[2])
    tx, ty = _pad(tx, p), _pad(ty, p)
    if method == "energy":
        check_option(estimator, ESTIMATORS, name="estimator", caller=caller)
        return _energy(tx, ty, group=group, init=init, max_iter=max_iter, tol=tol, seed=seed, estimator=estimator,
                       squared=squared, caller=caller)
    alpha = _check_alpha(alpha, caller)
    if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)) or ddof < 0:
        raise UnknownOptionError(f"{caller}: ddof must be a non-negative int, got {ddof!r}.")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise UnknownOptionError(f"{caller}: eps must be a float >= 0, got {eps!r}.")
    for t, nm in ((tx, "X"), (ty, "Y")):
        if t.shape[1] <= ddof:
            raise NotEnoughSamplesError(
                f"{caller}: {nm} has {t.shape[1]} repeats, but covariances with ddof={ddof} need more than {ddof}."
            )
    mx, my = tx.mean(dim=1), ty.mean(dim=1)
    Sx = _cov_sqrt((tx - mx[:, None, :]) / math.sqrt(tx.shape[1] - ddof), float(eps))
    Sy = _cov_sqrt((ty - my[:, None, :]) / math.sqrt(ty.shape[1] - ddof), float(eps))
    f, _, _ = _gaussian_fit(mx, Sx, my, Sy, alpha=alpha, group=group, init=init, max_iter=max_iter, tol=tol,
                            seed=seed)
    return f if squared else math.sqrt(f)


# ----------------------------------------------------------------- registry
def stochastic_shape_from(snap: ReservoirSnapshot, a: str, b: str, *, repeats: int | None, **options: Any) -> float:
    """Stochastic shape distance of blocks ``a`` and ``b`` whose rows are ``repeats`` passes per condition.

    Rows must come condition by condition: rows [i * repeats, (i + 1) * repeats)
    are the repeats of condition i (a loader that yields each input
    ``repeats`` times in a row with dropout on, or a (n_conditions, repeats, p)
    array passed with ``pool="samples"``). The sample must hold every row.
    """
    caller = "stochastic_shape"
    if repeats is None or isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 2:
        raise UnknownOptionError(
            f"{caller}: pass repeats=<int >= 2>, the number of consecutive rows per condition (got {repeats!r}); "
            "for arrays of shape (n_conditions, n_repeats, p) use featcorr.measures.stochastic_shape_distance, or "
            "similarity(..., pool='samples', repeats=n_repeats)."
        )
    if not snap.exact:
        raise NotEnoughSamplesError(
            f"{caller}: the reservoir kept {snap.m} of {snap.n_seen} rows, which breaks the groups of repeats; "
            f"pass sample_size >= {snap.n_seen}."
        )
    X = snap.rows(a)
    n = X.shape[0]
    if n % repeats:
        raise ShapeError(
            f"{caller}: {n} rows are not a whole number of conditions of repeats={repeats} rows each; for a "
            "(n_conditions, n_repeats, p) array pass pool='samples' (default 'flatten' merges repeats into features)."
        )
    Y = X if b == a else snap.rows(b)
    return stochastic_shape_distance(X.reshape(n // repeats, repeats, -1), Y.reshape(n // repeats, repeats, -1),
                                     **options)


_OPTIONS = {
    "repeats": None, "method": "gaussian", "alpha": 1.0, "group": "orthogonal", "init": "means", "max_iter": 1000,
    "tol": 1e-10, "seed": 0, "ddof": 1, "eps": 0.0, "estimator": "v", "squared": False, "sample_size": 100_000,
}


def _compute(snaps: Mapping[str, Any], a: str, b: str, *, repeats: int | None, sample_size: int, **options: Any) -> float:
    return stochastic_shape_from(snaps["sample"], a, b, repeats=repeats, **options)


register(
    MeasureSpec(
        name="stochastic_shape",
        statistic="sample",
        kind="distance",
        invariances=("group: orthogonal (default) / permutation",),
        value_range="[0, inf)",
        reference="netrep GaussianStochasticMetric / EnergyStochasticMetric; Bures closed forms",
        paper="Duong, Zhou, Nassar, Berman, Olieslagers, Williams, ICLR 2023, arXiv:2211.11665",
        statistics=lambda A, B, *, engine=None, **opts: sample_request(A, B, **opts),
        compute=_compute,
        options=_OPTIONS,
    )
)
