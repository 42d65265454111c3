"""ActivationRecorder and layer resolution: names, patterns, hook hygiene, reuse, outputs, in-place ops."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import pytest
import torch
from torch import nn

from featcorr.errors import FeatcorrError, ShapeError, UnknownLayerError
from featcorr.extract import ActivationRecorder, leaf_layers, model_input, resolve_layers

CPU = torch.device("cpu")


def _inp(x, inputs=None):
    return model_input(x, inputs, CPU, caller="test")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8))
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(8, 3)
        self.unused = nn.Linear(3, 3)

    def forward(self, x):
        return self.head(self.drop(self.encoder(x)))


def _no_hooks(model):
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


# ------------------------------------------------------------------ layers
def test_default_layers_are_leaves_in_module_order():
    net = Net()
    assert leaf_layers(net) == ["encoder.0", "encoder.1", "encoder.2", "drop", "head", "unused"]
    assert [n for n, _ in resolve_layers(net)] == leaf_layers(net)


def test_names_keep_user_order_and_patterns_expand_in_module_order():
    net = Net()
    got = [n for n, _ in resolve_layers(net, ["head", "encoder.?", "encoder.0", "encoder"])]
    assert got == ["head", "encoder.0", "encoder.1", "encoder.2", "encoder"]
    assert [n for n, _ in resolve_layers(net, "encoder.[02]")] == ["encoder.0", "encoder.2"]
    mods = dict(resolve_layers(net, ["head"]))
    assert mods["head"] is net.head


def test_unknown_layer_lists_close_matches():
    with pytest.raises(UnknownLayerError, match=r"'encodr\.0'.*Did you mean 'encoder\.0'"):
        resolve_layers(Net(), ["encodr.0"], caller="compare", arg="layers_a")
    with pytest.raises(UnknownLayerError, match=r"layers_a names 'nothing\*'"):
        resolve_layers(Net(), "nothing*", caller="compare", arg="layers_a")
    with pytest.raises(KeyError):  # also a KeyError
        resolve_layers(Net(), ["x"])


def test_bad_layer_arguments():
    with pytest.raises(FeatcorrError, match="empty"):
        resolve_layers(Net(), [])
    with pytest.raises(FeatcorrError, match=r"holds 3 \(int\)"):
        resolve_layers(Net(), ["head", 3])
    with pytest.raises(FeatcorrError, match="expected a torch.nn.Module, got ndarray"):
        import numpy as np

        resolve_layers(np.zeros(3))


def test_childless_model_is_its_own_layer():
    lin = nn.Linear(3, 2)
    with ActivationRecorder(lin) as rec, torch.no_grad():
        acts = rec.forward(_inp(torch.randn(4, 3)))
    assert list(acts) == ["<model>"]


# --------------------------------------------------------------- lifecycle
def _mixed_mode_net():
    net = Net()
    net.train()
    net.encoder[1].eval()  # a mixed state that model.train() would not restore
    return net


def _flags(model):
    return [m.training for m in model.modules()]


def test_hooks_removed_and_flags_restored_on_success():
    net = _mixed_mode_net()
    before = _flags(net)
    seen = {}
    net.drop.register_forward_pre_hook(lambda m, a: seen.update(drop_training=m.training))
    with ActivationRecorder(net, ["encoder.0", "head"]) as rec:
        assert not net.training and not net.drop.training  # eval during the pass
        assert len(net.head._forward_hooks) == 1
        with torch.no_grad():
            x = torch.randn(5, 6)
            acts = rec.forward(_inp(x))
    assert seen["drop_training"] is False
    net.drop._forward_pre_hooks.clear()
    assert _flags(net) == before
    assert _no_hooks(net)
    with torch.no_grad():
        torch.testing.assert_close(acts["encoder.0"], net.encoder[0](x), rtol=0, atol=0)
        net.eval()
        torch.testing.assert_close(acts["head"], net(x), rtol=0, atol=0)


def test_hooks_removed_and_flags_restored_on_error():
    net = _mixed_mode_net()
    before = _flags(net)
    with pytest.raises(RuntimeError, match="boom"):
        with ActivationRecorder(net) as rec:
            rec.forward(_inp(torch.randn(5, 6)))
            raise RuntimeError("boom")
    assert _flags(net) == before
    assert _no_hooks(net)
    # an error inside the model's forward
    with pytest.raises(RuntimeError):
        with ActivationRecorder(net) as rec:
            rec.forward(_inp(torch.randn(5, 7)))  # wrong width: torch raises in encoder.0
    assert _flags(net) == before and _no_hooks(net)


def test_forward_outside_with_block_raises():
    rec = ActivationRecorder(Net())
    with pytest.raises(FeatcorrError, match="inside its `with` block"):
        rec.forward(_inp(torch.randn(2, 6)))


# ------------------------------------------------------------- reuse / calls
class Tied(nn.Module):
    """One block applied twice per forward (weight sharing)."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 5)
        self.block = nn.Linear(5, 5)
        self.out = nn.Linear(5, 2)

    def forward(self, x):
        h = self.inp(x)
        h = torch.tanh(self.block(h))
        h = self.block(h)
        return self.out(h)


