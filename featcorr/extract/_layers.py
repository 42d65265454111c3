"""Which modules of a torch model to record: default leaves, names, glob patterns."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import FeatcorrError, UnknownLayerError, close_matches_hint

__all__ = ["ROOT_LABEL", "leaf_layers", "resolve_layers"]

#: Label of the model itself when the model has no submodules (named "" by torch).
ROOT_LABEL = "<model>"

_GLOB_CHARS = ("*", "?", "[")


def _named_modules(model: Any, *, caller: str) -> list[tuple[str, Any]]:
    if not hasattr(model, "named_modules"):
        raise FeatcorrError(
            f"{caller}: expected a torch.nn.Module, got {type(model).__name__}; pass the model itself "
            "(for activations already in memory use featcorr.compare.compare_activations)."
        )
    return [(name or ROOT_LABEL, mod) for name, mod in model.named_modules()]


def leaf_layers(model: Any, *, caller: str = "featcorr") -> list[str]:
    """Names of every leaf module (no children) of ``model``, in ``named_modules()`` order."""
    return [name for name, mod in _named_modules(model, caller=caller) if next(mod.children(), None) is None]


def resolve_layers(
    model: Any, layers: str | Iterable[str] | None = None, *, caller: str = "featcorr", arg: str = "layers"
) -> list[tuple[str, Any]]:
    """Resolve ``layers`` to ``[(name, module), ...]``.

    Parameters
    ----------
    model : torch.nn.Module
        The model whose ``named_modules()`` are searched.
    layers : str or iterable of str, optional
        Module names as in ``model.named_modules()`` or fnmatch glob patterns
        (``"encoder.*"``, ``"layer?.conv1"``). ``None`` selects every leaf
        module. Names keep the order given; a pattern expands in module order;
        duplicates are dropped.
    caller : str, default="featcorr"
        Function named in error messages.
    arg : str, default="layers"
        Argument named in error messages.

    Returns
    -------
    list of (str, torch.nn.Module)
        Name and module of every selected layer, in the order described above.

    Raises
    ------
    UnknownLayerError
        When a name or pattern matches no module (listing close matches).
    """
    named = _named_modules(model, caller=caller)
    modules = dict(named)
    if layers is None:
        return [(n, m) for n, m in named if next(m.children(), None) is None]
    if isinstance(layers, str):
        layers = [layers]
    try:
        wanted: Sequence[Any] = list(layers)
    except TypeError:
        raise FeatcorrError(
            f"{caller}: {arg}={layers!r} is not a list of layer names; pass names or glob patterns, "
            "e.g. ['features.0', 'classifier.*']."
        ) from None
    if not wanted:
        raise FeatcorrError(f"{caller}: {arg} is empty; pass at least one layer name, or None for every leaf module.")
    out: dict[str, Any] = {}
    for item in wanted:
        if not isinstance(item, str):
            raise FeatcorrError(
                f"{caller}: {arg} holds {item!r} ({type(item).__name__}); layer names are strings as in "
                "model.named_modules()."
            )
        if item in modules:
            out.setdefault(item, modules[item])
            continue
        if any(c in item for c in _GLOB_CHARS):
            hits = [n for n, _ in named if fnmatch.fnmatchcase(n, item)]
            if hits:
                for n in hits:
                    out.setdefault(n, modules[n])
                continue
        names = [n for n, _ in named]
        raise UnknownLayerError(
            f"{caller}: {arg} names {item!r}, which matches no module of {type(model).__name__}."
            + close_matches_hint(item, names)
            + f" The model has {len(names)} module(s)"
            + (f", e.g. {names[:8]}" if names else "")
            + "; see [n for n, _ in model.named_modules()]."
        )
    return list(out.items())
