"""Choose each measure's estimator before a pass: minibatch CKA when p x p moments would not fit."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from .._validation import check_option
from ..errors import MemoryBudgetError
from ..measures import get_measure

__all__ = ["EstimatorFallbackWarning", "FALLBACK_OPTIONS", "choose_estimators"]

#: Values of ``compare(fallback=...)``.
FALLBACK_OPTIONS = ("minibatch", "raise")

#: Measures that have a moment-free estimator of the same quantity, and the measure that provides it.
_FALLBACKS = {"linear_cka": "minibatch_cka"}


class EstimatorFallbackWarning(UserWarning):
    """A comparison used another estimator than the default one for a measure (e.g. minibatch CKA)."""


def choose_estimators(
    measures: list[tuple[str, Any, dict[str, Any]]],
    blocks_a: Sequence[str],
    blocks_b: Sequence[str],
    widths: Mapping[str, int],
    engine: Mapping[str, Any],
    *,
    fallback: str,
    display: Mapping[str, tuple[str, str]],
    caller: str,
) -> tuple[list[tuple[str, Any, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Swap moment-based ``linear_cka`` for ``minibatch_cka`` when its moments would not fit the budget.

    Decided once, from the widths of the first batch's (pooled) blocks, so the
    whole pass uses one estimator per measure.

    Parameters
    ----------
    measures : list of (name, spec, options)
        From :func:`~featcorr.compare._engine.resolve_measures`.
    blocks_a, blocks_b : sequence of str
        Internal block names of the two sides.
    widths : mapping str -> int
        Width of every block of the first batch (2-D, after pooling).
    engine : mapping
        Engine options (``max_features``, ``max_memory_gb``, ``gemm_dtype``).
    fallback : {"minibatch", "raise"}
        ``"minibatch"`` swaps the estimator of ``linear_cka`` (with an
        :class:`EstimatorFallbackWarning`); ``"raise"`` raises the
        :class:`~featcorr.errors.MemoryBudgetError`.
    display : mapping internal name -> (layer name, side label)
        How messages name a block.
    caller : str
        Function named in messages.

    Returns
    -------
    measures : list of (name, spec, options)
        The measures to accumulate (a swapped entry keeps its name).
    notes : dict
        ``{measure: {"estimator": "minibatch_cka", "reason": str, "layers": [{"layer", "model",
        "features"}, ...]}}`` for each swapped measure (``layers`` lists the blocks over ``max_features``).

    Raises
    ------
    MemoryBudgetError
        When a measure other than ``linear_cka`` (or ``linear_cka`` with
        ``fallback="raise"``) needs moments that do not fit.
    """
    check_option(fallback, FALLBACK_OPTIONS, name="fallback", caller=caller)
    problems: dict[str, MemoryBudgetError] = {}
    for name, spec, opts in measures:
        try:
            wanted = spec.statistics(tuple(blocks_a), tuple(blocks_b), engine=dict(engine), **opts)
            for stat in wanted.values():
                check = getattr(stat, "check_budget", None)
                if check is not None:
                    check(widths)
        except MemoryBudgetError as exc:
            problems[name] = exc
    for name, exc in problems.items():  # errors first: nothing is swapped (or warned about) when one is raised
        if fallback == "raise" or name not in _FALLBACKS:
            hint = (
                " (fallback='minibatch' would estimate it with minibatch_cka instead)"
                if name in _FALLBACKS
                else f" ({name!r} has no moment-free estimator: pool the layers, e.g. pool='mean', or leave the "
                "wide layers out)"
            )
            raise MemoryBudgetError(f"{caller}: measure {name!r} cannot run{hint}: {exc}") from None
    if not problems:
        return list(measures), {}
    limit = engine.get("max_features")
    over = [b for b, p in widths.items() if limit is not None and p > limit]
    layers = [_name_of(b, display) for b in over]
    if over:
        listed = ", ".join(f"{x} ({widths[b]} features)" for x, b in zip(layers[:5], over[:5]))
        more = f" and {len(over) - 5} more" if len(over) > 5 else ""
        reason = f"{listed}{more} {'is' if len(over) == 1 else 'are'} over max_features={limit} for p x p moments"
    else:
        reason = (
            f"the p x p moments of all layers would exceed max_memory_gb={engine.get('max_memory_gb')} "
            f"(total width {sum(widths.values())})"
        )
    out: list[tuple[str, Any, dict[str, Any]]] = []
    notes: dict[str, dict[str, Any]] = {}
    for name, spec, opts in measures:
        if name not in problems:
            out.append((name, spec, opts))
            continue
        alt = get_measure(_FALLBACKS[name], caller=caller)
        out.append((name, alt, alt.resolve_options({}, caller=f"{caller}({alt.name})")))
        notes[name] = {
            "estimator": alt.name,
            "reason": reason,
            "layers": [
                {"layer": display.get(b, (b, ""))[0], "model": display.get(b, (b, ""))[1] or None, "features": widths[b]}
                for b in over
            ],
        }
        warnings.warn(
            f"{caller}: {name} is estimated with {alt.name} (unbiased linear HSIC averaged over the data's "
            f"batches, an estimate of debiased CKA, for every layer pair) because {reason}. For exact linear CKA "
            "pass pool='mean' or raise max_features/max_memory_gb; fallback='raise' makes this an error.",
            EstimatorFallbackWarning,
            stacklevel=3,
        )
    return out, notes


def _name_of(block: str, display: Mapping[str, tuple[str, str]]) -> str:
    """``'fc1'``, or ``'fc1' of model_a`` when two models are compared."""
    layer, side = display.get(block, (block, ""))
    return f"{layer!r}" + (f" of {side}" if side else "")
