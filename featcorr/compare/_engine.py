"""The comparison engine: measures -> deduplicated statistics -> one update per batch -> matrices."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import FeatcorrError, NonFiniteError, NotEnoughSamplesError, ShapeError, UnknownOptionError
from ..measures import get_measure
from ..measures._api import evaluate
from ..measures._significance import bootstrap_distribution, permutation_null, permutation_p_value
from ..stats import Reservoir, StatisticSet

__all__ = ["INPUT_BLOCK", "resolve_measures", "Plan", "jsonable"]

#: Name of the block holding the flattened model input (MeasureSpec.extra_blocks).
INPUT_BLOCK = "__input__"

_ESTIMATORS = {
    "moments": "exact: float64 centred moments over all samples, one pass",
    "minibatch_hsic": "minibatch estimate: unbiased HSIC averaged over batches",
    "sample": "exact on a uniform sample of rows",
}


def resolve_measures(measures: Any, *, caller: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """``[(name, spec, resolved options), ...]`` from a name, a list of names or ``{name: {options}}``."""
    if isinstance(measures, str):
        items: list[tuple[Any, Any]] = [(measures, {})]
    elif isinstance(measures, Mapping):
        items = list(measures.items())
    else:
        try:
            items = [(m, {}) for m in measures]
        except TypeError:
            raise FeatcorrError(
                f"{caller}: measures={measures!r} is not a measure name, a list of names or a dict "
                "{name: {options}}; see featcorr.measures() for the names."
            ) from None
    if not items:
        raise FeatcorrError(f"{caller}: measures is empty; pass at least one name, e.g. measures=('linear_cka',).")
    out: dict[str, tuple[str, Any, dict[str, Any]]] = {}
    for name, opts in items:
        spec = get_measure(name, caller=caller)
        if opts is None:
            opts = {}
        if not isinstance(opts, Mapping):
            raise UnknownOptionError(
                f"{caller}: the options of measure {spec.name!r} must be a dict, got {opts!r}; e.g. "
                f"measures={{{spec.name!r}: {{...}}}}."
            )
        out[spec.name] = (spec.name, spec, spec.resolve_options(dict(opts), caller=f"{caller}({spec.name})"))
    return list(out.values())


def jsonable(obj: Any) -> Any:
    """A JSON-serialisable copy of ``obj`` (tuples -> lists, numpy/torch scalars -> Python, else repr)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (torch.dtype, torch.device)):
        return str(obj)
    return repr(obj)


