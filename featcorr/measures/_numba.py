"""Whether numba is importable: the compiled CPU kernels (dCor, ranks, Kendall tau) need it."""

from __future__ import annotations

import functools

__all__ = ["numba_available"]


@functools.cache
def numba_available() -> bool:
    """True when numba imports, i.e. the compiled kernels can be used (numba is a dependency; checked once)."""
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a dependency
        return False
    return True