def test_module_called_twice_is_recorded_per_call():
    net = Tied()
    x = torch.randn(7, 4)
    with ActivationRecorder(net) as rec, torch.no_grad():
        acts = rec.forward(_inp(x))
        acts2 = rec.forward(_inp(x))
    assert list(acts) == ["inp", "block", "block#2", "out"]
    assert list(acts2) == list(acts)
    with torch.no_grad():
        first = net.block(net.inp(x))
        second = net.block(torch.tanh(first))
    torch.testing.assert_close(acts["block"], first, rtol=0, atol=0)
    torch.testing.assert_close(acts["block#2"], second, rtol=0, atol=0)
    assert not torch.equal(acts["block"], acts["block#2"])


def test_layers_must_be_the_same_for_every_batch():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3)
            self.b = nn.Linear(3, 3)

        def forward(self, x):
            return self.b(self.a(x)) if x.shape[0] > 4 else self.a(x)

    with ActivationRecorder(Branchy()) as rec, torch.no_grad():
        rec.forward(_inp(torch.randn(6, 3)))
        with pytest.raises(ShapeError, match=r"missing \['b'\]"):
            rec.forward(_inp(torch.randn(3, 3)))


def test_default_skips_uncalled_leaves_explicit_raises():
    net = Net()
    with ActivationRecorder(net) as rec, torch.no_grad():
        acts = rec.forward(_inp(torch.randn(3, 6)))
    assert "unused" not in acts and rec.skipped == ["unused"]
    with pytest.raises(FeatcorrError, match=r"\['unused'\] were not called"):
        with ActivationRecorder(net, ["head", "unused"]) as rec, torch.no_grad():
            rec.forward(_inp(torch.randn(3, 6)))
    assert _no_hooks(net)


# ------------------------------------------------------------------ outputs
@dataclasses.dataclass
class Out:
    note: str
    hidden: torch.Tensor
    logits: torch.Tensor


class ModelOutputLike(OrderedDict):
    """Like transformers' ModelOutput: an OrderedDict whose values are also attributes."""

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k) from None


