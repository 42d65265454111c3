"""compare(): every layer of one or two torch models against every other, in one pass."""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch

from .._validation import POOL_OPTIONS, as_tensor, check_option, reshape_activation
from .._version import __version__
from ..errors import EmptyStatisticError, FeatcorrError, NotEnoughSamplesError, ShapeError, UnknownOptionError
from ..extract import (
    ActivationRecorder,
    batch_progress,
    batch_token_mask,
    check_mask_selector,
    repeat_input,
    repeat_rows,
    pool_masked,
    check_model_device,
    iterate_batches,
    model_device,
    model_input,
    resolve_layers,
)
from ..stats import DEFAULT_MAX_FEATURES, DEFAULT_MAX_MEMORY_GB
from ._docs import shared_parameters
from ._engine import _ESTIMATORS, INPUT_BLOCK, Plan, jsonable, resolve_measures
from ._fallback import FALLBACK_OPTIONS, choose_estimators
from ._result import ComparisonResult

__all__ = ["compare", "compare_activations"]


@shared_parameters
def compare(
    model_a: Any,
    data: Any,
    model_b: Any = None,
    *,
    layers_a: str | Iterable[str] | None = None,
    layers_b: str | Iterable[str] | None = None,
    measures: str | Iterable[str] | Mapping[str, Mapping[str, Any]] = ("linear_cka",),
    device: str | torch.device | None = None,
    progress: bool = True,
    pool: str = "flatten",
    inputs: Callable[[Any], Any] | None = None,
    output: int | str | Callable[[Any], Any] | None = None,
    mask: str | Callable[[Any], Any] | None = None,
    fallback: str = "minibatch",
    stochastic_passes: int = 0,
    max_features: int = DEFAULT_MAX_FEATURES,
    max_memory_gb: float = DEFAULT_MAX_MEMORY_GB,
    gemm_dtype: str = "float64",
    n_permutations: int = 0,
    n_bootstrap: int = 0,
    confidence: float = 0.95,
    random_state: int | None = None,
    significance_sample: int = 10000,
) -> ComparisonResult:
    """Compare every chosen layer of ``model_a`` with every chosen layer of ``model_b`` in one pass.

    Each batch of ``data`` goes once through ``model_a`` and once through
    ``model_b`` (the same batch, so shuffled loaders pair samples correctly);
    forward hooks record the chosen layers, and one update per batch feeds
    the statistics every requested measure needs (each distinct statistic is
    accumulated once). Nothing is kept per sample: memory does not grow with
    the data.

    Parameters
    ----------
    model_a : torch.nn.Module
        First model. It is put in ``eval()`` mode during the pass and every
        module's ``training`` flag is restored afterwards; hooks are always
        removed, also on error. It is never moved between devices.
    data : DataLoader or iterable of batches
        Batches are tensors, ``(x, y, ...)`` tuples/lists (``x`` is the
        input) or dicts (passed as keywords); a single tensor or dict is one batch.
    model_b : torch.nn.Module, optional
        Second model; ``None`` compares ``model_a`` with itself (one forward
        pass per batch, and the diagonal is exactly 1 for CKA).
    layers_a, layers_b : str or list of str, optional
        Module names (as in ``named_modules()``) or fnmatch patterns
        (``"features.*"``); default every leaf module. With ``model_b=None``,
        ``layers_b`` defaults to ``layers_a``. Results keep the order given;
        a pattern expands in module order. A module called several times per
        forward is recorded per call as ``name``, ``name#2``, ...
    measures : str, list of str or dict {name: {options}}, default=("linear_cka",)
        Registered measure names (see :func:`featcorr.measures`), optionally
        with options.
    device : str or torch.device, optional
        Where data is moved and statistics accumulate; default the device of
        ``model_a``'s first parameter (CPU if none). Models on another
        device raise an error (move them yourself).
    progress : bool, default=True
        Show a rich progress bar over batches (only on a terminal).
    pool : {"flatten", "mean", "last", "samples"}, default="flatten"
        How (n, c, h, w) conv maps and (n, t, d) token activations become
        2-D: flatten every position, mean over positions/tokens, last token,
        or positions/tokens as extra samples.
    inputs : callable, optional
        ``inputs(batch)`` returns the model input: a tensor -> ``model(x)``,
        a tuple -> ``model(*t)``, a dict -> ``model(**d)``.
    output : None, int, str or callable, optional
        Which tensor of a tuple / dict / dataclass module output to record
        (default the first tensor); a callable maps every output.
    mask : None, str or callable, optional
        Token mask of (n, t, d) activations, so that padding does not count:
        the key of dict batches holding it (``"attention_mask"`` for a
        tokenizer's output) or ``mask(batch)`` returning an (n, t) tensor
        (nonzero = real token). With ``pool="mean"`` each sample's real
        tokens are averaged, ``"last"`` takes its last real token, and
        ``"samples"`` keeps real tokens only. 2-D and conv activations are
        unaffected; requires pool in {"mean", "last", "samples"}.
    fallback : {"minibatch", "raise"}, default="minibatch"
        What ``linear_cka`` does when its p x p moments would not fit (a
        layer wider than ``max_features``, or all tiles above
        ``max_memory_gb``), judged from the first batch before anything is
        accumulated: ``"minibatch"`` estimates it with ``minibatch_cka``
        (unbiased HSIC averaged over the data's batches, an estimate of
        debiased CKA) for every layer pair, warns with
        :class:`~featcorr.compare.EstimatorFallbackWarning` and records it in
        ``metadata["measures"]["linear_cka"]`` (``estimator``, ``fallback``);
        ``"raise"`` raises :class:`~featcorr.errors.MemoryBudgetError`.
        Other moment-based measures always raise it.
    stochastic_passes : int, default=0
        ``r >= 2`` runs every input ``r`` times with the models' dropout
        modules in training mode (everything else in eval mode) -- the
        repeated stochastic passes of Duong et al. 2023 that
        ``stochastic_shape`` compares. Each batch of ``n`` samples is expanded
        to ``n * r`` rows (rows ``[i * r, (i + 1) * r)`` are sample ``i``'s
        passes, each row with its own dropout mask) and sent through each
        model in ONE forward call; ``stochastic_shape``'s ``repeats`` option
        defaults to ``r``. Every other requested measure sees the same
        ``n * r`` stochastic rows. With ``random_state`` the dropout draws
        are seeded (torch's global generator is restored afterwards). Models
        without dropout raise :class:`~featcorr.errors.FeatcorrError`.
    %(engine_parameters)s
    Returns
    -------
    ComparisonResult
        ``.matrix(measure)`` is a (layers of A) x (layers of B) DataFrame;
        ``.to_frame()``, ``.save(dir)``, ``.plot(measure)``, ``.metadata``.

    Raises
    ------
    UnknownLayerError, UnknownMeasureError, UnknownOptionError
        For names that match nothing (close matches are listed).
    EmptyStatisticError, NotEnoughSamplesError
        When ``data`` yields no batch, or fewer than 2 samples in all.
    ShapeError
        When an activation does not have the batch on its first axis, or the
        recorded layers change between batches.
    NonFiniteError
        When an activation holds NaN or inf (naming the layer and batch).
    ConstantFeatureError
        When a layer is constant over the data (naming the layer).
    MemoryBudgetError
        When a moment-based measure's p x p statistics would not fit (raised
        before the pass; ``linear_cka`` falls back to minibatch CKA unless
        ``fallback="raise"``).

    Notes
    -----
    Exact linear CKA over all layer pairs costs one forward pass per model
    and batch plus one (n x P) x (P x P) product per batch (P = total width of
    the chosen layers); memory is O(P^2), independent of the number of
    samples. Tested against a float64 Gram-space CKA of activations collected
    by hand with plain hooks (``tests/compare/test_compare.py``, to 1e-10).

    Examples
    --------
    >>> import torch, featcorr as fc
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    >>> loader = [torch.randn(32, 8) for _ in range(4)]
    >>> res = fc.compare(net, loader, progress=False)
    >>> res.layers_a
    ['0', '1', '2']
    >>> float(res.matrix().loc["0", "0"])
    1.0
    """
    caller = "compare"
    check_option(pool, POOL_OPTIONS, name="pool", caller=caller)
    check_option(fallback, FALLBACK_OPTIONS, name="fallback", caller=caller)
    check_mask_selector(mask, pool, caller=caller)
    plan_measures = resolve_measures(measures, caller=caller)
    passes = _stochastic_passes(stochastic_passes, plan_measures, pool, caller)
    engine = {"max_features": max_features, "max_memory_gb": max_memory_gb, "gemm_dtype": gemm_dtype}
    sig = _significance_options(n_permutations, n_bootstrap, confidence, random_state, significance_sample, caller)
    needs_input = any(INPUT_BLOCK in spec.extra_blocks for _, spec, _ in plan_measures)
    _check_extra_blocks(plan_measures, caller)
    _check_model(model_a, "model_a", caller)
    if model_b is not None:
        _check_model(model_b, "model_b", caller)
    dev = _resolve_device(device, model_a, caller)
    check_model_device(model_a, dev, which="model_a", caller=caller)
    two = model_b is not None
    if two:
        check_model_device(model_b, dev, which="model_b", caller=caller)
    batches, total = iterate_batches(data, caller=caller)

    if two:
        rec_a = ActivationRecorder(model_a, layers_a, output=output, which="model_a", caller=caller, arg="layers_a",
                                   stochastic=passes > 1)
        rec_b = ActivationRecorder(model_b, layers_b, output=output, which="model_b", caller=caller, arg="layers_b",
                                   stochastic=passes > 1)
        order_a = [n for n, _ in rec_a.modules]
        order_b = [n for n, _ in rec_b.modules]
    else:
        order_a = [n for n, _ in resolve_layers(model_a, layers_a, caller=caller, arg="layers_a")]
        order_b = (
            order_a
            if layers_b is None
            else [n for n, _ in resolve_layers(model_a, layers_b, caller=caller, arg="layers_b")]
        )
        if layers_a is None and layers_b is None:
            rec_a = ActivationRecorder(model_a, None, output=output, which="model", caller=caller,
                                       stochastic=passes > 1)
        else:
            union = list(dict.fromkeys(order_a + order_b))
            rec_a = ActivationRecorder(model_a, union, output=output, which="model", caller=caller, arg="layers_a",
                                       stochastic=passes > 1)
            # default leaves (layers_a=None) may be skipped when never called; explicit names never are
            rec_a.optional = set(order_a) - set(order_b) if layers_a is None else set()
        rec_b = None

    plan: Plan | None = None
    n_samples = n_batches = n_inputs = 0
    input_dtype = act_dtype = None
    display: dict[str, tuple[str, str]] = {}
    fallbacks: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        stack.enter_context(rec_a)
        if rec_b is not None:
            stack.enter_context(rec_b)
        stack.enter_context(torch.no_grad())
        if passes > 1 and random_state is not None:
            stack.enter_context(torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []))
            torch.manual_seed(int(random_state))
        bar = stack.enter_context(batch_progress(total, progress, "featcorr compare"))
        for index, batch in enumerate(batches):
            inp = model_input(batch, inputs, dev, caller=caller)
            if inp.n == 0:
                bar()
                continue
            n_inputs += inp.n
            if passes > 1:
                inp = repeat_input(inp, passes, caller=caller)
            acts_a = rec_a.forward(inp)
            acts_b = rec_b.forward(inp) if rec_b is not None else None
            tokens = None
            if mask is not None:
                tokens = batch_token_mask(batch, mask, inp.n // max(passes, 1), dev, caller=caller)
                tokens = repeat_rows(tokens, passes) if passes > 1 else tokens
            blocks = _reshape(acts_a, "a/" if two else "", "model_a" if two else "model", pool, caller, tokens)
            if acts_b is not None:
                blocks.update(_reshape(acts_b, "b/", "model_b", pool, caller, tokens))
            if needs_input:
                x = inp.tensor
                blocks[INPUT_BLOCK] = x.reshape(x.shape[0], -1) if x.is_floating_point() else (
                    x.reshape(x.shape[0], -1).to(torch.float64)
                )
            if plan is None:
                input_dtype = str(inp.tensor.dtype).replace("torch.", "")
                act_dtype = str(next(iter(acts_a.values())).dtype).replace("torch.", "")
                if two:
                    lab_a, lab_b = rec_a.labels_of(order_a), rec_b.labels_of(order_b)
                    blocks_a = [f"a/{x}" for x in lab_a]
                    blocks_b = [f"b/{x}" for x in lab_b]
                    display = {f"a/{x}": (x, "model_a") for x in lab_a} | {f"b/{x}": (x, "model_b") for x in lab_b}
                else:
                    lab_a, lab_b = rec_a.labels_of(order_a), rec_a.labels_of(order_b)
                    blocks_a, blocks_b = lab_a, lab_b
                    display = {x: (x, "") for x in acts_a}
                # one estimator per measure for the whole pass, chosen from the first batch's widths
                chosen, fallbacks = choose_estimators(
                    plan_measures, blocks_a, blocks_b, {k: int(t.shape[1]) for k, t in blocks.items()}, engine,
                    fallback=fallback, display=display, caller=caller,
                )
                plan = Plan(chosen, blocks_a, blocks_b, display, engine, caller=caller, significance=sig)
            plan.update(blocks, batch=index)
            n_samples += inp.n
            n_batches += 1
            bar()
    if plan is None:
        raise EmptyStatisticError(
            f"{caller}: data yielded no (non-empty) batch, so there is nothing to compare; check that the loader "
            "or iterable is not empty (or exhausted: a generator can only be iterated once)."
        )
    if n_samples < 2:
        raise NotEnoughSamplesError(
            f"{caller}: the data held {n_samples} sample(s) while a minimum of 2 is required to compare "
            "representations; pass more samples."
        )
    values = plan.compute()
    extras = plan.compute_significance(values)
    meta = _metadata(
        plan.measures,
        n_samples=n_samples,
        rows=plan.rows,
        n_batches=n_batches,
        pool=pool,
        gemm_dtype=gemm_dtype,
        input_dtype=input_dtype,
        act_dtype=act_dtype,
        device=str(dev),
        models={"a": type(model_a).__name__, "b": type(model_b).__name__ if two else type(model_a).__name__},
        same_model=not two,
        forward_passes={"a": rec_a.forward_passes, "b": rec_b.forward_passes if rec_b is not None else 0},
        skipped={"a": rec_a.skipped, "b": rec_b.skipped if rec_b is not None else []},
        needs_input=needs_input,
        source="models",
        significance=sig,
    )
    meta["token_mask"] = None if mask is None else (mask if isinstance(mask, str) else "callable")
    meta["stochastic_passes"] = passes if passes > 1 else None
    meta["n_inputs"] = n_inputs
    for name, note in fallbacks.items():
        meta["measures"][name]["fallback"] = jsonable(note)
    return ComparisonResult(
        values, [display[b][0] for b in plan.blocks_a], [display[b][0] for b in plan.blocks_b], metadata=meta,
        extras=extras,
    )


@shared_parameters
def compare_activations(
    acts_a: Mapping[str, Any],
    acts_b: Mapping[str, Any] | None = None,
    *,
    measures: str | Iterable[str] | Mapping[str, Mapping[str, Any]] = ("linear_cka",),
    batch_size: int | None = None,
    progress: bool = False,
    pool: str = "flatten",
    max_features: int = DEFAULT_MAX_FEATURES,
    max_memory_gb: float = DEFAULT_MAX_MEMORY_GB,
    gemm_dtype: str = "float64",
    n_permutations: int = 0,
    n_bootstrap: int = 0,
    confidence: float = 0.95,
    random_state: int | None = None,
    significance_sample: int = 10000,
) -> ComparisonResult:
    """Compare activations already in memory, through the same engine as :func:`compare`.

    Parameters
    ----------
    acts_a : mapping str -> array-like of shape (n_samples, ...)
        Layer name -> activations (numpy, torch or pandas; (n, p), (n, c, h, w)
        or (n, t, d)). All arrays of both mappings hold the same samples in
        the same order. A key ``"__input__"`` is not a layer: it is the model
        input used by measures that need it (deconfounded CKA/RSA).
    acts_b : mapping str -> array-like, optional
        Second set of layers; ``None`` compares ``acts_a`` with itself.
    measures : str, list of str or dict {name: {options}}, default=("linear_cka",)
    batch_size : int, optional
        Feed the statistics this many samples at a time (default: all at
        once). Results do not depend on it (up to rounding).
    progress : bool, default=False
        Show a progress bar over batches (only on a terminal).
    pool : {"flatten", "mean", "last", "samples"}, default="flatten"
    %(engine_parameters)s
    Returns
    -------
    ComparisonResult
        Layers in the mappings' order.

    Examples
    --------
    >>> import numpy as np, featcorr as fc
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(50, 6))
    >>> res = fc.compare_activations({"x": x, "y": x @ rng.normal(size=(6, 3))})
    >>> res.matrix().shape
    (2, 2)
    """
    caller = "compare_activations"
    check_option(pool, POOL_OPTIONS, name="pool", caller=caller)
    plan_measures = resolve_measures(measures, caller=caller)
    engine = {"max_features": max_features, "max_memory_gb": max_memory_gb, "gemm_dtype": gemm_dtype}
    sig = _significance_options(n_permutations, n_bootstrap, confidence, random_state, significance_sample, caller)
    needs_input = any(INPUT_BLOCK in spec.extra_blocks for _, spec, _ in plan_measures)
    _check_extra_blocks(plan_measures, caller)
    if batch_size is not None and not (isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size >= 1):
        raise FeatcorrError(f"{caller}: batch_size={batch_size!r} must be a positive int or None.")
    two = acts_b is not None
    side_a = _activation_side(acts_a, "acts_a", caller)
    side_b = _activation_side(acts_b, "acts_b", caller) if two else {}
    x_input = side_a.pop(INPUT_BLOCK, None)
    x_input_b = side_b.pop(INPUT_BLOCK, None)
    if x_input is None:
        x_input = x_input_b
    if not side_a or (two and not side_b):
        raise FeatcorrError(
            f"{caller}: {'acts_a' if not side_a else 'acts_b'} holds no layer; pass a mapping {{layer name: array}}."
        )
    if needs_input and x_input is None:
        names = [n for n, spec, _ in plan_measures if INPUT_BLOCK in spec.extra_blocks]
        raise FeatcorrError(
            f"{caller}: measure(s) {names} need the model input; add it to acts_a under the key '__input__'."
        )
    everything = [(f"acts_a[{k!r}]", t) for k, t in side_a.items()] + [(f"acts_b[{k!r}]", t) for k, t in side_b.items()]
    if needs_input:
        everything.append(("acts_a['__input__']", x_input))
    n = everything[0][1].shape[0]
    for label, t in everything:
        if t.shape[0] != n:
            raise ShapeError(
                f"{caller}: {label} has {t.shape[0]} samples but {everything[0][0]} has {n}; every array must hold "
                "the same samples in the same order (the first axis is the sample axis)."
            )
    if n < 2:
        raise NotEnoughSamplesError(
            f"{caller}: found {n} sample(s) while a minimum of 2 is required; pass more rows (samples first)."
        )
    if two:
        blocks_a = [f"a/{k}" for k in side_a]
        blocks_b = [f"b/{k}" for k in side_b]
        display = {f"a/{k}": (k, "acts_a") for k in side_a} | {f"b/{k}": (k, "acts_b") for k in side_b}
    else:
        blocks_a = blocks_b = list(side_a)
        display = {k: (k, "") for k in side_a}
    plan = Plan(plan_measures, blocks_a, blocks_b, display, engine, caller=caller, significance=sig)
    step = n if batch_size is None else batch_size
    starts = range(0, n, step)
    dev = next(iter(side_a.values())).device
    with batch_progress(len(starts), progress, "featcorr compare") as bar:
        for index, lo in enumerate(starts):
            sl = slice(lo, lo + step)
            blocks = {}
            for block, t in zip(blocks_a, side_a.values()):
                blocks[block] = _reshape_one(t[sl], display[block], pool, caller)
            if two:
                for block, t in zip(blocks_b, side_b.values()):
                    blocks[block] = _reshape_one(t[sl], display[block], pool, caller).to(dev)
            if needs_input:
                x = x_input[sl]
                blocks[INPUT_BLOCK] = x.reshape(x.shape[0], -1).to(dev)
            plan.update(blocks, batch=index)
            bar()
    values = plan.compute()
    extras = plan.compute_significance(values)
    first = next(iter(side_a.values()))
    meta = _metadata(
        plan_measures,
        n_samples=n,
        rows=plan.rows,
        n_batches=len(starts),
        pool=pool,
        gemm_dtype=gemm_dtype,
        input_dtype=None if x_input is None else str(x_input.dtype).replace("torch.", ""),
        act_dtype=str(first.dtype).replace("torch.", ""),
        device=str(dev),
        models={"a": None, "b": None},
        same_model=not two,
        forward_passes={"a": 0, "b": 0},
        skipped={"a": [], "b": []},
        needs_input=needs_input,
        source="activations",
        significance=sig,
    )
    return ComparisonResult(
        values, [display[b][0] for b in plan.blocks_a], [display[b][0] for b in plan.blocks_b], metadata=meta,
        extras=extras,
    )


# ---------------------------------------------------------------------------
def _stochastic_passes(passes: Any, plan_measures: list, pool: str, caller: str) -> int:
    """Validated ``stochastic_passes``; fills ``stochastic_shape``'s ``repeats`` from it (in place)."""
    if isinstance(passes, bool) or not isinstance(passes, (int, np.integer)) or passes < 0 or passes == 1:
        raise UnknownOptionError(
            f"{caller}: stochastic_passes={passes!r} must be 0 (deterministic passes) or an integer >= 2 "
            "(repeated passes per input with dropout on)."
        )
    passes = int(passes)
    for name, _spec, opts in plan_measures:
        if "repeats" not in opts:
            continue
        if opts["repeats"] is None:
            if passes == 0:
                raise UnknownOptionError(
                    f"{caller}: {name} compares repeated stochastic passes; pass stochastic_passes=<int >= 2> "
                    f"(dropout kept on, each input repeated) or, for a loader that already yields each input's "
                    f"repeats in a row, measures={{{name!r}: {{'repeats': r}}}}."
                )
            opts["repeats"] = passes
        if pool == "samples":
            raise UnknownOptionError(
                f"{caller}: {name} needs each input's repeats in consecutive rows, which pool='samples' (positions "
                "or tokens as samples) interleaves; use pool='flatten', 'mean' or 'last'."
            )
        if passes and opts["repeats"] != passes:
            raise UnknownOptionError(
                f"{caller}: {name} option repeats={opts['repeats']!r} disagrees with stochastic_passes={passes}; "
                "leave repeats out (it defaults to stochastic_passes)."
            )
    return passes


def _significance_options(
    n_permutations: Any, n_bootstrap: Any, confidence: Any, random_state: Any, sample: Any, caller: str
) -> dict[str, Any] | None:
    """Validated significance settings, or None when no test is requested."""
    for name, v in (("n_permutations", n_permutations), ("n_bootstrap", n_bootstrap)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise UnknownOptionError(f"{caller}: {name} must be a non-negative int, got {v!r}.")
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise UnknownOptionError(f"{caller}: confidence must be in (0, 1), got {confidence!r}.")
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or sample < 4:
        raise UnknownOptionError(f"{caller}: significance_sample must be an int >= 4, got {sample!r}.")
    if random_state is not None and (isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer))):
        raise UnknownOptionError(f"{caller}: random_state must be an int or None, got {random_state!r}.")
    if not (n_permutations or n_bootstrap):
        return None
    return {
        "n_permutations": int(n_permutations),
        "n_bootstrap": int(n_bootstrap),
        "confidence": float(confidence),
        "random_state": random_state,
        "sample_size": int(sample),
    }


