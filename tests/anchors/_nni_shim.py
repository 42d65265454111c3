"""Import NNI's FeatureGradientSelector with a shim for SciPy >= 1.14 (svds no longer accepts torch tensors).

NNI 3.0 passes a torch tensor to ``scipy.sparse.linalg.svds``; newer SciPy rejects it with
"TypeError: type not understood". We wrap the module-level ``svds`` name NNI uses so it receives a numpy array.
Importing NNI also calls ``torch.set_default_tensor_type(torch.FloatTensor)`` (a global side effect).
"""

from __future__ import annotations


def load_nni_selector():
    """Return NNI's FeatureGradientSelector class (patched), or raise ImportError."""
    import numpy as np
    import torch
    from nni.algorithms.feature_engineering.gradient_selector import fginitialize, gradient_selector

    orig = fginitialize.scipy.sparse.linalg.svds

    def svds(A, *args, **kwargs):
        if isinstance(A, torch.Tensor):
            A = A.detach().cpu().numpy().astype(np.float64)
        return orig(A, *args, **kwargs)

    class _Linalg:
        def __getattr__(self, name):
            return svds if name == "svds" else getattr(orig_linalg, name)

    orig_linalg = fginitialize.scipy.sparse.linalg

    class _Sparse:
        linalg = _Linalg()

        def __getattr__(self, name):
            return getattr(orig_sparse, name)

    orig_sparse = fginitialize.scipy.sparse

    class _Scipy:
        sparse = _Sparse()

        def __getattr__(self, name):
            return getattr(orig_scipy, name)

    orig_scipy = fginitialize.scipy
    fginitialize.scipy = _Scipy()
    return gradient_selector.FeatureGradientSelector


def nni_fit(selector, X, y):
    """Run ``selector.fit(X, y)``; NNI 3.0 accumulates into ``x.grad`` after ``zero_grad()``, which torch >= 2.0
    sets to None by default, so ``zero_grad`` is made to zero in place while NNI runs."""
    import torch

    orig = torch.optim.Optimizer.zero_grad

    def zero_grad(self, set_to_none: bool = False):
        return orig(self, set_to_none=False)

    torch.optim.Optimizer.zero_grad = zero_grad
    try:
        return selector.fit(X, y)
    finally:
        torch.optim.Optimizer.zero_grad = orig
