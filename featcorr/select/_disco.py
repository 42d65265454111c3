"""DisCo-FFS (Das, Kasieczka & Shih 2024): greedy selection by affinely invariant distance correlation."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ..errors import FeatcorrError
from ._base import BaseSelector, target_matrix
from ._threads import torch_threads

__all__ = ["DisCo", "afinv_dcor_candidates"]


def _whiten_residual(S: torch.Tensor, F: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Whitened S (m, s) and, per candidate column of F (m, c), its residual on S scaled to unit variance."""
    m = S.shape[0] if S.numel() else F.shape[0]
    F = F - F.mean(0)
    if S.shape[1]:
        S = S - S.mean(0)
        U, sv, _ = torch.linalg.svd(S, full_matrices=False)
        keep = sv > sv[0] * 1e-10
        Sw = U[:, keep] * np.sqrt(m)  # Mahalanobis coordinates (covariance 1/m convention)
        R = F - U[:, keep] @ (U[:, keep].T @ F)
    else:
        Sw = S
        R = F
    sd = R.pow(2).mean(0).sqrt()
    ok = sd > 1e-10 * (F.pow(2).mean(0).sqrt() + 1e-300)
    R = torch.where(ok, R / torch.where(ok, sd, torch.ones_like(sd)), torch.zeros_like(R))
    return Sw, R, ok


def afinv_dcor_candidates(S: torch.Tensor, F: torch.Tensor, Y: torch.Tensor, *, chunk: int = 32) -> torch.Tensor:
    """Affinely invariant distance correlation of [S, f] with Y for every column f of F, on one batch.

    dCor (V-statistic, square-rooted, as ``dcor.distance_correlation_af_inv``) of the whitened [S, f]:
    the Mahalanobis distance splits into ||S~_i - S~_j||^2 + (r_i - r_j)^2 with r the residual of f on S
    scaled to unit variance, so S's distances are computed once. Candidates collinear with S get 0.
    S (m, s), F (m, c), Y (m, q) float64. Returns (c,).
    """
    m = F.shape[0]
    Sw, R, ok = _whiten_residual(S, F)
    DS2 = torch.cdist(Sw, Sw) ** 2 if Sw.shape[1] else torch.zeros(m, m, dtype=F.dtype, device=F.device)
    Yc = Y - Y.mean(0)
    Ys = Yc / (Yc.pow(2).sum(0).mean().sqrt() + 1e-300)  # y whitening is a scalar for 1-D y
    B = torch.cdist(Ys, Ys)
    Bc = B - B.mean(0) - B.mean(1, keepdim=True) + B.mean()
    dvar_y = (Bc * Bc).mean()
    out = torch.zeros(F.shape[1], dtype=F.dtype, device=F.device)
    for s in range(0, F.shape[1], chunk):
        r = R[:, s : s + chunk]  # (m, c)
        A = (DS2.unsqueeze(2) + (r.unsqueeze(1) - r.unsqueeze(0)) ** 2).sqrt()  # (m, m, c)
        dcov = torch.einsum("ijc,ij->c", A, Bc) / (m * m)  # <A, Bc> = <HAH, Bc>
        row = A.mean(1)  # (m, c)
        grand = row.mean(0)
        dvar_x = (A * A).mean((0, 1)) - 2.0 * (row * row).mean(0) + grand * grand
        denom = (dvar_x * dvar_y).sqrt()
        val = torch.where(denom > 0, dcov.clamp_min(0.0) / torch.where(denom > 0, denom, 1.0), 0.0)
        out[s : s + chunk] = val.sqrt()
    return torch.where(ok, out, torch.zeros_like(out))