def _check_extra_blocks(plan_measures: list, caller: str) -> None:
    for name, spec, _ in plan_measures:
        unknown = [b for b in spec.extra_blocks if b != INPUT_BLOCK]
        if unknown:
            raise FeatcorrError(
                f"{caller}: measure {name!r} needs block(s) {unknown}, which compare cannot supply (it supplies "
                f"{INPUT_BLOCK!r}); compute it with its array function instead."
            )


def _check_model(model: Any, which: str, caller: str) -> None:
    if not isinstance(model, torch.nn.Module):
        raise FeatcorrError(
            f"{caller}: {which} must be a torch.nn.Module, got {type(model).__name__}; for activations already "
            "in memory use featcorr.compare_activations."
        )


def _resolve_device(device: Any, model: Any, caller: str) -> torch.device:
    if device is None:
        dev = model_device(model) if hasattr(model, "parameters") else None
        return dev if dev is not None else torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise FeatcorrError(
            f"{caller}: device={device!r} is not a torch device ({exc}); use e.g. 'cpu', 'cuda' or 'cuda:1'."
        ) from None


def _pooled(t: torch.Tensor, pool: str, name: str, caller: str, mask: torch.Tensor | None = None) -> torch.Tensor:
    """2-D view of one activation; mean pooling sums in float64 (float32 means lose ~1e-7)."""
    if mask is not None:
        return pool_masked(t, mask, pool, name=name, caller=caller)
    if pool == "mean" and t.ndim > 2:
        t = t.to(torch.float64)
    return reshape_activation(t, pool=pool, name=name, caller=caller)


