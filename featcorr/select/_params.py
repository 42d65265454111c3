"""Parameter validation for selectors that raises a FeatcorrError and keeps scikit-learn's type and words."""

from __future__ import annotations

from sklearn.utils._param_validation import InvalidParameterError

from ..errors import UnknownOptionError

__all__ = ["SelectorParameterError", "validate_params"]


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