class DisCo(BaseSelector):
    """DisCo-FFS: grow a feature set by the distance correlation of [S, f] with y where a classifier is unsure.

    Each iteration (1) trains ``classifier`` on the current set S, (2) keeps
    the *confusion window* of events whose predicted probability lies in
    (t_low, t_high), (3) scores every candidate f by the affinely invariant
    distance correlation of the stacked [S, f] with y on that window, averaged
    over minibatches, and (4) adds the best. With ``classifier=None`` (and
    always for regression) it is a plain multivariate greedy dCor search on
    all samples: add argmax_f dCor([S, f], y).

    Parameters
    ----------
    n_features : int or "all", default=10
        Size of the final set, initial features included.
    initial : sequence of int, optional
        Features to start from (as the paper's jet mass and pT).
    classifier : scikit-learn classifier or None, default=None
        Needs ``predict_proba``; cloned and refitted on S every iteration.
        ``None`` runs the greedy dCor search without a confusion window.
    t_low, t_high : float, default=0.3, 0.7
        Confusion window on the probability of the positive class (binary) or
        on the largest class probability below ``t_high`` (multiclass).
    batch_size : int, default=256
        Minibatch size for the dCor averages (the paper uses 2048; smaller is faster, O(batch^2) per candidate).
    max_samples : int, default=1024
        At most this many window samples (drawn with ``random_state``) per iteration.
    first_step : {"auto", "single", "pairs"}, default="auto"
        ``"pairs"`` scores all pairs [f, g] (on one batch of at most 256
        samples) for the first two features when S starts empty, so pure
        interactions (XOR) are found; ``"auto"`` does so for at most 64 features.
    target : {"auto", "classification", "regression"}, default="auto"
    random_state : int, RandomState or None, default=None

    Attributes
    ----------
    scores_ : ndarray of shape (n_features_in_,)
        The dCor with which each feature was added (initial features: nan
        replaced by +inf so they rank first); unselected features: their dCor
        at the last iteration.
    order_ : list of int
        Features in the order they were added.

    Notes
    -----
    What it can see: any dependence of y on the *joint* set [S, f], nonlinear
    and interaction effects included (dCor is zero only under independence),
    so an XOR pair is found once one member is in S or with
    ``first_step="pairs"``. What it cannot see: with univariate first steps a
    pure interaction whose members are individually independent of y;
    features that matter only outside the confusion window (by design). The
    V-statistic dCor is biased upwards on small batches; collinear candidates
    score 0 (their whitened residual is zero).

    Tested against: ``dcor.distance_correlation_af_inv`` on the stacked
    [S, f] (tests/anchors/test_selectors_anchors.py) and a float64 double-
    centring formula in the default tests (tests/select/test_disco.py).

    References
    ----------
    .. [1] Das, Kasieczka, Shih, "Feature Selection with Distance Correlation",
       Phys. Rev. D 109, 054009 (2024), arXiv:2212.00046.

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.select import DisCo
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 6))
    >>> y = (X[:, 1] * X[:, 4] > 0).astype(int)
    >>> sorted(DisCo(n_features=2, random_state=0).fit(X, y).get_support(indices=True).tolist())
    [1, 4]
    """

    _parameter_constraints: dict = {
        **BaseSelector._parameter_constraints,
        "initial": ["array-like", None],
        "classifier": [HasMethods(["fit", "predict_proba"]), None],
        "t_low": [Interval(Real, 0, 1, closed="both")],
        "t_high": [Interval(Real, 0, 1, closed="both")],
        "batch_size": [Interval(Integral, 4, None, closed="left")],
        "max_samples": [Interval(Integral, 4, None, closed="left")],
        "first_step": [StrOptions({"auto", "single", "pairs"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_features=10,
        *,
        initial=None,
        classifier=None,
        t_low=0.3,
        t_high=0.7,
        batch_size=256,
        max_samples=1024,
        first_step="auto",
        target="auto",
        random_state=None,
    ):
        super().__init__(n_features=n_features, target=target)
        self.initial = initial
        self.classifier = classifier
        self.t_low = t_low
        self.t_high = t_high
        self.batch_size = batch_size
        self.max_samples = max_samples
        self.first_step = first_step
        self.random_state = random_state

    def fit(self, X, y):
        """Select features greedily (torch work runs single-threaded).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        with torch_threads(1):
            return self._fit(X, y)

    def _fit(self, X, y):
        X, y, task, k = self._validate_fit(X, y, min_samples=4)
        if self.t_low >= self.t_high:
            raise FeatcorrError(f"DisCo: t_low={self.t_low} must be smaller than t_high={self.t_high}.")
        n, p = X.shape
        rs = check_random_state(self.random_state)
        S = [] if self.initial is None else [int(i) for i in np.asarray(self.initial).ravel()]
        for i in S:
            if not 0 <= i < p:
                raise FeatcorrError(f"DisCo: initial feature index {i} is out of range for X with {p} features.")
        if len(set(S)) != len(S) or len(S) > k:
            raise FeatcorrError(f"DisCo: initial={S} must hold distinct indices, at most n_features={k}.")
        Xt = torch.from_numpy(X if X.flags.writeable else X.copy())
        Yfull = torch.from_numpy(target_matrix(y, task))
        if task == "classification" and Yfull.shape[1] == 2:
            Yfull = Yfull[:, 1:]
        use_clf = self.classifier is not None and task == "classification"
        pairs = self.first_step == "pairs" or (self.first_step == "auto" and p <= 64)
        scores = np.full(p, np.nan)
        last = np.zeros(p)
        while len(S) < k:
            rows = np.arange(n)
            if use_clf and S:
                clf = clone(self.classifier)
                if "random_state" in clf.get_params():
                    clf.set_params(random_state=rs.randint(2**31))
                clf.fit(X[:, S], y)
                proba = clf.predict_proba(X[:, S])
                conf = proba[:, 1] if proba.shape[1] == 2 else proba.max(1)
                win = np.flatnonzero((conf > self.t_low) & (conf < self.t_high))
                if win.size < 4:  # too few unsure events: take those closest to the window's centre
                    centre = 0.5 * (self.t_low + self.t_high)
                    win = np.argsort(np.abs(conf - centre), kind="stable")[: min(n, self.batch_size)]
                rows = win
            if rows.size > self.max_samples:
                rows = rs.choice(rows, self.max_samples, replace=False)
            rows = rs.permutation(rows)
            cand = np.setdiff1d(np.arange(p), S)
            if not S and pairs and k - len(S) >= 2 and cand.size >= 2:
                # all p(p-1)/2 pairs are screened on one batch of at most 256 samples
                best_pair, best_val = self._best_pair(Xt, Yfull, rows[: min(rows.size, 256)], cand)
                for f in best_pair:
                    S.append(int(f))
                    scores[f] = best_val
                continue
            val = self._scores(Xt, Yfull, rows, S, cand)
            last[:] = 0.0
            last[cand] = val
            f = int(cand[int(np.argmax(val))])
            S.append(f)
            scores[f] = float(val.max())
        self.order_ = list(S)
        init = [] if self.initial is None else [int(i) for i in np.asarray(self.initial).ravel()]
        out = np.where(np.isnan(scores), last, scores)
        out[init] = np.inf
        self._set_from_order(S, out)
        return self

    def _batches(self, rows):
        bs = self.batch_size
        nb = max(1, rows.size // bs)
        return [rows[i * bs : (i + 1) * bs] if nb > 1 else rows for i in range(nb)]

    def _scores(self, Xt, Y, rows, S, cand) -> np.ndarray:
        tot = torch.zeros(cand.size, dtype=torch.float64)
        batches = self._batches(rows)
        for r in batches:
            r = torch.from_numpy(r)
            tot += afinv_dcor_candidates(Xt[r][:, S], Xt[r][:, cand], Y[r])
        return (tot / len(batches)).numpy()

    def _best_pair(self, Xt, Y, rows, cand):
        best, best_val = (int(cand[0]), int(cand[1])), -1.0
        for a_i, a in enumerate(cand[:-1]):
            rest = cand[a_i + 1 :]
            val = self._scores(Xt, Y, rows, [int(a)], rest)
            j = int(np.argmax(val))
            if val[j] > best_val:
                best, best_val = (int(a), int(rest[j])), float(val[j])
        return best, best_val
