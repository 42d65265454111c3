"""Pick the activation tensor out of a module's output (tensor, tuple, dict, dataclass)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..errors import FeatcorrError

__all__ = ["first_tensor", "select_output", "check_output_selector"]


def first_tensor(obj: Any) -> torch.Tensor | None:
    """The first tensor found depth-first in a tensor / tuple / list / mapping / dataclass, or None."""
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, Mapping):  # dicts and transformers' ModelOutput (an OrderedDict)
        values = obj.values()
    elif isinstance(obj, (tuple, list)):
        values = obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        values = (getattr(obj, f.name) for f in dataclasses.fields(obj))
    else:
        return None
    for v in values:
        t = first_tensor(v)
        if t is not None:
            return t
    return None


def check_output_selector(output: Any, *, caller: str) -> None:
    """Raise unless ``output`` is None, an int, a str or a callable."""
    if output is None or isinstance(output, (int, str)) or callable(output):
        if isinstance(output, bool):
            raise FeatcorrError(f"{caller}: output={output!r} is not a selector; use an int, a str or a callable.")
        return
    raise FeatcorrError(
        f"{caller}: output={output!r} ({type(output).__name__}) is not a selector; use None (first tensor), an "
        "int index, a str key/attribute, or a callable(output) -> tensor."
    )


def _keys_of(obj: Any) -> str:
    if isinstance(obj, Mapping):
        return f"keys {list(obj.keys())}"
    if isinstance(obj, (tuple, list)):
        return f"{len(obj)} element(s)"
    if dataclasses.is_dataclass(obj):
        return f"fields {[f.name for f in dataclasses.fields(obj)]}"
    return f"type {type(obj).__name__}"


def select_output(out: Any, selector: int | str | Callable[[Any], Any] | None, *, layer: str, caller: str) -> Any:
    """Apply the ``output=`` selector to one module output; return a tensor or None if it holds none.

    A callable is applied to every output (tensors included); an int or str is
    applied to tuple / list / mapping / dataclass outputs only (a plain tensor
    passes through). The result, if not a tensor, is searched for its first tensor.
    """
    if callable(selector):
        try:
            out = selector(out)
        except Exception as exc:  # the user's selector failed on this layer's output
            raise FeatcorrError(
                f"{caller}: output= selector raised {type(exc).__name__}: {exc} on layer {layer!r}, whose "
                f"output has {_keys_of(out)}; make the selector handle every recorded layer, or choose "
                "layers with layers=."
            ) from exc
    elif selector is not None and not isinstance(out, torch.Tensor):
        try:
            if isinstance(selector, int):
                if isinstance(out, Mapping):
                    out = list(out.values())[selector]
                elif dataclasses.is_dataclass(out):
                    out = getattr(out, dataclasses.fields(out)[selector].name)
                else:
                    out = out[selector]
            elif isinstance(out, Mapping):
                out = out[selector]
            else:
                out = getattr(out, selector)
        except (IndexError, KeyError, AttributeError, TypeError):
            raise FeatcorrError(
                f"{caller}: output={selector!r} does not select anything from layer {layer!r}, whose output "
                f"({type(out).__name__}) has {_keys_of(out)}; pick a valid index or key, or pass a callable."
            ) from None
    return first_tensor(out)
