"""Forward hooks that record named layers' activations, with a clean lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from ..errors import FeatcorrError, ShapeError
from ._batches import ModelInput
from ._layers import resolve_layers
from ._outputs import check_output_selector, select_output
from ._stochastic import dropout_modules

__all__ = ["ActivationRecorder"]


class ActivationRecorder:
    """Record the outputs of named modules of a torch model during forward passes.

    Use it as a context manager: on enter the model is put in ``eval()`` mode
    and one forward hook is added per chosen module; on exit (also when an
    error is raised inside the block) every hook is removed and every module's
    previous ``training`` flag is restored. The model is never moved.

    Parameters
    ----------
    model : torch.nn.Module
        The model; its hooks and train/eval flags are restored on exit, it is never moved.
    layers : str or iterable of str, optional
        Module names or fnmatch glob patterns (see
        :func:`featcorr.extract.resolve_layers`); ``None`` records every leaf
        module, skipping leaves that are never called or return no tensor.
    output : None, int, str or callable, optional
        Which tensor of a non-tensor output (tuple, list, dict, dataclass,
        ``ModelOutput``) to keep: ``None`` keeps the first tensor, an int
        indexes, a str picks a key or attribute, a callable maps every output
        (tensors included) to the tensor to record.
    which : str, default="model"
        How error messages name this model (e.g. ``"model_a"``).
    caller : str, default="featcorr"
        Function named in error messages.
    arg : str, default="layers"
        Argument named in error messages about ``layers``.
    stochastic : bool, default=False
        Keep the model's dropout modules (:func:`~featcorr.extract.dropout_modules`)
        in training mode inside the block, every other module in eval mode
        (batch norm uses its running statistics), so that forward passes are
        the stochastic passes of Duong et al. 2023 (stochastic shape metrics).
        A model without dropout raises :class:`~featcorr.errors.FeatcorrError`.

    Notes
    -----
    A module called several times in one forward (a reused block, tied
    weights) is recorded once per call: ``name``, ``name#2``, ``name#3``, ...
    Outputs are kept without copying unless a later in-place operation
    (``ReLU(inplace=True)``, ``x += ...``) modifies them: the first forward
    copies every output and watches the originals' version counters, so only
    the layers that need it are copied afterwards (and a forward whose record
    was overwritten in place is re-run with a copy).

    Examples
    --------
    >>> import torch
    >>> from featcorr.extract import ActivationRecorder, model_input
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    >>> x = torch.randn(5, 4)
    >>> with ActivationRecorder(net) as rec, torch.no_grad():
    ...     acts = rec.forward(model_input(x, None, torch.device("cpu"), caller="doc"))
    >>> {k: tuple(v.shape) for k, v in acts.items()}
    {'0': (5, 3), '1': (5, 3), '2': (5, 2)}
    >>> net[0]._forward_hooks
    OrderedDict()
    """

    def __init__(
        self,
        model: Any,
        layers: str | Iterable[str] | None = None,
        *,
        output: int | str | Callable[[Any], Any] | None = None,
        which: str = "model",
        caller: str = "featcorr",
        arg: str = "layers",
        stochastic: bool = False,
    ) -> None:
        check_output_selector(output, caller=caller)
        self.stochastic = bool(stochastic)
        self._dropout = dropout_modules(model) if self.stochastic else []
        if self.stochastic and not self._dropout:
            raise FeatcorrError(
                f"{caller}: stochastic passes keep dropout on, but {which} ({type(model).__name__}) has no dropout "
                "module (torch.nn.Dropout, Dropout1d/2d/3d, AlphaDropout); for input-noise repeats feed each noisy "
                "sample yourself and pass the stochastic_shape option repeats= instead."
            )
        self.model = model
        self.which = which
        self.caller = caller
        self.explicit = layers is not None
        self.modules = resolve_layers(model, layers, caller=caller, arg=arg)
        self._order = {name: i for i, (name, _) in enumerate(self.modules)}
        self.output = output
        self.active = False
        self.forward_passes = 0
        self.names: list[str] | None = None  # recorded labels, fixed by the first forward
        self.skipped: list[str] = []  # default leaves never called or without a tensor output
        #: names that may be skipped silently even when ``layers`` is given (e.g. a default side of compare)
        self.optional: set[str] = set()
        self._handles: list[Any] = []
        self._training: list[tuple[Any, bool]] = []
        self._copy_all = True
        self._copy: set[str] = set()
        self._reset_forward()

    # -------------------------------------------------------------- lifecycle
    def __enter__(self) -> ActivationRecorder:
        self._training = [(m, m.training) for m in self.model.modules()]
        try:
            self.model.eval()
            for _, module in self._dropout:
                module.train()
            for name, module in self.modules:
                self._handles.append(module.register_forward_hook(self._make_hook(name)))
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        self.active = False
        for h in self._handles:
            h.remove()
        self._handles = []
        for m, flag in self._training:
            m.training = flag
        self._training = []
        self._reset_forward()

    # ------------------------------------------------------------------ hooks
    def _reset_forward(self) -> None:
        self._records: dict[str, torch.Tensor] = {}
        self._calls: dict[str, int] = {}
        self._watch: list[tuple[str, str, torch.Tensor, int]] = []
        self._no_tensor: set[str] = set()

    def _make_hook(self, name: str) -> Callable[..., None]:
        def hook(module: Any, args: Any, out: Any) -> None:
            if not self.active:
                return
            k = self._calls.get(name, 0) + 1
            self._calls[name] = k
            label = name if k == 1 else f"{name}#{k}"
            if k > 1 and label in self._order:
                raise FeatcorrError(
                    f"{self.caller}: module {name!r} of {self.which} runs {k} times per forward, and its call {k} "
                    f"would be labelled {label!r}, which is the name of another recorded module; rename one of "
                    "them or leave one out with layers=."
                )
            t = select_output(out, self.output, layer=label, caller=self.caller)
            if t is None:
                self._no_tensor.add(label)
                return
            t = t.detach()
            # inference tensors (caller's torch.inference_mode) have no version counter: always copy them
            copy = self._copy_all or name in self._copy or t.is_inference()
            if not copy:
                self._watch.append((name, label, t, _version(t)))
                self._records[label] = t
            else:
                if self._copy_all:
                    self._watch.append((name, label, t, _version(t)))
                self._records[label] = t.clone()

        return hook

    # ---------------------------------------------------------------- forward
    def forward(self, inp: ModelInput) -> dict[str, torch.Tensor]:
        """Run ``model(*inp.args, **inp.kwargs)`` once; return ``{label: activation}`` in layer order.

        Must be called inside the ``with`` block (and normally under
        ``torch.no_grad()``). Checks that every activation has the batch on
        its first axis and that the same layers are recorded for every batch.
        """
        if not self._handles and self.modules:
            raise FeatcorrError(f"{self.caller}: ActivationRecorder.forward must be called inside its `with` block.")
        while True:
            self._reset_forward()
            self.active = True
            try:
                self.model(*inp.args, **inp.kwargs)
            finally:
                self.active = False
            self.forward_passes += 1
            mutated = {name for name, label, t, v in self._watch if _version(t) != v}
            was_copy_all = self._copy_all
            self._copy_all = False
            if was_copy_all:
                self._copy |= mutated
                break
            if not mutated:
                break
            self._copy |= mutated  # a record was overwritten in place: copy it and run this batch again
        records = self._records
        self._watch = []
        ordered = sorted(records, key=self._sort_key)
        out = {label: records[label] for label in ordered}
        self._check(out, inp.n)
        return out

    def split_label(self, label: str) -> tuple[str, int]:
        """``"name#3"`` -> ``("name", 3)``; ``"name"`` -> ``("name", 1)`` (names may contain '#' themselves)."""
        if label in self._order:
            return label, 1
        base, _, k = label.rpartition("#")
        if base in self._order and k.isdigit():
            return base, int(k)
        raise KeyError(label)

    def labels_of(self, names: Iterable[str]) -> list[str]:
        """Recorded labels of the modules ``names`` (each with its ``#k`` repeats), in the order of ``names``."""
        if self.names is None:
            raise FeatcorrError(f"{self.caller}: no forward pass was recorded yet.")
        by_base: dict[str, list[str]] = {}
        for label in self.names:
            by_base.setdefault(self.split_label(label)[0], []).append(label)
        return [label for name in names for label in by_base.get(name, [])]

    def _sort_key(self, label: str) -> tuple[int, int]:
        base, k = self.split_label(label)
        return (self._order[base], k)

    def _check(self, acts: dict[str, torch.Tensor], n: int) -> None:
        if self.names is None:
            self._first_batch(acts)
        if list(acts) != self.names:
            missing = [x for x in self.names if x not in acts]
            extra = [x for x in acts if x not in self.names]
            raise ShapeError(
                f"{self.caller}: {self.which} recorded different layers in this batch than in the first one"
                + (f" (missing {missing})" if missing else "")
                + (f" (new {extra})" if extra else "")
                + "; the forward pass must call the same modules (the same number of times) for every batch. "
                "Choose layers that run on every batch with layers=."
            )
        for label, t in acts.items():
            if t.ndim == 0 or t.shape[0] != n:
                raise ShapeError(
                    f"{self.caller}: layer {label!r} of {self.which} returned shape {tuple(t.shape)}, but the batch "
                    f"has {n} samples; activations must have the samples on the first axis. If this module is "
                    "sequence-first (e.g. an RNN or attention layer without batch_first=True), pass "
                    "output=lambda o: o.transpose(0, 1) or leave it out with layers=."
                )

    def _first_batch(self, acts: dict[str, torch.Tensor]) -> None:
        called = {self.split_label(label)[0] for label in (*acts, *self._no_tensor)}
        never = [name for name, _ in self.modules if name not in called]
        no_tensor = sorted(self._no_tensor, key=self._sort_key)
        strict_never = [x for x in never if x not in self.optional]
        strict_none = [x for x in no_tensor if self.split_label(x)[0] not in self.optional]
        if self.explicit and (strict_never or strict_none):
            never, no_tensor = strict_never, strict_none
            parts = []
            if never:
                parts.append(f"layer(s) {never} were not called during the forward pass")
            if no_tensor:
                parts.append(f"layer(s) {no_tensor} returned no tensor")
            raise FeatcorrError(
                f"{self.caller}: {self.which}: " + " and ".join(parts)
                + "; choose modules that run in forward() and output a tensor (or pass output=callable)."
            )
        self.skipped = never + no_tensor
        if not acts:
            raise FeatcorrError(
                f"{self.caller}: {self.which} ({type(self.model).__name__}) recorded no activation: none of its "
                f"{len(self.modules)} chosen module(s) ran in forward() and returned a tensor. Choose layers "
                "with layers=."
            )
        self.names = list(acts)


def _version(t: torch.Tensor) -> int:
    try:
        return t._version
    except RuntimeError:  # inference tensors have no version counter
        return -1
