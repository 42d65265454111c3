"""extract_activations(): run a model over data and keep the chosen layers' activations in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from .._validation import POOL_OPTIONS, check_option, reshape_activation
from ..errors import EmptyStatisticError, FeatcorrError
from ._batches import check_model_device, iterate_batches, model_device, model_input
from ._progress import batch_progress
from ._recorder import ActivationRecorder

__all__ = ["extract_activations"]


def extract_activations(
    model: Any,
    data: Any,
    layers: str | Iterable[str] | None = None,
    *,
    device: str | torch.device | None = None,
    inputs: Callable[[Any], Any] | None = None,
    output: int | str | Callable[[Any], Any] | None = None,
    pool: str | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Activations of the chosen layers over all of ``data``, as numpy arrays in memory.

    The same forward-hook machinery as :func:`featcorr.compare` (eval mode,
    hooks always removed, train/eval flags restored, no gradients, the model
    never moved), but the activations are kept and concatenated, so memory
    grows with the number of samples. Use it to save activations to a file
    (``np.savez("a.npz", **acts)``) for ``featcorr compare a.npz b.npz`` or
    :func:`featcorr.compare_activations`; to compare models directly,
    :func:`featcorr.compare` streams instead.

    Parameters
    ----------
    model : torch.nn.Module
        The model to run.
    data : DataLoader or iterable of batches
        Tensors, ``(x, y, ...)`` tuples (``x`` is the input) or dicts (keywords);
        a single tensor or dict is one batch.
    layers : str or list of str, optional
        Module names or fnmatch patterns; default every leaf module.
    device : str or torch.device, optional
        Where batches are moved; default the device of the model's first parameter.
    inputs : callable, optional
        ``inputs(batch)`` -> model input (tensor, tuple of arguments or dict of keywords).
    output : None, int, str or callable, optional
        Which tensor of a structured module output to keep (default the first tensor).
    pool : {"flatten", "mean", "last", "samples"}, optional
        Bring every activation to 2-D as in :func:`featcorr.compare`; default
        keep each activation's own shape.
    progress : bool, default=False
        Show a progress bar over batches (only on a terminal).

    Returns
    -------
    dict of str -> numpy.ndarray of shape (n_samples, ...)
        One array per recorded layer (a module called k times per forward
        gives ``name``, ``name#2``, ...), in layer order, in the activations'
        own dtype, on the CPU.

    Examples
    --------
    >>> import torch
    >>> from featcorr.extract import extract_activations
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    >>> acts = extract_activations(net, [torch.randn(5, 4), torch.randn(2, 4)])
    >>> {k: v.shape for k, v in acts.items()}
    {'0': (7, 3), '1': (7, 3)}
    """
    caller = "extract_activations"
    if not isinstance(model, torch.nn.Module):
        raise FeatcorrError(f"{caller}: model must be a torch.nn.Module, got {type(model).__name__}.")
    if pool is not None:
        check_option(pool, POOL_OPTIONS, name="pool", caller=caller)
    if device is None:
        dev = model_device(model) or torch.device("cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise FeatcorrError(f"{caller}: device={device!r} is not a torch device ({exc}).") from None
    check_model_device(model, dev, which="model", caller=caller)
    batches, total = iterate_batches(data, caller=caller)
    parts: dict[str, list[torch.Tensor]] = {}
    with ActivationRecorder(model, layers, output=output, which="model", caller=caller) as rec, torch.no_grad():
        with batch_progress(total, progress, "featcorr extract") as bar:
            for batch in batches:
                inp = model_input(batch, inputs, dev, caller=caller)
                if inp.n == 0:
                    bar()
                    continue
                for label, t in rec.forward(inp).items():
                    if pool is not None:
                        t = reshape_activation(t, pool=pool, name=f"layer {label!r}", caller=caller)
                    parts.setdefault(label, []).append(t.to("cpu", copy=True))
                bar()
    if not parts:
        raise EmptyStatisticError(f"{caller}: data yielded no (non-empty) batch; nothing was extracted.")
    return {label: torch.cat(ts).numpy() for label, ts in parts.items()}
