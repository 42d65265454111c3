"""Orthogonal Procrustes distance and generalized shape metrics (partial whitening) from moments.

Both compare two centred representations after the best rotation of one
onto the other; the best rotation's score is the nuclear norm of the
(transformed) cross block, so they are exact functions of S_xx, S_yy, S_xy.
Unequal widths are zero-padded *conceptually*: padding adds zero singular
values to the cross block and changes no norm.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .._validation import check_not_constant, check_option
from ..errors import UnknownOptionError
from ..stats import MomentsSnapshot
from ._cca import DEFAULT_RTOL, _check_rtol, block_spectrum
from ._common import moments_request
from ._linalg import singular_values
from ._registry import MeasureSpec, register

__all__ = ["procrustes_from", "shape_metric_from", "COVARIANCE_NORMALISATIONS"]

_METRICS = ("angular", "euclidean")
#: How the covariance is normalised before partial whitening (see shape_metric_from).
COVARIANCE_NORMALISATIONS = ("trace", "population", "unnormalized")

# |cos| may exceed 1 by rounding only; anything beyond this many ulps is a bug, not rounding.
_ROUNDING = 64 * 2.220446049250313e-16


def _nuclear(M: torch.Tensor) -> float:
    """||M||_*: sum of the singular values, values only (Gram eigenvalues when certified, else gesdd)."""
    return float(singular_values(M).sum())


def _traces(snap: MomentsSnapshot, a: str, b: str, *, caller: str) -> tuple[float, float]:
    """(tr S_aa, tr S_bb) from the diagonals (full or diagonal-only self blocks); raises on a constant block."""
    tx = snap.trace(a)
    ty = tx if b == a else snap.trace(b)
    check_not_constant(tx, name=f"block {a!r}", caller=caller)
    check_not_constant(ty, name=f"block {b!r}", caller=caller)
    return tx, ty


def _arccos_of_cosine(c: float, *, caller: str) -> float:
    """arccos of a cosine that is <= 1 in exact arithmetic (rounding overshoot of a few ulps maps to 0)."""
    if c > 1.0:
        if c - 1.0 > _ROUNDING:
            raise ArithmeticError(f"{caller}: cosine {c!r} exceeds 1 beyond rounding; please report this bug.")
        return 0.0
    return math.acos(c)


def procrustes_from(snap: MomentsSnapshot, a: str, b: str, *, metric: str = "angular") -> float:
    """Orthogonal Procrustes distance of blocks ``a`` and ``b`` from their moments.

    Each representation is centred and scaled to unit Frobenius norm
    (X~ = X_c / ||X_c||_F); r = max_Q <X~ Q, Y~> = ||X~^T Y~||_* =
    ||S_xy||_* / sqrt(tr S_xx tr S_yy).

    Parameters
    ----------
    snap : MomentsSnapshot
        Moments holding the (a, b) block and the diagonals of (a, a) and
        (b, b) (``Moments(self_blocks="diagonal")`` suffices).
    a, b : str
        Block names.
    metric : {"angular", "euclidean"}, default="angular"
        ``"angular"``: arccos(r) in radians, in [0, pi/2] (Williams et al.);
        ``"euclidean"``: sqrt(2 - 2 r) = min_Q ||X~ Q - Y~||_F, in [0, sqrt(2)]
        (Ding et al.'s d_Proc).

    Returns
    -------
    float, a distance: 0 iff the centred representations agree up to a
    rotation/reflection and scale. Symmetric; satisfies the triangle inequality.

    Notes
    -----
    Unequal widths are zero-padded (no effect on r). Invariant to translation,
    orthogonal maps and isotropic scaling; not to general invertible maps.
    Equals :func:`shape_metric_from` with alpha=1. Tested against SVD of the
    centred, normalised arrays (tests/measures/test_procrustes.py, 1e-8) and
    netrep ``LinearMetric(alpha=1)`` (tests/anchors).

    References
    ----------
    .. [1] Ding, Denain, Steinhardt, "Grounding Representation Similarity with
       Statistical Testing", NeurIPS 2021, arXiv:2108.01661.
    .. [2] Williams, Kunz, Kornblith, Linderman, "Generalized Shape Metrics on
       Neural Representations", NeurIPS 2021, arXiv:2110.14739.
    """
    caller = "procrustes"
    check_option(metric, _METRICS, name="metric", caller=caller)
    tx, ty = _traces(snap, a, b, caller=caller)
    if b == a:
        return 0.0
    r = _nuclear(snap.comoment(a, b)) / math.sqrt(tx * ty)
    theta = _arccos_of_cosine(r, caller=caller)
    if metric == "angular":
        return theta
    return 2.0 * math.sin(theta / 2.0)  # = sqrt(2 - 2 r), without cancellation near r = 1


def _check_alpha(alpha: Any, caller: str) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise UnknownOptionError(
            f"{caller}: alpha={alpha!r} is outside [0, 1]; alpha=1 compares after rotations only (Procrustes), "
            "alpha=0 after full whitening (CCA-like), values in between partially whiten."
        )
    return float(alpha)


def _partial_whitening(
    snap: MomentsSnapshot, name: str, *, alpha: float, covariance: str, rtol: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(V, d) with phi(X) = X_c V diag(d), d rescaled so that ||phi(X)||_F^2 = tr S (netrep's preserve_variance)."""
    S = snap.comoment(name, name)
    n = snap.n
    sp = block_spectrum(snap, name, rtol=rtol)
    lam = sp.values
    if covariance == "trace":
        scale = float(torch.trace(S)) / S.shape[0]
    elif covariance == "population":
        scale = float(n)
    else:
        scale = 1.0
    d = alpha + (1.0 - alpha) / torch.sqrt(lam / scale)
    d = d * torch.sqrt(lam.sum() / (lam * d * d).sum())
    return sp.vectors, d


def shape_metric_from(
    snap: MomentsSnapshot,
    a: str,
    b: str,
    *,
    alpha: float = 1.0,
    metric: str = "angular",
    covariance: str = "trace",
    rtol: float = DEFAULT_RTOL,
) -> float:
    """Generalized shape metric with partial whitening (Williams et al. 2021).

    phi_alpha(X) = X_c V diag(alpha + (1 - alpha) lambda^{-1/2}) V^T with
    (lambda, V) the eigen-pairs of the *normalised* covariance C of X_c
    (see ``covariance``), rescaled so that ||phi(X)||_F^2 = ||X_c||_F^2.
    Then, with N = ||phi(X)^T phi(Y)||_*:

    - angular: arccos(N / (||phi X||_F ||phi Y||_F)), radians in [0, pi/2];
    - euclidean: sqrt(||phi X||_F^2 + ||phi Y||_F^2 - 2 N) (data units; grows
      like sqrt(n), as netrep's).

    Parameters
    ----------
    snap : MomentsSnapshot
        Moments holding the (a, a), (b, b) and (a, b) blocks.
    a, b : str
        Block names.
    alpha : float in [0, 1], default=1.0
        1: rotations only (equals :func:`procrustes_from`); 0: full whitening
        (angular = arccos(sum_i rho_i / sqrt(rank_x rank_y))).
    metric : {"angular", "euclidean"}, default="angular"
    covariance : {"trace", "population", "unnormalized"}, default="trace"
        Normalisation of the covariance that is partially whitened:
        ``"trace"``: C = p S_xx / tr(S_xx) (mean eigenvalue 1), so the mix of
        alpha and lambda^{-1/2} is invariant to the data's scale and to n;
        ``"population"``: C = S_xx / n (depends on the data's scale);
        ``"unnormalized"``: C = S_xx = X_c^T X_c, netrep's ``whiten`` (depends
        on n and scale). All three agree at alpha = 0 and alpha = 1.
    rtol : float, default=1e-10
        Directions with eigenvalue <= rtol x the largest carry no variance
        and are left out of phi (exact: X_c has no component along them).
        netrep instead clips eigenvalues at 1e-7, which changes its Euclidean
        rescaling when zero-padding.

    Returns
    -------
    float, a distance (0 when equal up to the allowed transformations);
    symmetric and satisfies the triangle inequality.

    Notes
    -----
    Invariant to translation and orthogonal maps; the angular metric also to
    isotropic scaling, and at alpha=0 to any invertible linear map. Unequal
    widths are zero-padded (no effect). Tested against an SVD formula on the
    arrays (tests/measures/test_procrustes.py, 1e-8) and netrep
    ``LinearMetric(alpha, score_method=...)`` with ``covariance="unnormalized"``
    (tests/anchors).

    References
    ----------
    .. [1] Williams, Kunz, Kornblith, Linderman, "Generalized Shape Metrics on
       Neural Representations", NeurIPS 2021, arXiv:2110.14739.
    """
    caller = "shape_metric"
    alpha = _check_alpha(alpha, caller)
    check_option(metric, _METRICS, name="metric", caller=caller)
    check_option(covariance, COVARIANCE_NORMALISATIONS, name="covariance", caller=caller)
    rtol = _check_rtol(rtol, caller)
    nx2, ny2 = _traces(snap, a, b, caller=caller)  # ||phi X||_F^2 = tr S_xx: preserved by the rescaling of d
    if b == a:
        return 0.0
    Sxy = snap.comoment(a, b)
    if alpha == 1.0:  # needs only the diagonals of the self blocks
        nuc = _nuclear(Sxy)
    else:
        Vx, dx = _partial_whitening(snap, a, alpha=alpha, covariance=covariance, rtol=rtol)
        Vy, dy = _partial_whitening(snap, b, alpha=alpha, covariance=covariance, rtol=rtol)
        nuc = _nuclear((Vx * dx).T @ Sxy @ (Vy * dy))
    if metric == "angular":
        return _arccos_of_cosine(nuc / math.sqrt(nx2 * ny2), caller=caller)
    d2 = nx2 + ny2 - 2.0 * nuc
    if d2 < 0.0:  # rounding only: nuc <= sqrt(nx2 ny2) <= (nx2 + ny2) / 2
        if -d2 > _ROUNDING * (nx2 + ny2):
            raise ArithmeticError(f"{caller}: squared distance {d2!r} is negative beyond rounding; please report.")
        return 0.0
    return math.sqrt(d2)


# ----------------------------------------------------------------- registry
def _procrustes_request(A, B, *, engine=None, **_: Any):
    """Cross blocks plus only the diagonals of the self blocks (Procrustes reads tr S_xx, tr S_yy)."""
    return moments_request(A, B, engine=engine, self_blocks="diagonal")


def _shape_request(A, B, *, engine=None, alpha: float = 1.0, **_: Any):
    """Full self blocks for partial whitening (alpha < 1); at alpha = 1 only their diagonals, as Procrustes."""
    return moments_request(A, B, engine=engine, self_blocks="diagonal" if alpha == 1.0 else "full")


register(
    MeasureSpec(
        name="procrustes",
        statistic="moments",
        kind="distance",
        invariances=("orthogonal", "isotropic scaling", "translation"),
        value_range="[0, pi/2] (angular), [0, sqrt(2)] (euclidean)",
        reference="SVD of the centred unit-Frobenius arrays; netrep LinearMetric(alpha=1)",
        paper="Ding, Denain, Steinhardt, NeurIPS 2021, arXiv:2108.01661; Williams et al., NeurIPS 2021",
        statistics=_procrustes_request,
        compute=lambda snaps, a, b, **o: procrustes_from(snaps["moments"], a, b, **o),
        options={"metric": "angular"},
    )
)

register(
    MeasureSpec(
        name="shape_metric",
        statistic="moments",
        kind="distance",
        invariances=("orthogonal", "translation", "isotropic scaling (angular)", "invertible linear (alpha=0)"),
        value_range="[0, pi/2] (angular), [0, inf) (euclidean)",
        reference="SVD formula on the arrays; netrep LinearMetric(alpha) with covariance='unnormalized'",
        paper="Williams, Kunz, Kornblith, Linderman, NeurIPS 2021, arXiv:2110.14739",
        statistics=_shape_request,
        compute=lambda snaps, a, b, **o: shape_metric_from(snaps["moments"], a, b, **o),
        options={"alpha": 1.0, "metric": "angular", "covariance": "trace", "rtol": DEFAULT_RTOL},
    )
)
