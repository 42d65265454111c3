"""Array-level entry points: similarity(), cka(), unit_correlation(), measures()."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_2d, check_option, check_same_n
from ..errors import ShapeError, UnknownOptionError
from ..stats import StatisticSet
from ._correlation import unit_correlation_from
from ._registry import get_measure, measures_table

__all__ = ["similarity", "cka", "unit_correlation", "measures", "blocks_from_arrays", "evaluate", "prepare"]

#: Options handled by the engine rather than the measure.
ENGINE_OPTIONS = ("max_features", "max_memory_gb", "gemm_dtype", "pool")

#: Array-valued options that similarity() adds to the batch as a measure's extra blocks
#: (MeasureSpec.extra_blocks): block name -> option name. Other extra blocks are passed under their own name.
ARRAY_OPTIONS = {"__input__": "confounder"}


def blocks_from_arrays(X: Any, Y: Any, *, caller: str, pool: str = "flatten", min_samples: int = 2):
    """Validate two arrays and return (batch dict, name_x, name_y); Y identical to X gives one block."""
    same = Y is X
    tx = as_2d(X, name="X", caller=caller, pool=pool, min_samples=min_samples)
    if same:
        return {"X": tx}, "X", "X"
    ty = as_2d(Y, name="Y", caller=caller, pool=pool, min_samples=min_samples)
    check_same_n(tx, ty, caller=caller)
    if ty.device != tx.device:
        ty = ty.to(tx.device)
    return {"X": tx, "Y": ty}, "X", "Y"


def similarity(X: Any, Y: Any, measure: str = "linear_cka", **options: Any) -> float:
    """Similarity (or distance) of two representations of the same samples.

    Parameters
    ----------
    X : array-like of shape (n_samples, p) or (n_samples, c, h, w) or (n_samples, t, d)
        First representation (numpy, pandas or torch; any device). Rows are samples.
    Y : array-like of shape (n_samples, q) or as X
        Second representation of the same samples in the same order.
    measure : str, default="linear_cka"
        A registered measure name (see :func:`featcorr.measures`).
    **options
        Options of the measure (see its entry), plus ``pool`` for >2-D input
        (``"flatten"`` default, ``"mean"``, ``"last"``, ``"samples"``) and the
        engine options ``max_features``, ``max_memory_gb``, ``gemm_dtype``.
        ``confounder`` (array, n_samples rows) feeds the extra block of
        deconfounded measures (``deconfounded_cka``, ``deconfounded_rsa``).
        ``n_permutations``, ``n_bootstrap``, ``confidence`` and
        ``random_state`` turn on significance (see :func:`featcorr.significance`).

    Returns
    -------
    float or SignificanceResult
        The measure's value; its kind and range are listed by
        :func:`featcorr.measures`. With significance options, a
        :class:`~featcorr.measures.SignificanceResult` (usable as a float)
        carrying the p-value and confidence interval.

    Notes
    -----
    The array path builds the same streaming statistic that
    :func:`featcorr.compare` accumulates over batches (one update of the whole
    data) and calls the same function on it, so array and streaming results
    agree by construction.

    Examples
    --------
    >>> import numpy as np, featcorr as fc
    >>> X = np.random.default_rng(0).normal(size=(200, 10))
    >>> round(fc.similarity(X, 2 * X @ np.linalg.qr(np.random.default_rng(1).normal(size=(10, 10)))[0]), 12)
    1.0
    """
    if any(k in options for k in ("n_permutations", "n_bootstrap")):
        from ._significance import significance

        return significance(X, Y, measure, **options)
    spec, batch, a, b, opts, engine = prepare(X, Y, measure, options, caller="similarity")
    return evaluate(spec, batch, a, b, opts, engine)


def prepare(X: Any, Y: Any, measure: str, options: dict, *, caller: str):
    """Validate arrays and options for one measure: ``(spec, batch, a, b, opts, engine)``.

    Splits engine options (``pool``, ``max_features``, ...) from the measure's
    own, turns array options that feed extra blocks (``confounder=``) into
    blocks of the batch, and returns the validated float64 blocks.
    """
    options = dict(options)
    spec = get_measure(measure, caller=caller)
    caller = f"{caller}(measure={spec.name!r})"
    engine = {k: options.pop(k) for k in ENGINE_OPTIONS if k in options}
    pool = engine.pop("pool", "flatten")
    extra = {}
    for block in spec.extra_blocks:
        opt = ARRAY_OPTIONS.get(block, block)
        if opt not in options:
            raise UnknownOptionError(
                f"{caller}: measure {spec.name!r} needs the array {opt}= (n_samples rows, the same samples as X "
                f"and Y; for deconfounded measures usually the flattened model input)."
            )
        extra[block] = (opt, options.pop(opt))
    opts = spec.resolve_options(options, caller=caller)
    if "repeats" in opts:  # the measure reads rows in groups of consecutive repeats (stochastic_shape)
        opts["repeats"] = _repeat_rows(X, Y, pool, opts["repeats"], caller)
    batch, a, b = blocks_from_arrays(X, Y, caller=caller, pool=pool)
    for block, (opt, value) in extra.items():
        t = as_2d(value, name=opt, caller=caller, pool=pool)
        check_same_n(batch[a], t, names=("X", opt), caller=caller)
        batch[block] = t.to(batch[a].device)
    return spec, batch, a, b, opts, engine


def _repeat_rows(X: Any, Y: Any, pool: str, repeats: Any, caller: str) -> Any:
    """``repeats`` for a measure that reads consecutive rows as repeats of one condition, checked against >2-D input.

    A 3-D array is (n_conditions, n_repeats, p): only ``pool="samples"`` keeps
    each condition's repeats as consecutive rows (``repeats`` defaults to
    n_repeats); ``"flatten"`` would turn the repeats into features. Conv maps
    (4-D/5-D, repeats on the batch axis) must not use ``pool="samples"``,
    which interleaves positions with the repeats.
    """
    for name, arr in (("X", X), ("Y", Y)):
        shape = tuple(getattr(arr, "shape", ()))
        if len(shape) == 3 and pool != "samples":
            raise ShapeError(
                f"{caller}: {name} has shape {shape}; a 3-D array here is (n_conditions, n_repeats, n_features), "
                f"and pool={pool!r} would not keep each condition's repeats as rows. Pass pool='samples' (with "
                "repeats=n_repeats, the default for 3-D input), or reshape 2-D rows condition by condition yourself "
                "(token activations of repeated passes: X.reshape(len(X), -1))."
            )
        if len(shape) > 3 and pool == "samples":
            raise ShapeError(
                f"{caller}: {name} has shape {shape}; pool='samples' makes positions rows and interleaves them with "
                "each input's repeats. Use pool='flatten' or 'mean' (repeats stay consecutive rows on the batch axis)."
            )
        if len(shape) == 3:
            if repeats is None:
                repeats = shape[1]
            elif repeats != shape[1]:
                raise ShapeError(
                    f"{caller}: repeats={repeats!r} disagrees with {name}'s n_repeats axis (shape {shape}); leave "
                    "repeats out for a (n_conditions, n_repeats, n_features) array."
                )
    return repeats


def evaluate(spec, batch: dict, a: str, b: str, opts: dict, engine: dict | None = None) -> float:
    """Build ``spec``'s statistics from one in-memory batch and compute the measure for blocks (a, b)."""
    sset = StatisticSet()
    roles = sset.request(spec.statistics((a,), (b,), engine=engine or {}, **opts))
    sset.update(batch)
    snaps = sset.finalize()
    return float(spec.compute({r: snaps[k] for r, k in roles.items()}, a, b, **opts))


