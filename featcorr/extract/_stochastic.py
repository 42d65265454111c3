"""Stochastic forward passes: dropout kept on, each input repeated on the batch axis."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import FeatcorrError
from ._batches import ModelInput

__all__ = ["dropout_modules", "repeat_input", "repeat_rows"]


def dropout_modules(model: Any) -> list[tuple[str, torch.nn.Module]]:
    """``[(name, module), ...]`` of every dropout module of ``model``.

    Dropout modules are instances of torch's dropout base class
    (``nn.Dropout``, ``Dropout1d/2d/3d``, ``AlphaDropout``,
    ``FeatureAlphaDropout``) -- the modules whose output is random in
    training mode and the identity in eval mode.
    """
    base = torch.nn.modules.dropout._DropoutNd
    return [(name, m) for name, m in model.named_modules() if isinstance(m, base)]


def repeat_rows(t: torch.Tensor, repeats: int) -> torch.Tensor:
    """Each row ``repeats`` times in a row: rows ``[i * repeats, (i + 1) * repeats)`` are copies of row ``i``."""
    return t.repeat_interleave(repeats, dim=0)


def _repeat(obj: Any, n: int, repeats: int) -> Any:
    if isinstance(obj, torch.Tensor):
        return repeat_rows(obj, repeats) if obj.ndim > 0 and obj.shape[0] == n else obj
    if isinstance(obj, Mapping):
        return {k: _repeat(v, n, repeats) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(_repeat(v, n, repeats) for v in obj)
    if isinstance(obj, list):
        return [_repeat(v, n, repeats) for v in obj]
    return obj


def repeat_input(inp: ModelInput, repeats: int, *, caller: str) -> ModelInput:
    """The model input with every sample repeated ``repeats`` times in a row.

    Every tensor argument whose first axis has the batch size ``inp.n``
    (inputs, attention masks, token type ids, ...) is expanded with
    ``repeat_interleave`` so that rows ``[i * repeats, (i + 1) * repeats)``
    all come from sample ``i``; other arguments are passed unchanged. One
    forward pass over the expanded batch with dropout on draws an
    independent dropout mask per row, i.e. ``repeats`` stochastic passes
    per sample in one call.

    Parameters
    ----------
    inp : ModelInput
        One batch's arguments (from :func:`~featcorr.extract.model_input`).
    repeats : int
        Copies per sample, >= 2.
    caller : str
        Function named in error messages.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 2:
        raise FeatcorrError(f"{caller}: repeats={repeats!r} must be an integer >= 2.")
    return ModelInput(args=_repeat(inp.args, inp.n, repeats), kwargs=_repeat(inp.kwargs, inp.n, repeats),
                      n=inp.n * repeats)
