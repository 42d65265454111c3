"""Turn one batch of a data loader into model arguments on a device."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import FeatcorrError
from ._outputs import first_tensor

__all__ = ["ModelInput", "model_input", "to_device", "iterate_batches", "model_device", "check_model_device"]


@dataclass
class ModelInput:
    """Positional and keyword arguments for one forward call, plus the batch size."""

    args: tuple
    kwargs: dict
    n: int

    @property
    def tensor(self) -> torch.Tensor:
        """The first input tensor (the one used as the ``"__input__"`` block)."""
        t = first_tensor(self.args) if self.args else None
        if t is None:
            t = first_tensor(self.kwargs)
        return t  # type: ignore[return-value]


def to_device(obj: Any, device: torch.device) -> Any:
    """Move every tensor in a tensor / tuple / list / dict to ``device`` (others unchanged)."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True) if obj.device != device else obj
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj).to(device)
    if isinstance(obj, Mapping):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(to_device(v, device) for v in obj)
    if isinstance(obj, list):
        return [to_device(v, device) for v in obj]
    return obj


def model_input(batch: Any, inputs: Callable[[Any], Any] | None, device: torch.device, *, caller: str) -> ModelInput:
    """Arguments of ``model(...)`` for one batch.

    Without ``inputs``: a tensor (or numpy array) ``x`` -> ``model(x)``; a
    tuple/list ``(x, y, ...)`` -> ``model(x)``; a dict -> ``model(**d)``.
    With ``inputs``: its return value decides: a tensor -> ``model(t)``, a
    tuple -> ``model(*t)``, a dict -> ``model(**d)``.

    Parameters
    ----------
    batch : object
        One item of the data: a tensor, a tuple/list or a dict.
    inputs : callable or None
        ``inputs(batch)`` -> the model input, as described above.
    device : torch.device
        Every tensor of the arguments is moved there.
    caller : str
        Function named in error messages.

    Returns
    -------
    ModelInput
        ``args``, ``kwargs`` and ``n`` (first axis of the first input tensor).
    """
    if inputs is not None:
        try:
            sel = inputs(batch)
        except Exception as exc:
            raise FeatcorrError(
                f"{caller}: inputs= raised {type(exc).__name__}: {exc} on a batch of type {type(batch).__name__}; "
                "it must map one batch to the model's input (a tensor, a tuple of arguments or a dict of keywords)."
            ) from exc
        if isinstance(sel, Mapping):
            args, kwargs = (), dict(sel)
        elif isinstance(sel, tuple):
            args, kwargs = sel, {}
        else:
            args, kwargs = (sel,), {}
    elif isinstance(batch, Mapping):
        args, kwargs = (), dict(batch)
    elif isinstance(batch, (tuple, list)):
        if not batch:
            raise FeatcorrError(f"{caller}: the data yielded an empty {type(batch).__name__}; expected (x, ...).")
        args, kwargs = (batch[0],), {}
    else:
        args, kwargs = (batch,), {}
    args = to_device(tuple(args), device)
    kwargs = to_device(kwargs, device)
    t = first_tensor(args) if args else None
    if t is None:
        t = first_tensor(kwargs)
    if t is None:
        raise FeatcorrError(
            f"{caller}: found no tensor in the model input built from a batch of type {type(batch).__name__}; "
            "yield tensors, (x, y) tuples or dicts of tensors, or pass inputs=callable(batch)."
        )
    if t.ndim == 0:
        raise FeatcorrError(
            f"{caller}: the model input is a 0-d tensor; batches must have the sample axis first, shape (n, ...)."
        )
    return ModelInput(args=args, kwargs=kwargs, n=int(t.shape[0]))


def iterate_batches(data: Any, *, caller: str) -> tuple[Iterable[Any], int | None]:
    """``(iterable of batches, number of batches or None)``; a bare tensor/array or one dict is one batch."""
    if isinstance(data, (torch.Tensor, np.ndarray, Mapping)):
        return [data], 1
    if isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        raise FeatcorrError(
            f"{caller}: data={type(data).__name__} is not iterable; pass a torch DataLoader or any iterable of "
            "tensors, (x, y) tuples or dicts."
        )
    try:
        total = len(data)
    except TypeError:
        total = None
    return data, total


def model_device(model: Any) -> torch.device | None:
    """Device of the model's first parameter (or buffer); None if it has neither."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return None


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.index is None or b.index is None:
        return True
    return a.index == b.index


def check_model_device(model: Any, device: torch.device, *, which: str, caller: str) -> None:
    """Raise if any parameter or buffer of ``model`` lives on another device than ``device``."""
    for kind, tensors in (("parameter", model.named_parameters()), ("buffer", model.named_buffers())):
        for name, t in tensors:
            if not _same_device(t.device, device):
                raise FeatcorrError(
                    f"{caller}: {which} has {kind} {name!r} on {t.device}, but the comparison runs on {device}. "
                    f"featcorr never moves your model: call {which}.to({str(device)!r}) first, or pass "
                    f"device={str(t.device)!r}."
                )
