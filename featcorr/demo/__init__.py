"""The demo: two small MLPs trained on scikit-learn's digits, every layer pair compared in one pass.

Run it with ``featcorr demo`` (or ``make demo``), or from Python with
:func:`run_demo`.
"""

from ._run import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
