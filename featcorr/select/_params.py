"""Parameter validation for selectors that raises a FeatcorrError and keeps scikit-learn's type and words."""

from __future__ import annotations

from typing import Any

from sklearn.utils._param_validation import InvalidParameterError, StrOptions

from ..errors import UnknownOptionError

__all__ = ["SelectorParameterError", "validate_params", "DEPENDENCE_PARAMETERS", "method_options"]

#: Constraints of the parameters shared by the selectors that score features with ``fc.dependence`` (Rank, MRMR).
DEPENDENCE_PARAMETERS: dict = {
    "constant": [StrOptions({"raise", "drop"})],
    "method_params": [dict, None],
    "random_state": ["random_state"],
}


class SelectorParameterError(UnknownOptionError, InvalidParameterError):
    """A selector parameter is outside its allowed set (a FeatcorrError and scikit-learn's InvalidParameterError)."""


def validate_params(estimator) -> None:
    """Run scikit-learn's ``_validate_params`` and re-raise its InvalidParameterError as SelectorParameterError."""
    try:
        estimator._validate_params()
    except InvalidParameterError as exc:
        if isinstance(exc, SelectorParameterError):
            raise
        raise SelectorParameterError(str(exc)) from None


def method_options(estimator: Any, method: str) -> dict:
    """Options of a dependence method: the selector's ``method_params``, plus its ``random_state`` for ``"mi"``.

    The k-NN mutual information jitter is seeded by the selector's
    ``random_state`` unless ``method_params`` sets its own.
    """
    options = dict(estimator.method_params or {})
    if method == "mi" and "random_state" not in options:
        options["random_state"] = estimator.random_state
    return options