def cka(X: Any, Y: Any, *, kernel: str = "linear", debiased: bool = False, **options: Any) -> float:
    """Centered kernel alignment of two representations (Kornblith et al. 2019).

    Parameters
    ----------
    X : array-like of shape (n_samples, p)
    Y : array-like of shape (n_samples, q)
    kernel : {"linear", "rbf"}, default="linear"
    debiased : bool, default=False
        Use the unbiased HSIC estimator (Song et al. 2012) instead of the biased one.
    **options
        Passed to the measure (e.g. ``threshold`` for the RBF bandwidth).

    Returns
    -------
    float
        Linear CKA in [0, 1] (the debiased estimate can be negative).

    Notes
    -----
    Invariant to orthogonal transforms, isotropic scaling and translation of
    either representation; not to general invertible linear maps. Tested
    against a float64 Gram-space formula (tests/measures/test_cka.py) and
    pytorch-cka (tests/anchors).

    References
    ----------
    .. [1] Kornblith, Norouzi, Lee, Hinton, "Similarity of Neural Network
       Representations Revisited", ICML 2019, arXiv:1905.00414.
    """
    check_option(kernel, ("linear", "rbf"), name="kernel", caller="cka")
    if kernel == "linear":
        name = "debiased_cka" if debiased else "linear_cka"
    else:
        name = "rbf_cka"
        if debiased:
            options["debiased"] = True
    return similarity(X, Y, measure=name, **options)


def unit_correlation(X: Any, Y: Any = None, *, constant: str = "raise", pool: str = "flatten") -> np.ndarray:
    """Pearson correlation of every unit (column) of X with every unit of Y.

    Parameters
    ----------
    X : array-like of shape (n_samples, p)
    Y : array-like of shape (n_samples, q), optional
        Defaults to X (the within-layer correlation matrix).
    constant : {"raise", "nan", "zero"}, default="raise"
        Handling of zero-variance units.
    pool : str, default="flatten"
        How >2-D input becomes 2-D (see :func:`similarity`).

    Returns
    -------
    numpy.ndarray of shape (p, q), float64
        Equal to ``np.corrcoef(X, Y, rowvar=False)[:p, p:]`` (tested to 1e-12).
    """
    batch, a, b = blocks_from_arrays(X, X if Y is None else Y, caller="unit_correlation", pool=pool)
    from ..stats import Moments

    m = Moments(pairs="all").update(batch)
    return unit_correlation_from(m.finalize(), a, b, constant=constant).cpu().numpy()


def measures():
    """Table of every registered measure.

    Returns
    -------
    pandas.DataFrame
        One row per measure: ``name``, ``statistic``, ``kind``
        (similarity|distance), ``invariances``, ``range``, ``symmetric``,
        ``reference`` and ``paper``.
    """
    return measures_table()
