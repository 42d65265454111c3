"""Every bad input of fc.compare raises the right FeatcorrError subclass; hooks and modes survive errors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import featcorr as fc
from featcorr.errors import (
    ConstantFeatureError,
    EmptyStatisticError,
    FeatcorrError,
    MemoryBudgetError,
    NonFiniteError,
    NotEnoughSamplesError,
    ShapeError,
    UnknownLayerError,
    UnknownMeasureError,
    UnknownOptionError,
)

from .helpers import MLP


@pytest.fixture
def X():
    return torch.randn(40, 10, generator=torch.Generator().manual_seed(0))


def _clean(model):
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def _flags(model):
    return [m.training for m in model.modules()]


class Poison(nn.Module):
    """Identity, except that its ``at``-th call puts ``value`` at [1, 3]."""

    def __init__(self, at, value):
        super().__init__()
        self.at, self.value, self.calls = at, value, 0

    def forward(self, x):
        self.calls += 1
        if self.calls == self.at:
            x = x.clone()
            x[1, 3] = self.value
        return x


class NaNAt(MLP):
    """An MLP whose layer 'poison' (after fc2) outputs a NaN/inf on its ``at``-th call."""

    def __init__(self, at, value=float("nan")):
        super().__init__()
        self.poison = Poison(at, value)

    def forward(self, x):
        return self.fc3(self.act2(self.poison(self.fc2(self.act1(self.fc1(x))))))


def test_nan_and_inf_activation_name_layer_and_batch(X):
    batches = [X[:10], X[10:20], X[20:]]
    with pytest.raises(NonFiniteError, match=r"layer 'poison' holds NaN \(1 value\(s\)\).* in batch 1"):
        fc.compare(NaNAt(2), batches, layers_a=["fc1", "poison"], progress=False)
    with pytest.raises(NonFiniteError, match=r"layer 'poison' of model_b holds NaN \(0 value\(s\)\) or inf \(1.*batch 2"):
        fc.compare(MLP(), batches, NaNAt(3, float("inf")), layers_a=["fc1"], layers_b=["poison"], progress=False)


@pytest.mark.parametrize("where", ["loader", "model", "nan"])
def test_hooks_modes_and_grad_mode_restored_after_error_mid_loop(X, where):
    a, b = NaNAt(2 if where == "nan" else 99), MLP(seed=1)
    a.train()
    a.fc2.eval()
    b.train()
    before_a, before_b = _flags(a), _flags(b)

    def loader():
        yield X[:10]
        if where == "loader":
            raise RuntimeError("disk on fire")
        yield X[10:20] if where != "model" else torch.randn(10, 7)  # wrong width: torch fails in fc1
        yield X[20:]

    errors = {"loader": RuntimeError, "model": RuntimeError, "nan": NonFiniteError}
    assert torch.is_grad_enabled()
    with pytest.raises(errors[where]):
        fc.compare(a, loader(), b, progress=False)
    assert torch.is_grad_enabled()
    assert _clean(a) and _clean(b)
    assert _flags(a) == before_a and _flags(b) == before_b


def test_hooks_and_modes_restored_after_success(X):
    a = MLP()
    a.train()
    a.act1.eval()
    before = _flags(a)
    with torch.no_grad():  # an outer no_grad stays in force
        fc.compare(a, [X], progress=False)
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    assert _clean(a) and _flags(a) == before


def test_empty_data_and_too_few_samples(X):
    with pytest.raises(EmptyStatisticError, match="data yielded no .*batch.*generator can only be iterated once"):
        fc.compare(MLP(), [], progress=False)
    gen = (x for x in [X[:5]])
    fc.compare(MLP(), gen, progress=False)
    with pytest.raises(EmptyStatisticError, match="no"):
        fc.compare(MLP(), gen, progress=False)  # exhausted
    with pytest.raises(EmptyStatisticError):
        fc.compare(MLP(), [X[:0]], progress=False)  # only an empty batch
    with pytest.raises(NotEnoughSamplesError, match=r"1 sample\(s\) while a minimum of 2"):
        fc.compare(MLP(), [X[:1]], progress=False)
    res = fc.compare(MLP(), [X[:1], X[:0], X[1:2]], progress=False)  # 2 samples over batches is enough
    assert res.metadata["n_samples"] == 2 and res.metadata["n_batches"] == 2


def test_unknown_layers_and_measures(X):
    with pytest.raises(UnknownLayerError, match=r"layers_a names 'fc_1'.*Did you mean 'fc1'"):
        fc.compare(MLP(), [X], layers_a=["fc_1"], progress=False)
    with pytest.raises(UnknownLayerError, match=r"layers_b names 'head'"):
        fc.compare(MLP(), [X], MLP(), layers_b=["head"], progress=False)
    with pytest.raises(UnknownMeasureError, match=r"unknown measure 'linear_ckaa'.*Did you mean 'linear_cka'"):
        fc.compare(MLP(), [X], measures=["linear_ckaa"], progress=False)
    with pytest.raises(UnknownOptionError, match=r"'linear_cka' does not take option\(s\) \['alpha'\]"):
        fc.compare(MLP(), [X], measures={"linear_cka": {"alpha": 1}}, progress=False)
    with pytest.raises(UnknownOptionError, match="options of measure 'linear_cka' must be a dict"):
        fc.compare(MLP(), [X], measures={"linear_cka": 3}, progress=False)
    with pytest.raises(FeatcorrError, match="measures is empty"):
        fc.compare(MLP(), [X], measures=[], progress=False)


def test_bad_options(X):
    with pytest.raises(UnknownOptionError, match=r"pool='max' is not supported"):
        fc.compare(MLP(), [X], pool="max", progress=False)
    with pytest.raises(UnknownOptionError, match="gemm_dtype='float16'"):
        fc.compare(MLP(), [X], gemm_dtype="float16", progress=False)
    with pytest.raises(FeatcorrError, match="device='nonsense' is not a torch device"):
        fc.compare(MLP(), [X], device="nonsense", progress=False)
    with pytest.raises(FeatcorrError, match="data=int is not iterable"):
        fc.compare(MLP(), 3, progress=False)
    with pytest.raises(FeatcorrError, match="model_a must be a torch.nn.Module, got str"):
        fc.compare("resnet", [X], progress=False)
    with pytest.raises(FeatcorrError, match="model_b must be a torch.nn.Module, got dict"):
        fc.compare(MLP(), [X], {"fc1": X}, progress=False)
    with pytest.raises(MemoryBudgetError, match="max_features=8"):
        fc.compare(MLP(), [X], max_features=8, fallback="raise", progress=False)


def test_model_on_another_device_is_not_moved(X):
    b = copy.deepcopy(MLP()).to("meta")
    with pytest.raises(FeatcorrError, match=r"model_b has parameter 'fc1.weight' on meta.*call model_b.to\('cpu'\)"):
        fc.compare(MLP(), [X], b, progress=False)
    assert b.fc1.weight.device.type == "meta"
    with pytest.raises(FeatcorrError, match=r"model_a has parameter .* on cpu, but the comparison runs on meta"):
        fc.compare(MLP(), [X], device="meta", progress=False)


def test_model_without_parameters_runs_on_cpu(X):
    net = nn.Sequential(nn.Tanh(), nn.Softplus())
    res = fc.compare(net, [X], progress=False)
    assert res.metadata["device"] == "cpu" and res.layers_a == ["0", "1"]


def test_mismatched_samples_between_models(X):
    class DropsOne(MLP):
        def forward(self, x):
            return super().forward(x[:-1])

    with pytest.raises(ShapeError, match=r"layer 'fc1' of model_b returned shape \(9, 16\).*batch has 10 samples"):
        fc.compare(MLP(), [X[:10], X[10:]], DropsOne(), progress=False)


def test_pool_samples_with_different_grids_raises():
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.MaxPool2d(2))
    x = torch.randn(6, 2, 4, 4)
    with pytest.raises(ShapeError, match=r"layer '1' has 24 rows after pooling but layer '0' has 96.*pool='samples'"):
        fc.compare(net, [x], pool="samples", progress=False)
    with pytest.raises(UnknownOptionError, match="pool='last' takes the last token"):
        fc.compare(net, [x], pool="last", progress=False)


def test_constant_layer_is_named_by_its_plain_name(X):
    class Dead(MLP):
        def __init__(self):
            super().__init__()
            with torch.no_grad():
                self.fc2.weight.zero_()  # fc2 outputs its bias for every sample

    with pytest.raises(ConstantFeatureError, match=r"linear_cka of layer 'fc1' of model_a and layer 'fc2' of model_b"):
        fc.compare(MLP(), [X], Dead(), layers_a=["fc1"], layers_b=["fc2"], progress=False)
    try:
        fc.compare(MLP(), [X], Dead(), layers_a=["fc1"], layers_b=["fc2"], progress=False)
    except ConstantFeatureError as exc:
        assert "b/fc2" not in str(exc) and "a/fc1" not in str(exc)
        assert "layer 'fc2' of model_b is constant" in str(exc)
    with pytest.raises(ConstantFeatureError, match=r"layer 'fc2' is constant"):
        fc.compare(Dead(), [X], layers_a=["fc1", "fc2"], progress=False)


def test_seq_first_module_and_changing_layers():
    class SeqFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(3, 4)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.rnn(x.transpose(0, 1))[0][-1])

    x = torch.randn(5, 6, 3)
    with pytest.raises(ShapeError, match=r"layer 'rnn' of model returned shape \(6, 5, 4\).*sequence-first"):
        fc.compare(SeqFirst(), [x], progress=False)
    res = fc.compare(SeqFirst(), [x], output=lambda o: o[0].transpose(0, 1) if isinstance(o, tuple) else o,
                     pool="last", progress=False)
    assert res.layers_a == ["rnn", "fc"]

    class Skippy(MLP):
        def forward(self, x):
            return self.fc3(self.act2(self.fc2(self.act1(self.fc1(x))))) if x.shape[0] > 5 else self.fc3(self.fc2(self.fc1(x)))

    with pytest.raises(ShapeError, match=r"recorded different layers.*missing \['act1', 'act2'\]"):
        fc.compare(Skippy(), [torch.randn(8, 10), torch.randn(4, 10)], progress=False)


def test_explicit_layer_that_never_runs_raises_default_leaf_is_skipped(X):
    class WithUnused(MLP):
        def __init__(self):
            super().__init__()
            self.unused = nn.Linear(3, 3)

    net = WithUnused()
    for kw in ({"layers_a": ["fc1", "unused"]}, {"layers_b": ["unused"]}):
        with pytest.raises(FeatcorrError, match=r"\['unused'\] were not called during the forward pass"):
            fc.compare(net, [X], progress=False, **kw)
        assert _clean(net)
    with pytest.raises(FeatcorrError, match=r"model_b: layer\(s\) \['unused'\] were not called"):
        fc.compare(MLP(), [X], net, layers_b=["fc1", "unused"], progress=False)
    res = fc.compare(net, [X], progress=False)  # default leaves: the unused one is skipped and recorded as such
    assert "unused" not in res.layers_a and res.metadata["skipped_layers"]["a"] == ["unused"]
    res = fc.compare(net, [X], layers_b=["fc2"], progress=False)
    assert "unused" not in res.layers_a and res.layers_b == ["fc2"]
