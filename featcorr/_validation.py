"""Input validation shared by every public function.

Converts numpy arrays, pandas frames and torch tensors to 2-D float64 torch
tensors on their own device, reshapes conv maps and token activations, and
checks finiteness and sample counts. Every check raises a
:class:`~featcorr.errors.FeatcorrError` subclass whose message names the
argument, the value seen and the fix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .errors import (
    ConstantFeatureError,
    FeatcorrError,
    NonFiniteError,
    NotEnoughSamplesError,
    ShapeError,
    UnknownOptionError,
)

__all__ = [
    "POOL_OPTIONS",
    "as_tensor",
    "as_2d",
    "reshape_activation",
    "check_finite",
    "check_same_n",
    "check_min_samples",
    "check_option",
    "check_not_constant",
]

#: How (n, c, h, w) and (n, t, d) activations become 2-D.
#: ``"flatten"`` -> (n, c*h*w); ``"mean"`` -> mean over positions, (n, c) or (n, d);
#: ``"last"`` -> last token, (n, d); ``"samples"`` -> positions/tokens as samples,
#: (n*h*w, c) or (n*t, d).
POOL_OPTIONS = ("flatten", "mean", "last", "samples")


def check_option(value: Any, allowed: tuple, *, name: str, caller: str) -> Any:
    """Raise UnknownOptionError unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise UnknownOptionError(
            f"{caller}: {name}={value!r} is not supported; choose one of "
            + ", ".join(repr(a) for a in allowed)
            + "."
        )
    return value


