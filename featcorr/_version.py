"""featcorr's version string (single source, read by pyproject and results)."""

__version__ = "0.1.0"
