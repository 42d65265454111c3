"""Sequential Attention (Yasuda et al., ICLR 2023): greedy selection by trainable attention on the inputs."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ..errors import FeatcorrError
from ._base import BaseSelector, target_matrix

__all__ = ["SequentialAttention", "omp_order"]


def omp_order(X: np.ndarray, Y: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    """Orthogonal Matching Pursuit from moments: pick argmax_f sum_o (X_f^T r_o)^2 / ||X_f||^2, refit, repeat.

    X (n, p) and Y (n, q) are centred here; only X^T X and X^T Y are used.
    Returns (order, score of each pick).
    """
    Xc = X - X.mean(0)
    Yc = Y - Y.mean(0)
    G = Xc.T @ Xc
    C = Xc.T @ Yc  # (p, q)
    diag = np.diag(G).copy()
    diag[diag <= 0] = np.inf  # constant columns never picked
    S: list[int] = []
    picks = []
    resid = C.copy()
    for _ in range(k):
        val = (resid**2).sum(1) / diag
        val[S] = -np.inf
        f = int(np.argmax(val))
        if not np.isfinite(val[f]):
            break
        S.append(f)
        picks.append(float(val[f]))
        beta = np.linalg.lstsq(G[np.ix_(S, S)], C[S], rcond=None)[0]
        resid = C - G[:, S] @ beta
    return S, np.asarray(picks)


class SequentialAttention(BaseSelector):
    """Sequential Attention: an MLP whose inputs are weighted by a softmax attention that picks features in turn.

    Trainable logits w (init N(0, 1e-5^2)) weight the standardised inputs by
    a = softmax(w over the unselected features) + s, with s the 0/1 mask of
    features already selected. One training run: the first ``warmup``
    fraction of steps uses all-ones weights; the rest is split into
    n_features / ``k_step`` phases, at the end of each the ``k_step``
    unselected features with the largest attention join s and the logits are
    reset. ``mode="linear"`` runs the equivalent Orthogonal Matching Pursuit
    (the paper's linear-regression equivalence) from X^T X and X^T y exactly.

    Parameters
    ----------
    n_features : int or "all", default=10
    mode : {"mlp", "linear"}, default="mlp"
    hidden_layer_sizes : tuple of int, default=(64,)
    k_step : int, default=1
        Features added per phase.
    max_steps : int, default=1500
        Adam steps of the whole run.
    warmup : float, default=0.1
    batch_size : int, default=256
    learning_rate : float, default=0.01
    target : {"auto", "classification", "regression"}, default="auto"
    random_state : int, RandomState or None, default=None
        Seeds the weights, logits and minibatches (the only randomness).

    Attributes
    ----------
    order_ : list of int
        Features in the order they were selected.
    scores_ : ndarray of shape (n_features_in_,)
        Attention weight of each feature when it was selected (``"linear"``:
        its squared OMP correlation); unselected features: their attention at
        the end of the last phase.

    Notes
    -----
    What it can see: features useful *given* those already selected to a
    nonlinear model (the MLP), interactions such as XOR included, since the
    network is trained with all candidates softly present. What it cannot
    see: in ``"linear"`` mode anything nonlinear (x^2, XOR); with the MLP,
    effects the network fails to fit in ``max_steps`` (results depend on
    training noise; fix ``random_state``). Unselected weights sum to 1, so
    their scale shrinks with D.

    Tested against: ``mode="linear"`` against a brute-force least-squares OMP
    written in the test and against scikit-learn's
    ``OrthogonalMatchingPursuit``; the MLP on a planted XOR pair and a
    linear planted set (tests/select/test_sequential_attention.py).

    References
    ----------
    .. [1] Yasuda, Bateni, Chen, Fahrbach, Fu, Mirrokni, "Sequential Attention
       for Feature Selection", ICLR 2023, arXiv:2209.14881.

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.select import SequentialAttention
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 8))
    >>> y = 2 * X[:, 3] - X[:, 6] + 0.1 * rng.normal(size=200)
    >>> SequentialAttention(n_features=2, mode="linear").fit(X, y).order_
    [3, 6]
    """

    _parameter_constraints: dict = {
        **BaseSelector._parameter_constraints,
        "mode": [StrOptions({"mlp", "linear"})],
        "hidden_layer_sizes": [tuple, list],
        "k_step": [Interval(Integral, 1, None, closed="left")],
        "max_steps": [Interval(Integral, 1, None, closed="left")],
        "warmup": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_features=10,
        *,
        mode="mlp",
        hidden_layer_sizes=(64,),
        k_step=1,
        max_steps=1500,
        warmup=0.1,
        batch_size=256,
        learning_rate=0.01,
        target="auto",
        random_state=None,
    ):
        super().__init__(n_features=n_features, target=target)
        self.mode = mode
        self.hidden_layer_sizes = hidden_layer_sizes
        self.k_step = k_step
        self.max_steps = max_steps
        self.warmup = warmup
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state

    def fit(self, X, y):
        """Select features by Sequential Attention (or OMP in linear mode).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y, task, k = self._validate_fit(X, y)
        p = X.shape[1]
        if self.mode == "linear":
            order, picks = omp_order(X, target_matrix(y, task), k)
            scores = np.zeros(p)
            scores[order] = picks
            self.order_ = order
            self._set_from_order(order, scores)
            return self
        if any(int(h) < 1 for h in self.hidden_layer_sizes):
            raise FeatcorrError(f"SequentialAttention: hidden_layer_sizes={self.hidden_layer_sizes!r} must be >= 1.")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a small MLP: thread barriers cost more than they save
        try:
            order, scores = self._train_mlp(X, y, task, k)
        finally:
            torch.set_num_threads(threads)
        self.order_ = order
        self._set_from_order(order, scores)
        return self

    def _train_mlp(self, X, y, task, k):
        n, p = X.shape
        rs = check_random_state(self.random_state)
        gen = torch.Generator().manual_seed(int(rs.randint(2**31)))
        mu, sd = X.mean(0), X.std(0)
        Xt = torch.from_numpy((X - mu) / np.where(sd > 0, sd, 1.0)).to(torch.float32)
        if task == "classification":
            yt = torch.from_numpy(y).long()
            n_out = int(y.max()) + 1
            loss_fn = torch.nn.functional.cross_entropy
        else:
            yt = torch.from_numpy((y - y.mean()) / (y.std() + 1e-300)).to(torch.float32).reshape(-1, 1)
            n_out = 1
            loss_fn = torch.nn.functional.mse_loss
        sizes = [p, *[int(h) for h in self.hidden_layer_sizes], n_out]
        params = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / np.sqrt(a)
            W = (torch.rand(a, b, generator=gen) * 2 - 1) * bound
            c = (torch.rand(b, generator=gen) * 2 - 1) * bound
            params += [W.requires_grad_(), c.requires_grad_()]
        logits = (torch.randn(p, generator=gen) * 1e-5).requires_grad_()
        tensors = [*params, logits]
        moments = [(torch.zeros_like(t), torch.zeros_like(t)) for t in tensors]
        t_adam = [0]
        lr = self.learning_rate

        def adam_step():
            # torch.optim.Adam's update (betas 0.9, 0.999, eps 1e-8), written out to keep imports light
            t_adam[0] += 1
            c1 = 1.0 - 0.9 ** t_adam[0]
            c2 = 1.0 - 0.999 ** t_adam[0]
            with torch.no_grad():
                for t, (m, v) in zip(tensors, moments):
                    g = t.grad
                    if g is None:  # the logits during warm-up
                        continue
                    m.mul_(0.9).add_(g, alpha=0.1)
                    v.mul_(0.999).addcmul_(g, g, value=0.001)
                    t.addcdiv_(m, (v / c2).sqrt_().add_(1e-8), value=-lr / c1)
                    t.grad = None
        selected = torch.zeros(p)
        n_phases = -(-k // self.k_step)
        warm = int(self.warmup * self.max_steps)
        phase_len = max(1, (self.max_steps - warm) // n_phases)
        bs = min(self.batch_size, n)
        order: list[int] = []
        scores = np.zeros(p)

        def attention():
            masked = logits.masked_fill(selected > 0, float("-inf"))
            if bool((selected > 0).all()):
                return selected
            return torch.softmax(masked, 0) + selected

        def step(weights):
            idx = torch.randint(0, n, (bs,), generator=gen)
            h = Xt[idx] * weights
            for i in range(0, len(params), 2):
                h = h @ params[i] + params[i + 1]
                if i + 2 < len(params):
                    h = torch.relu(h)
            loss = loss_fn(h, yt[idx])
            loss.backward()
            adam_step()

        ones = torch.ones(p)
        for _ in range(warm):
            step(ones)
        for phase in range(n_phases):
            with torch.no_grad():
                logits.normal_(0.0, 1e-5, generator=gen)
                moments[-1][0].zero_()
                moments[-1][1].zero_()
            for _ in range(phase_len):
                step(attention())
            with torch.no_grad():
                att = attention() - selected
                take = min(self.k_step, k - len(order))
                cand = torch.argsort(att, descending=True, stable=True)
                new = [int(i) for i in cand if selected[int(i)] == 0][:take]
                for f in new:
                    scores[f] = float(att[f])
                    selected[f] = 1.0
                    order.append(f)
        with torch.no_grad():
            rest = (torch.softmax(logits.masked_fill(selected > 0, float("-inf")), 0)
                    if not bool((selected > 0).all()) else torch.zeros(p))
        for f in range(p):
            if f not in order:
                scores[f] = float(rest[f])
        return order, scores
