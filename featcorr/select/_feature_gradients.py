"""Feature Gradients (Sheth & Fusi): gradient search over feature subsets with a learnability objective."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ..errors import FeatcorrError, ShapeError
from ._params import validate_params
from ._base import BaseSelector
from ._fg_solver import data_statistics, fit_feature_gradients

__all__ = ["FeatureGradients"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _is_stream(X) -> bool:
    """True for an iterable of chunks (DataLoader, list of (X, y) pairs), False for array-likes."""
    if isinstance(X, (np.ndarray, torch.Tensor)) or hasattr(X, "dtypes") or hasattr(X, "__array__"):
        return False
    if isinstance(X, list):
        return len(X) > 0 and isinstance(X[0], (tuple, list)) and len(X[0]) == 2 and hasattr(X[0][0], "shape")
    return hasattr(X, "__iter__")


def _as_tensor_without_copy(X, shape, dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
    """X itself as a tensor when it already is a C-ordered ``dtype`` array or tensor of ``shape``, else None.

    The validated copy (float64) holds the same values; using the caller's
    array skips a second full copy of the data (float64 -> float32).
    """
    if isinstance(X, torch.Tensor):
        ok = X.dtype == dtype and tuple(X.shape) == tuple(shape) and not X.requires_grad
        return X.detach().to(device) if ok else None
    if isinstance(X, np.ndarray) and type(X) is np.ndarray:
        ok = (X.dtype == torch.empty((), dtype=dtype).numpy().dtype and X.shape == tuple(shape)
              and X.flags.c_contiguous and X.flags.writeable)
        return torch.from_numpy(X).to(device) if ok else None
    return None


def _map_names(kind, D: int) -> tuple[list[tuple[int, ...]], Callable[[torch.Tensor], torch.Tensor]]:
    """Columns of a feature map as tuples of the original features they use, and the map itself."""
    if kind is None:
        return [(d,) for d in range(D)], lambda t: t
    if kind == "square":
        return [(d,) for d in range(D)] * 2, lambda t: torch.cat([t, t * t], 1)
    if kind == "pairwise":
        iu = torch.triu_indices(D, D)  # i <= j: squares and products
        cols = [(d,) for d in range(D)] + [(int(i), int(j)) for i, j in zip(*iu.tolist())]
        return cols, lambda t: torch.cat([t, t[:, iu[0]] * t[:, iu[1]]], 1)
    raise FeatcorrError(f"FeatureGradients: feature_map={kind!r} is not supported; use None, 'square' or 'pairwise'.")


class FeatureGradients(BaseSelector):
    """Feature Gradients: select features by gradient descent on a relaxed learnability objective.

    Kong & Valiant's estimator of how much of y's variance a linear model of
    the features can explain, sum_k c_k T_k, is computed on minibatches in
    O(n D) time and memory (cumulative sums over row blocks, never n x n),
    with the subset relaxed to weights s = sigmoid(2 x) on the kernel
    x_i^T diag(s) x_j. Adam (learning rate 0.1, gradient norm clipped to 1)
    minimises (1 - w)(1 - sum_k c_k T_k(s)) + w sum(s)/D, w = penalty/(penalty+1);
    classification uses 0.5(1 - sqrt(clip(sum_k c_k T_k, 0, 1))) on y in {-1, +1},
    one-vs-rest with balanced class weights for more than two classes.

    Parameters
    ----------
    n_features : int, "all" or None, default=10
        Number of features to keep (the top ``scores_``); ``None`` keeps those
        with x >= 0 (s >= 1/2), as NNI does.
    order : int, default=4
        Number of learnability terms T_0..T_{order-1} (1..12).
    penalty : float, default=1
        Weight C of the sparsity term, w = C / (C + 1).
    batch_size : int, default=1000
        Rows per minibatch (reduced to n when n is smaller); the last partial
        batch of each epoch is dropped, as NNI does.
    target_batch_size : int, default=1000
        Gradients of ceil(min(max(batch_size, target_batch_size), n) / batch_size)
        consecutive minibatches are averaged per Adam step (NNI's option of the same name).
    n_epochs : int, default=1
        Passes over the data; one Adam step per minibatch. With n <= batch_size
        that is one step per epoch: raise ``n_epochs`` (e.g. 100) for small data.
    preprocess : {"zscore", "center"}, default="zscore"
        Column standardisation before dividing by the top singular value of
        the standardised data / sqrt(n).
    feature_map : {None, "square", "pairwise"}, default=None
        Add x_d^2 ("square") or all products x_i x_j, i <= j ("pairwise") as
        extra columns so that quadratic and interaction effects become linearly
        visible; a feature's score is the best score of the columns it is in.
    learning_rate : float, default=0.1
    shuffle : bool, default=True
        Shuffle rows every epoch (in-memory data only; shuffle a DataLoader yourself).
    dtype : {"float32", "float64"}, default="float32"
        Precision of the optimisation (statistics are always float64).
    device : str or torch.device, optional
        Where to compute; default: the device of a torch X, else CPU.
    target : {"auto", "classification", "regression"}, default="auto"
    random_state : int, RandomState or None, default=None
        Seeds the row shuffling (the only randomness).

    Attributes
    ----------
    scores_ : ndarray of shape (n_features_in_,)
        sigmoid(2 x) per feature, in (0, 1).
    ranking_ : ndarray of shape (n_features_in_,)
        1 = best.
    support_ : ndarray of bool
    x_ : ndarray of shape (n_mapped_features,)
        The optimised logits (of the mapped columns with ``feature_map``).
    n_steps_ : int
        Adam steps taken.

    Notes
    -----
    Accepts X of shape (n_samples, n_features) (numpy, pandas, torch, also
    on GPU) with y, or, for data that do not fit in memory, ``fit(data)`` with
    ``data`` a *re-iterable* (a DataLoader or a list) of ``(X_chunk, y_chunk)``
    pairs: one pass computes the preprocessing statistics (float64 merges), then every
    epoch re-cuts the chunks into minibatches. Memory is O(batch_size x D
    + min(n, D)^2): the top singular value comes from the smaller Gram matrix,
    D x D (float32 ``syrk`` in the statistics pass, n D^2 / 2 multiply-adds)
    or, for data in memory with n < D, n x n (n^2 D / 2); a stream with
    D > 4096 uses block Lanczos over passes instead (no D x D matrix).

    Cost: the statistics pass above, then n_epochs * n * D * (block + 6 order)
    multiply-adds for the search (block = 16 rows), linear in n and D.

    What it can see: subsets whose *joint* linear span explains y, including
    suppressor pairs (y = x_a - x_b with corr(x_a, x_b) ~ 0.95, where each
    feature alone explains little) that univariate ranking misses. What it
    cannot see: effects that are not linear in the (mapped) features -- x^2
    and XOR-type interactions are invisible unless ``feature_map`` adds the
    right columns.

    Tested against: the learnability estimator against a float64 brute-force
    U-statistic over chains of distinct increasing indices and against the
    n x n matrix formula to 1e-10 (tests/select/test_feature_gradients.py);
    against NNI's ``LearnabilityMB`` on the same inputs to float32 precision
    and NNI's ``FeatureGradientSelector`` selections
    (tests/anchors/test_selectors_anchors.py). The coefficient table is NNI's
    ``constants.Coefficients.SLE``.

    References
    ----------
    .. [1] Sheth & Fusi, "Feature Gradients: Scalable Feature Selection via
       Discrete Relaxation", arXiv:1908.10382 (2019).
    .. [2] Kong & Valiant, "Estimating Learnability in the Sublinear Data
       Regime", NeurIPS 2018, arXiv:1805.01626.

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.select import FeatureGradients
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 8))
    >>> y = X[:, 2] - 0.5 * X[:, 5] + 0.1 * rng.normal(size=400)
    >>> fg = FeatureGradients(n_features=2, n_epochs=100, random_state=0).fit(X, y)
    >>> sorted(fg.get_support(indices=True).tolist())
    [2, 5]
    """

    _parameter_constraints: dict = {
        **BaseSelector._parameter_constraints,
        "n_features": [Interval(Integral, 1, None, closed="left"), StrOptions({"all"}), None],
        "order": [Interval(Integral, 1, 12, closed="both")],
        "penalty": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
        "target_batch_size": [Interval(Integral, 1, None, closed="left")],
        "preprocess": [StrOptions({"zscore", "center"})],
        "feature_map": [StrOptions({"square", "pairwise"}), None],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "shuffle": ["boolean"],
        "dtype": [StrOptions({"float32", "float64"})],
        "device": [str, torch.device, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_features=10,
        *,
        order=4,
        penalty=1,
        batch_size=1000,
        target_batch_size=1000,
        n_epochs=1,
        preprocess="zscore",
        feature_map=None,
        learning_rate=0.1,
        shuffle=True,
        dtype="float32",
        device=None,
        target="auto",
        random_state=None,
    ):
        super().__init__(n_features=n_features, target=target)
        self.order = order
        self.penalty = penalty
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.target_batch_size = target_batch_size
        self.preprocess = preprocess
        self.feature_map = feature_map
        self.learning_rate = learning_rate
        self.shuffle = shuffle
        self.dtype = dtype
        self.device = device
        self.random_state = random_state

    def fit(self, X, y=None):
        """Run the gradient search on (X, y), or on a re-iterable of (X_chunk, y_chunk) when y is None.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or iterable of (X_chunk, y_chunk)
        y : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        validate_params(self)
        if y is None and _is_stream(X):
            return self._fit_stream(X)
        device = self.device
        if device is None:
            device = X.device if isinstance(X, torch.Tensor) else "cpu"
        device = torch.device(device)
        Xn, yn, task = self._validate_Xy(X, y, min_samples=max(3, self.order + 1))
        D = Xn.shape[1]
        cols, fmap = _map_names(self.feature_map, D)
        dtype = _DTYPES[self.dtype]
        Xc = _as_tensor_without_copy(X, Xn.shape, dtype, device)
        if Xc is None:
            Xc = torch.from_numpy(Xn if Xn.flags.writeable else Xn.copy()).to(device=device, dtype=dtype)
        Xc = fmap(Xc)
        yt = torch.tensor(np.asarray(yn, dtype=np.float64)).to(device)
        n = Xc.shape[0]
        classification = task == "classification"
        stats = data_statistics(
            lambda: ((Xc[i : i + 8192], yt[i : i + 8192]) for i in range(0, n, 8192)),
            preprocess=self.preprocess, classification=classification, device=device, rows=Xc,
        )
        bs = min(self.batch_size, n)
        gen = torch.Generator(device="cpu").manual_seed(int(check_random_state(self.random_state).randint(2**31)))

        def epoch_chunks(epoch):
            if not self.shuffle:  # contiguous row slices: views, no copy
                for i in range(0, n - bs + 1, bs):
                    yield Xc[i : i + bs], yt[i : i + bs]
                return
            idx = torch.randperm(n, generator=gen).to(device)
            rows = torch.empty(bs, Xc.shape[1], dtype=Xc.dtype, device=device)  # reused: consumed before the next
            for i in range(0, n - bs + 1, bs):
                sel = idx[i : i + bs]
                yield torch.index_select(Xc, 0, sel, out=rows), yt[sel]

        x, steps = fit_feature_gradients(
            epoch_chunks, stats, n_features_in=Xc.shape[1], order=self.order, penalty=float(self.penalty),
            batch_size=bs, n_epochs=self.n_epochs, learning_rate=self.learning_rate, device=device, dtype=dtype,
            accum_steps=self._accum(bs, n),
        )
        self._finish(x, steps, cols, D)
        return self

    def _fit_stream(self, data: Iterable):
        if iter(data) is data:
            raise FeatcorrError(
                "FeatureGradients: data is a one-shot iterator, but Feature Gradients needs one pass for its "
                "statistics and one per epoch; pass a re-iterable (a DataLoader or a list of (X, y) chunks)."
            )
        device = torch.device(self.device or "cpu")
        dtype = _DTYPES[self.dtype]
        first = next(iter(data), None)
        if first is None or not (isinstance(first, (tuple, list)) and len(first) == 2):
            raise ShapeError(
                "FeatureGradients: each item of data must be an (X_chunk, y_chunk) pair, got "
                f"{type(first).__name__}."
            )
        x0 = torch.as_tensor(np.asarray(first[0]) if not isinstance(first[0], torch.Tensor) else first[0])
        if x0.ndim != 2:
            raise ShapeError(f"FeatureGradients: X chunks must be 2-D (rows, features); got shape {tuple(x0.shape)}.")
        D = x0.shape[1]
        y0 = torch.as_tensor(np.asarray(first[1]) if not isinstance(first[1], torch.Tensor) else first[1])
        if self.target == "auto":
            classification = not y0.is_floating_point() or bool(torch.all(y0 == torch.round(y0)))
        else:
            classification = self.target == "classification"
        cols, fmap = _map_names(self.feature_map, D)

        def chunks():
            for xb, yb in data:
                xb = torch.as_tensor(xb).to(device)
                if xb.ndim != 2 or xb.shape[1] != D:
                    raise ShapeError(
                        f"FeatureGradients: a chunk has shape {tuple(xb.shape)}; every chunk needs {D} features."
                    )
                yb = torch.as_tensor(yb).to(device).reshape(-1)
                if yb.shape[0] != xb.shape[0]:
                    raise ShapeError(
                        f"FeatureGradients: a chunk has {xb.shape[0]} rows in X but {yb.shape[0]} in y."
                    )
                if xb.is_floating_point() and not bool(torch.isfinite(xb).all()):
                    raise FeatcorrError("FeatureGradients: a chunk of X contains NaN or inf; clean the data first.")
                if xb.dtype not in (torch.float32, torch.float64):  # float32 chunks stay float32 (half the traffic)
                    xb = xb.to(torch.float64)
                yield fmap(xb), yb.to(torch.float64)

        stats = data_statistics(chunks, preprocess=self.preprocess, classification=classification, device=device)
        if classification and (stats.classes is None or len(stats.classes) < 2):
            raise FeatcorrError("FeatureGradients: y has fewer than 2 classes in the data.")
        self.n_features_in_ = D
        self.task_ = "classification" if classification else "regression"
        if classification:
            self.classes_ = stats.classes
        bs = min(self.batch_size, stats.n)
        x, steps = fit_feature_gradients(
            lambda epoch: chunks(), stats, n_features_in=len(cols), order=self.order,
            penalty=float(self.penalty), batch_size=bs, n_epochs=self.n_epochs, learning_rate=self.learning_rate,
            device=device, dtype=dtype, accum_steps=self._accum(bs, stats.n),
        )
        self._finish(x, steps, cols, D)
        return self

    def _accum(self, bs: int, n: int) -> int:
        target = min(max(self.batch_size, self.target_batch_size), n)
        return max(1, -(-target // bs))

    def _finish(self, x: torch.Tensor, steps: int, cols, D: int) -> None:
        xa = x.detach().to(torch.float64).cpu().numpy()
        self.x_ = xa
        self.n_steps_ = int(steps)
        best = np.full(D, -np.inf)
        for j, c in enumerate(cols):
            for d in c:
                best[d] = max(best[d], xa[j])
        scores = 1.0 / (1.0 + np.exp(-2.0 * best))
        if self.n_features is None:
            order = np.argsort(-scores, kind="stable")
            order = order[best[order] >= 0]
            self._set_from_order(order, scores)
            self.scores_ = scores
        else:
            self._set_from_scores(scores, self._n_select())