def _reshape(
    acts: Mapping[str, torch.Tensor], prefix: str, side: str, pool: str, caller: str,
    mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    return {prefix + label: _pooled(t, pool, f"layer {label!r} of {side}", caller, mask) for label, t in acts.items()}


def _reshape_one(t: torch.Tensor, display: tuple[str, str], pool: str, caller: str) -> torch.Tensor:
    name, side = display
    return _pooled(t, pool, f"{side or 'acts'}[{name!r}]", caller)


def _activation_side(acts: Any, arg: str, caller: str) -> dict[str, torch.Tensor]:
    if not isinstance(acts, Mapping):
        raise FeatcorrError(
            f"{caller}: {arg} must be a mapping {{layer name: array}}, got {type(acts).__name__}; e.g. "
            "dict(np.load('acts.npz'))."
        )
    out = {}
    for k, v in acts.items():
        t = as_tensor(v, name=f"{arg}[{k!r}]", caller=caller)
        if t.ndim < 2:
            reshape_activation(t, name=f"{arg}[{k!r}]", caller=caller)  # raises the standard shape message
        out[str(k)] = t
    return out


def _metadata(plan_measures: list, **kw: Any) -> dict[str, Any]:
    measures = {
        name: {
            "statistic": spec.statistic,
            "estimator": _ESTIMATORS.get(spec.statistic, spec.statistic),
            "kind": spec.kind,
            "range": spec.value_range,
            "options": jsonable(opts),
        }
        for name, spec, opts in plan_measures
    }
    return jsonable(
        {
            "featcorr_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "source": kw["source"],
            "n_samples": kw["n_samples"],
            "n_rows": kw["rows"],
            "n_batches": kw["n_batches"],
            "forward_passes": kw["forward_passes"],
            "pool": kw["pool"],
            "gemm_dtype": kw["gemm_dtype"],
            "input_dtype": kw["input_dtype"],
            "activation_dtype": kw["act_dtype"],
            "device": kw["device"],
            "models": kw["models"],
            "same_model": kw["same_model"],
            "skipped_layers": kw["skipped"],
            "uses_input_block": kw["needs_input"],
            "measures": measures,
            "significance": kw.get("significance"),
        }
    )
