"""Errors featcorr raises on bad input.

Every error is a :class:`FeatcorrError`, itself a :class:`ValueError`, so
``except ValueError`` keeps working. Messages say what was wrong, the value
seen, and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "FeatcorrError",
    "ShapeError",
    "NonFiniteError",
    "ConstantFeatureError",
    "NotEnoughSamplesError",
    "EmptyStatisticError",
    "UnknownLayerError",
    "UnknownMeasureError",
    "UnknownOptionError",
    "MemoryBudgetError",
    "NotAResultError",
    "StatisticMismatchError",
    "InputTypeError",
    "RankDeficientError",
    "ActivationFileError",
    "close_matches_hint",
]


class FeatcorrError(ValueError):
    """Base class of every error featcorr raises on bad input."""


class ShapeError(FeatcorrError):
    """An array has the wrong number of dimensions or mismatched sizes."""


class NonFiniteError(FeatcorrError):
    """An input holds NaN or infinite values."""


class ConstantFeatureError(FeatcorrError):
    """A representation or column is constant, so the measure is undefined."""


class NotEnoughSamplesError(FeatcorrError):
    """Too few samples for the requested computation."""


class EmptyStatisticError(FeatcorrError):
    """A statistic was finalized before it saw any (or enough) data."""


class UnknownLayerError(FeatcorrError, KeyError):
    """A layer name or pattern matches no module of the model."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UnknownMeasureError(FeatcorrError, KeyError):
    """A measure name is not in the registry."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownOptionError(FeatcorrError, TypeError):
    """An option has a value outside its allowed set, or an unknown keyword."""


class MemoryBudgetError(FeatcorrError):
    """The requested statistic would not fit the memory budget."""


class NotAResultError(FeatcorrError):
    """A file or directory is not a saved featcorr result."""


class StatisticMismatchError(FeatcorrError):
    """Two statistics cannot be merged (different class, config or blocks)."""


class InputTypeError(FeatcorrError, TypeError):
    """An input has the wrong type (sparse matrix, strings in a numeric array, ...)."""


class RankDeficientError(FeatcorrError):
    """A covariance is (numerically) singular where the measure needs full rank."""


class ActivationFileError(FeatcorrError):
    """An activation file is missing, empty, corrupt, of an unknown type, or holds non-numeric arrays."""


def close_matches_hint(name: str, choices: Iterable[str], *, n: int = 5) -> str:
    """Return ' Did you mean ...?' for the closest choices, or '' if none are close."""
    choices = [str(c) for c in choices]
    close = difflib.get_close_matches(str(name), choices, n=n, cutoff=0.5)
    if not close:
        close = [c for c in choices if str(name).lower() in c.lower()][:n]
    if not close:
        return ""
    return " Did you mean " + ", ".join(repr(c) for c in close) + "?"