class Multi(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.lin = nn.Linear(3, 4)

    def forward(self, x):
        h = self.lin(x)
        if self.kind == "tuple":
            return (h, 2 * h)
        if self.kind == "dict":
            return {"mask": None, "hidden": h, "logits": 2 * h}
        if self.kind == "dataclass":
            return Out("n", h, 2 * h)
        return ModelOutputLike(hidden=h, logits=2 * h)


class Wrap(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.m = Multi(kind)

    def forward(self, x):
        return self.m(x)


@pytest.mark.parametrize("kind", ["tuple", "dict", "dataclass", "modeloutput"])
@pytest.mark.parametrize(
    "selector,factor",
    [(None, 1), (1, 2), ("logits", 2), (lambda o: o, 1)],
    ids=["first", "index", "key", "callable"],
)
def test_structured_outputs(kind, selector, factor):
    if kind == "tuple" and isinstance(selector, str):
        pytest.skip("a tuple has no keys")
    net = Wrap(kind)
    x = torch.randn(5, 3)
    sel = selector
    if callable(selector):  # a callable maps every output, tensors included
        sel = lambda o: o if isinstance(o, torch.Tensor) else (o[0] if isinstance(o, tuple) else (o.hidden if hasattr(o, "hidden") else o["hidden"]))  # noqa: E731
    if kind == "dict" and selector == 1:
        factor = 1  # values: [None, hidden, logits] -> index 1 is hidden
    if kind in ("dataclass",) and selector == 1:
        factor = 1  # fields: note, hidden, logits -> index 1 is hidden
    with ActivationRecorder(net, ["m"], output=sel) as rec, torch.no_grad():
        acts = rec.forward(_inp(x))
        want = factor * net.m.lin(x)
    torch.testing.assert_close(acts["m"], want, rtol=0, atol=0)


def test_bad_output_selectors():
    x = torch.randn(5, 3)
    with pytest.raises(FeatcorrError, match=r"output='nope' does not select anything from layer 'm'.*keys"):
        with ActivationRecorder(Wrap("dict"), ["m"], output="nope") as rec, torch.no_grad():
            rec.forward(_inp(x))
    with pytest.raises(FeatcorrError, match=r"output=5 does not select.*2 element"):
        with ActivationRecorder(Wrap("tuple"), ["m"], output=5) as rec, torch.no_grad():
            rec.forward(_inp(x))
    with pytest.raises(FeatcorrError, match="selector raised ZeroDivisionError"):
        with ActivationRecorder(Wrap("tuple"), ["m"], output=lambda o: 1 / 0) as rec, torch.no_grad():
            rec.forward(_inp(x))
    with pytest.raises(FeatcorrError, match="is not a selector"):
        ActivationRecorder(Wrap("tuple"), output=1.5)


def test_output_without_tensor_explicit_raises():
    class NoTensor(nn.Module):
        def forward(self, x):
            return "hello"

    class Host(nn.Module):
        def __init__(self):
            super().__init__()
            self.t = NoTensor()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            self.t(x)
            return self.lin(x)

    with ActivationRecorder(Host()) as rec, torch.no_grad():
        acts = rec.forward(_inp(torch.randn(3, 2)))
    assert list(acts) == ["lin"] and rec.skipped == ["t"]
    with pytest.raises(FeatcorrError, match=r"\['t'\] returned no tensor"):
        with ActivationRecorder(Host(), ["t", "lin"]) as rec, torch.no_grad():
            rec.forward(_inp(torch.randn(3, 2)))


def test_sequence_first_module_raises_shape_error():
    class SeqFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(4, 5)  # batch_first=False: output (t, n, d)
            self.fc = nn.Linear(5, 2)

        def forward(self, x):
            out, _ = self.rnn(x.transpose(0, 1))
            return self.fc(out[-1])

    x = torch.randn(3, 7, 4)  # (n=3, t=7, d=4)
    with pytest.raises(ShapeError, match=r"layer 'rnn' of model_a returned shape \(7, 3, 5\).*3 samples.*transpose"):
        with ActivationRecorder(SeqFirst(), which="model_a") as rec, torch.no_grad():
            rec.forward(_inp(x))
    with ActivationRecorder(SeqFirst(), ["rnn"], output=lambda o: o[0].transpose(0, 1)) as rec, torch.no_grad():
        acts = rec.forward(_inp(x))
    assert tuple(acts["rnn"].shape) == (3, 7, 5)


# ---------------------------------------------------------------- in-place
class InPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 6)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(6, 3)
        self.mutate_late = False

    def forward(self, x):
        h = self.act(self.fc1(x))  # overwrites fc1's output in place
        y = self.fc2(h)
        if self.mutate_late:
            y.mul_(0)  # data-dependent in-place op that the first batch did not show
        return y


def test_outputs_modified_in_place_later_are_recorded_as_returned():
    net = InPlace()
    xs = [torch.randn(8, 4) for _ in range(3)]
    with ActivationRecorder(net) as rec, torch.no_grad():
        got = [rec.forward(_inp(x)) for x in xs]
        assert rec.forward_passes == 3  # nothing re-run: fc1 is copied from the first batch on
        net.mutate_late = True
        late = rec.forward(_inp(xs[0]))
        assert rec.forward_passes == 5  # fc2 was overwritten: the batch ran again with a copy
    for x, acts in zip(xs, got):
        pre = net.fc1(x).detach()
        assert (pre < 0).any()
        torch.testing.assert_close(acts["fc1"], pre, rtol=0, atol=0)
        torch.testing.assert_close(acts["act"], pre.clamp_min(0), rtol=0, atol=0)
    torch.testing.assert_close(late["fc2"], net.fc2(net.fc1(xs[0]).clamp_min(0)).detach(), rtol=0, atol=0)


def test_inputs_callable_and_dict_batches():
    class KW(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, a, scale=1.0):
            return self.lin(a) * scale

    net = KW()
    x = torch.randn(4, 3)
    with ActivationRecorder(net) as rec, torch.no_grad():
        d = rec.forward(_inp({"a": x, "scale": 2.0}))
        t = rec.forward(_inp((x, torch.zeros(4)), inputs=lambda b: (b[0], 3.0)))
    torch.testing.assert_close(d["lin"], net.lin(x).detach())
    torch.testing.assert_close(t["lin"], net.lin(x).detach())
    with pytest.raises(FeatcorrError, match="found no tensor"):
        _inp({"scale": 2.0})
    with pytest.raises(FeatcorrError, match="inputs= raised TypeError"):
        _inp((x,), inputs=lambda b: b["x"])


def test_module_names_containing_hash():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleDict({"a#2": nn.Linear(3, 3), "a": nn.Linear(3, 3), "b#x": nn.Linear(3, 3)})

        def forward(self, x):
            a, odd, bx = self.blocks["a"], self.blocks["a#2"], self.blocks["b#x"]
            return bx(bx(a(odd(a(x)))))

    net = Odd()
    x = torch.randn(4, 3)
    with ActivationRecorder(net, ["blocks.b#x", "blocks.a#2"]) as rec, torch.no_grad():
        acts = rec.forward(_inp(x))
    assert list(acts) == ["blocks.b#x", "blocks.b#x#2", "blocks.a#2"]
    assert rec.labels_of(["blocks.a#2", "blocks.b#x"]) == ["blocks.a#2", "blocks.b#x", "blocks.b#x#2"]
    assert rec.split_label("blocks.b#x#2") == ("blocks.b#x", 2)
    # 'blocks.a' runs twice: its second call's label would be the other module's name
    with pytest.raises(FeatcorrError, match=r"module 'blocks.a' of model runs 2 times.*'blocks.a#2'.*another"):
        with ActivationRecorder(net, ["blocks.a", "blocks.a#2"]) as rec, torch.no_grad():
            rec.forward(_inp(x))
    assert _no_hooks(net)