class Plan:
    """What one comparison accumulates and computes.

    Parameters
    ----------
    measures : list of (name, spec, options)
        From :func:`resolve_measures`.
    blocks_a, blocks_b : sequence of str
        Internal block names of the two sides (equal to the display names
        when a model is compared with itself).
    display : mapping internal name -> (layer name, side label)
        How messages and results name a block.
    engine : dict
        Engine options passed to every ``spec.statistics``.
    significance : dict, optional
        ``n_permutations``, ``n_bootstrap``, ``confidence``, ``random_state``
        and ``sample_size``: a reservoir sample of every block is kept beside
        the other statistics and :meth:`compute_significance` tests each layer
        pair on it (on all rows when the data fit in the sample).
    """

    def __init__(
        self,
        measures: list[tuple[str, Any, dict[str, Any]]],
        blocks_a: Sequence[str],
        blocks_b: Sequence[str],
        display: Mapping[str, tuple[str, str]],
        engine: Mapping[str, Any],
        *,
        caller: str,
        significance: Mapping[str, Any] | None = None,
    ) -> None:
        self.measures = measures
        self.blocks_a = list(blocks_a)
        self.blocks_b = list(blocks_b)
        self.display = dict(display)
        self.caller = caller
        self.sset = StatisticSet()
        self.roles: dict[str, dict[str, tuple]] = {}
        for name, spec, opts in measures:
            self.roles[name] = self.sset.request(
                spec.statistics(tuple(self.blocks_a), tuple(self.blocks_b), engine=dict(engine), **opts)
            )
        self.engine = dict(engine)
        self.significance = dict(significance) if significance else None
        if self.significance:
            extra = sorted({blk for _, spec, _ in measures for blk in spec.extra_blocks})
            blocks = list(dict.fromkeys(self.blocks_a + self.blocks_b + extra))
            seed = int(np.random.default_rng(self.significance["random_state"]).integers(2**31))
            self.roles["__significance__"] = self.sset.request(
                {"sample": Reservoir(self.significance["sample_size"], seed=seed, blocks=blocks)}
            )
        self.rows = 0

    def name_of(self, block: str) -> str:
        """How messages name an internal block: ``layer 'fc1' of model_a``."""
        if block == INPUT_BLOCK:
            return "the model input ('__input__')"
        layer, side = self.display.get(block, (block, ""))
        return f"layer {layer!r}" + (f" of {side}" if side else "")

    def update(self, blocks: Mapping[str, torch.Tensor], *, batch: int) -> None:
        """Check one batch of 2-D blocks (same rows, finite) and feed it to every statistic."""
        rows = None
        for block, t in blocks.items():
            if rows is None:
                rows, first = t.shape[0], block
            elif t.shape[0] != rows:
                raise ShapeError(
                    f"{self.caller}: in batch {batch}, {self.name_of(block)} has {t.shape[0]} rows after pooling but "
                    f"{self.name_of(first)} has {rows}; every layer must give the same number of rows. With "
                    "pool='samples' every layer must have the same number of positions (use pool='mean' or "
                    "'flatten', or choose layers with layers=)."
                )
        try:
            self.sset.update(blocks)  # every statistic checks finiteness (protocol): no second scan here
        except NonFiniteError:
            self._raise_non_finite(blocks, batch)
            raise
        self.rows += int(rows or 0)

    def _raise_non_finite(self, blocks: Mapping[str, torch.Tensor], batch: int) -> None:
        """Re-raise a statistic's NonFiniteError naming the layer (plain name) and the batch."""
        for block, t in blocks.items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                n_nan = int(torch.isnan(t).sum())
                n_inf = int(torch.isinf(t).sum())
                raise NonFiniteError(
                    f"{self.caller}: {self.name_of(block)} holds NaN ({n_nan} value(s)) or inf ({n_inf} value(s)) "
                    f"in batch {batch}; check the model (e.g. overflow in float16, log of 0) or the inputs of "
                    "that batch."
                )

    def compute(self) -> dict[str, np.ndarray]:
        """``{measure: (len(blocks_a), len(blocks_b)) float64 array}``."""
        snaps = self.sset.finalize()
        out: dict[str, np.ndarray] = {}
        for name, spec, opts in self.measures:
            mine = {role: snaps[key] for role, key in self.roles[name].items()}
            mat = np.empty((len(self.blocks_a), len(self.blocks_b)), dtype=np.float64)
            done: dict[tuple[str, str], float] = {}
            for i, a in enumerate(self.blocks_a):
                for j, b in enumerate(self.blocks_b):
                    if (a, b) in done:
                        mat[i, j] = done[(a, b)]
                        continue
                    if spec.symmetric and (b, a) in done:
                        mat[i, j] = done[(a, b)] = done[(b, a)]
                        continue
                    try:
                        v = float(spec.compute(mine, a, b, **opts))
                    except FeatcorrError as exc:
                        raise self._rename(exc, name, a, b) from exc
                    if math.isnan(v):
                        raise NonFiniteError(
                            f"{self.caller}: {name} of {self.name_of(a)} and {self.name_of(b)} is NaN; featcorr never "
                            "returns a silent NaN. Check that both layers vary across samples, or report this as a bug."
                        )
                    mat[i, j] = done[(a, b)] = v
            out[name] = mat
        return out

    def compute_significance(self, values: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        """Per-measure extra columns: ``p_value`` and/or ``ci_low``/``ci_high``, from the reservoir sample.

        Permutation null: rows of layer b permuted against layer a; the
        observed value is the full-data one when every row is in the sample,
        else the value on the sample (so value and null see the same rows).
        """
        if not self.significance:
            return {}
        sig = self.significance
        snap = self.sset.statistic(self.roles["__significance__"]["sample"]).finalize()
        rng = np.random.default_rng(sig["random_state"])
        out: dict[str, dict[str, np.ndarray]] = {}
        for name, spec, opts in self.measures:
            cols: dict[str, np.ndarray] = {}
            shape = (len(self.blocks_a), len(self.blocks_b))
            if sig["n_permutations"]:
                cols["p_value"] = np.empty(shape)
            if sig["n_bootstrap"]:
                cols["ci_low"], cols["ci_high"] = np.empty(shape), np.empty(shape)
            extra = {blk: snap.rows(blk) for blk in spec.extra_blocks}
            if opts.get("repeats") and not snap.exact:
                raise NotEnoughSamplesError(
                    f"{self.caller}: the significance sample kept {snap.m} of {snap.n_seen} rows, which breaks "
                    f"{name}'s groups of repeats={opts['repeats']} rows; pass significance_sample >= {snap.n_seen}."
                )
            for i, a in enumerate(self.blocks_a):
                for j, b in enumerate(self.blocks_b):
                    X, Y = snap.rows(a), snap.rows(b)
                    try:
                        if sig["n_permutations"]:
                            observed = (
                                values[name][i, j]
                                if snap.exact
                                else evaluate(spec, {**extra, "X": X, "Y": Y}, "X", "Y", opts, self.engine)
                            )
                            null = permutation_null(
                                spec, X, Y, sig["n_permutations"], rng=rng, opts=opts, engine=self.engine, extra=extra
                            )
                            cols["p_value"][i, j] = permutation_p_value(observed, null, kind=spec.kind)
                        if sig["n_bootstrap"]:
                            boot = bootstrap_distribution(
                                spec, X, Y, sig["n_bootstrap"], rng=rng, opts=opts, engine=self.engine, extra=extra
                            )
                            q = (1 - sig["confidence"]) / 2
                            cols["ci_low"][i, j], cols["ci_high"][i, j] = np.quantile(boot, [q, 1 - q])
                    except FeatcorrError as exc:
                        raise self._rename(exc, name, a, b) from exc
            out[name] = cols
        return out

    def _rename(self, exc: FeatcorrError, measure: str, a: str, b: str) -> FeatcorrError:
        """The same error with internal block names replaced by layer names."""
        msg = str(exc)
        for block in sorted(self.display, key=len, reverse=True):
            msg = msg.replace(f"block {block!r}", self.name_of(block)).replace(repr(block), repr(self.display[block][0]))
        where = f"{self.caller}: while computing {measure} of {self.name_of(a)} and {self.name_of(b)}: "
        new = type(exc)(where + msg)
        return new