def as_tensor(x: Any, *, name: str = "X", caller: str = "featcorr") -> torch.Tensor:
    """Convert numpy/pandas/torch/sequence input to a torch tensor (any shape), without copying when possible."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        if hasattr(x, "to_numpy") and hasattr(x, "dtypes"):  # pandas DataFrame / Series
            bad = _non_numeric_columns(x)
            if bad:
                raise FeatcorrError(
                    f"{caller}: {name} has non-numeric column(s) {bad}; "
                    "encode them as numbers or drop them first."
                )
            x = x.to_numpy()
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise ShapeError(
                f"{caller}: could not read {name} as a rectangular numeric array ({exc}); "
                "pass a numpy array, a torch tensor or a pandas DataFrame."
            ) from None
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
        ):
            raise FeatcorrError(
                f"{caller}: {name} has dtype {arr.dtype}, which is not numeric; "
                "pass numbers (float or int) — encode categories or strings first."
            )
        if np.iscomplexobj(arr):
            raise FeatcorrError(f"{caller}: {name} is complex ({arr.dtype}); pass real numbers.")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_complex():
        raise FeatcorrError(f"{caller}: {name} is complex ({t.dtype}); pass real numbers.")
    if t.dtype == torch.bool:
        t = t.to(torch.float64)
    return t


def _non_numeric_columns(frame: Any) -> list[str]:
    dtypes = frame.dtypes
    if not hasattr(dtypes, "items"):  # Series
        dtypes = {getattr(frame, "name", "0"): dtypes}.items()
    else:
        dtypes = dtypes.items()
    bad = []
    for col, dt in dtypes:
        kind = getattr(dt, "kind", "O")
        if kind not in "biuf":
            bad.append(str(col))
    return bad


def reshape_activation(
    t: torch.Tensor, *, pool: str = "flatten", name: str = "X", caller: str = "featcorr"
) -> torch.Tensor:
    """Bring an activation of shape (n, p), (n, c, h, w), (n, t, d) or (n, c, l) to 2-D.

    Parameters
    ----------
    t : torch.Tensor of shape (n, ...)
        Activation with the sample axis first.
    pool : {"flatten", "mean", "last", "samples"}, default="flatten"
        ``"flatten"`` keeps every position as a feature; ``"mean"`` averages
        positions (spatial or tokens); ``"last"`` takes the last token of a
        3-D input; ``"samples"`` makes positions/tokens extra samples with
        channels (4-D) or the last axis (3-D) as features.

    Returns
    -------
    torch.Tensor of shape (n, p) or (n * positions, p) for ``"samples"``.
    """
    check_option(pool, POOL_OPTIONS, name="pool", caller=caller)
    if t.ndim < 1:
        raise ShapeError(f"{caller}: {name} is a scalar; expected an array of shape (n_samples, n_features).")
    if t.ndim == 1:
        raise ShapeError(
            f"{caller}: {name} is 1-D with shape {tuple(t.shape)}; expected (n_samples, n_features). "
            "Reshape it with X.reshape(-1, 1) if it is one feature, or X.reshape(1, -1) if it is one sample."
        )
    if t.ndim > 5:
        raise ShapeError(
            f"{caller}: {name} has {t.ndim} dimensions (shape {tuple(t.shape)}); expected 2-D (n, p), "
            "3-D tokens (n, t, d) or 4-D/5-D conv maps (n, c, ...). Reshape it to (n_samples, n_features)."
        )
    if t.ndim == 2:
        return t
    n = t.shape[0]
    if pool == "flatten":
        return t.reshape(n, -1)
    if t.ndim == 3:
        # (n, t, d): tokens along axis 1, features along the last axis
        if pool == "mean":
            return t.mean(dim=1)
        if pool == "last":
            return t[:, -1, :]
        return t.reshape(-1, t.shape[-1])
    # (n, c, h, w) or (n, c, d, h, w): channels are features, the rest positions
    if pool == "mean":
        return t.reshape(n, t.shape[1], -1).mean(dim=2)
    if pool == "last":
        raise UnknownOptionError(
            f"{caller}: pool='last' takes the last token of a (n, t, d) activation, but {name} has shape "
            f"{tuple(t.shape)}; use pool='mean' or pool='flatten' for conv maps."
        )
    return t.reshape(n, t.shape[1], -1).transpose(1, 2).reshape(-1, t.shape[1])


def as_2d(
    x: Any,
    *,
    name: str = "X",
    caller: str = "featcorr",
    pool: str = "flatten",
    dtype: torch.dtype | None = torch.float64,
    min_samples: int = 2,
    finite: bool = True,
) -> torch.Tensor:
    """Validate ``x`` and return a 2-D tensor (n_samples, n_features) on its own device.

    Converts to ``dtype`` (float64 by default; ``None`` keeps a floating dtype
    and converts integers to float64), reshapes >2-D input with ``pool``, and
    checks that there are at least ``min_samples`` rows, at least one feature,
    and (if ``finite``) no NaN or inf.
    """
    t = as_tensor(x, name=name, caller=caller)
    t = reshape_activation(t, pool=pool, name=name, caller=caller)
    if dtype is not None:
        t = t.to(dtype)
    elif not t.is_floating_point():
        t = t.to(torch.float64)
    if t.shape[1] == 0:
        raise ShapeError(
            f"{caller}: {name} has 0 feature(s) (shape={tuple(t.shape)}) while a minimum of 1 is required."
        )
    check_min_samples(t.shape[0], min_samples, name=name, caller=caller, shape=tuple(t.shape))
    if finite:
        check_finite(t, name=name, caller=caller)
    return t


def check_min_samples(n: int, minimum: int, *, name: str, caller: str, shape: tuple | None = None) -> None:
    """Raise NotEnoughSamplesError when ``n < minimum``."""
    if n < minimum:
        shp = f" (shape={shape})" if shape is not None else ""
        raise NotEnoughSamplesError(
            f"{caller}: found {name} with {n} sample(s){shp} while a minimum of {minimum} is required; "
            "pass more rows (samples are the first axis)."
        )


def check_finite(t: torch.Tensor, *, name: str, caller: str) -> None:
    """Raise NonFiniteError if ``t`` holds NaN or inf, saying where."""
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        n_nan = int(torch.isnan(t).sum())
        n_inf = int(torch.isinf(t).sum())
        bad_rows = torch.nonzero(~torch.isfinite(t).reshape(t.shape[0], -1).all(dim=1)).flatten()[:5].tolist()
        raise NonFiniteError(
            f"{caller}: {name} contains NaN ({n_nan} value(s)) or inf ({n_inf} value(s)), e.g. in row(s) "
            f"{bad_rows}; remove or impute those samples first."
        )


def check_same_n(a: torch.Tensor, b: torch.Tensor, *, names: tuple[str, str] = ("X", "Y"), caller: str) -> None:
    """Raise ShapeError unless ``a`` and ``b`` have the same number of samples."""
    if a.shape[0] != b.shape[0]:
        raise ShapeError(
            f"{caller}: {names[0]} has {a.shape[0]} samples but {names[1]} has {b.shape[0]}; "
            "rows are samples and must pair up one to one (same inputs, same order)."
        )


def check_not_constant(sq_norm: float, *, name: str, caller: str, what: str = "representation") -> None:
    """Raise ConstantFeatureError when a centred sum of squares is zero."""
    if not sq_norm > 0.0:
        raise ConstantFeatureError(
            f"{caller}: {name} is constant across samples (zero variance), so the {what} is undefined; "
            "check that the layer is alive (e.g. not all-zero after ReLU) or drop it from the comparison."
        )
