"""fc.compare(..., stochastic_passes=r): dropout on, each input repeated, one forward per batch per model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import featcorr as fc
from featcorr.errors import FeatcorrError, UnknownOptionError
from featcorr.extract import dropout_modules, repeat_input, model_input
from featcorr.measures import stochastic_shape_distance

R = 4


def _net(seed: int, dropout: bool = True) -> torch.nn.Module:
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(6, 10), torch.nn.BatchNorm1d(10), torch.nn.ReLU()]
    if dropout:
        layers.append(torch.nn.Dropout(0.3))
    layers.append(torch.nn.Linear(10, 5))
    net = torch.nn.Sequential(*layers)
    with torch.no_grad():  # non-trivial running statistics, so that train-mode batch norm would differ
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    return net


def _loader(n_batches: int = 3, size: int = 8) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(size, 6, generator=g) for _ in range(n_batches)]


def _by_hand(net_a, net_b, loader, layer_a, layer_b, seed):
    """Hooks + eval mode + dropout modules in train mode, the same RNG order as compare (a, then b)."""
    rows = {"a": [], "b": []}
    hooks = [
        dict(net_a.named_modules())[layer_a].register_forward_hook(lambda m, i, o: rows["a"].append(o.clone())),
        dict(net_b.named_modules())[layer_b].register_forward_hook(lambda m, i, o: rows["b"].append(o.clone())),
    ]
    for net in (net_a, net_b):
        net.eval()
        for _, m in dropout_modules(net):
            m.train()
    torch.manual_seed(seed)
    with torch.no_grad():
        for x in loader:
            xr = x.repeat_interleave(R, dim=0)
            net_a(xr)
            net_b(xr)
    for h in hooks:
        h.remove()
    a = torch.cat(rows["a"]).double().numpy()
    b = torch.cat(rows["b"]).double().numpy()
    return a.reshape(-1, R, a.shape[1]), b.reshape(-1, R, b.shape[1])


def test_stochastic_shape_matches_hand_collected_dropout_passes():
    net_a, net_b, loader = _net(0), _net(1), _loader()
    for net in (net_a, net_b):
        net.train()  # compare must restore this afterwards
    res = fc.compare(net_a, loader, net_b, layers_a=["3"], layers_b=["3"], progress=False,
                     measures={"stochastic_shape": {}, "linear_cka": {}}, stochastic_passes=R, random_state=7)
    Xa, Xb = _by_hand(_net(0), _net(1), loader, "3", "3", seed=7)
    # dropout really was on: the repeats of one input differ
    assert np.abs(Xa[:, 0] - Xa[:, 1]).max() > 1e-3
    expected = stochastic_shape_distance(Xa, Xb)
    assert float(res.matrix("stochastic_shape").iloc[0, 0]) == pytest.approx(expected, abs=1e-10)
    # the other measures see the same n * R stochastic rows
    A, B = Xa.reshape(-1, Xa.shape[2]), Xb.reshape(-1, Xb.shape[2])
    assert float(res.matrix("linear_cka").iloc[0, 0]) == pytest.approx(fc.cka(A, B), abs=1e-10)
    meta = res.metadata
    assert meta["stochastic_passes"] == R
    assert meta["n_inputs"] == 24 and meta["n_samples"] == 24 * R
    assert meta["forward_passes"] == {"a": 3, "b": 3}  # one call per batch per model
    assert all(m.training for net in (net_a, net_b) for m in net.modules())


def test_seeded_passes_are_reproducible_and_leave_the_global_generator_alone():
    net, loader = _net(0), _loader()
    state = torch.get_rng_state()
    kw = dict(layers_a=["3", "4"], progress=False, measures=["stochastic_shape"], stochastic_passes=R)
    r1 = fc.compare(net, loader, random_state=3, **kw).matrix("stochastic_shape").to_numpy()
    r2 = fc.compare(net, loader, random_state=3, **kw).matrix("stochastic_shape").to_numpy()
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_array_equal(r1, r2)
    r3 = fc.compare(net, loader, random_state=4, **kw).matrix("stochastic_shape").to_numpy()
    assert not np.array_equal(r1, r3)


def test_repeat_input_expands_every_batch_tensor():
    x, m = torch.arange(6.0).reshape(3, 2), torch.tensor([[1, 0], [1, 1], [0, 1]])
    inp = model_input({"x": x, "mask": m, "scale": torch.tensor(2.0)}, None, torch.device("cpu"), caller="t")
    out = repeat_input(inp, 2, caller="t")
    assert out.n == 6
    assert torch.equal(out.kwargs["x"], x[[0, 0, 1, 1, 2, 2]])
    assert torch.equal(out.kwargs["mask"], m[[0, 0, 1, 1, 2, 2]])
    assert out.kwargs["scale"].ndim == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(measures=["stochastic_shape"]), "stochastic_passes=<int >= 2>"),
        (dict(measures=["linear_cka"], stochastic_passes=1), "stochastic_passes=1"),
        (dict(measures=["linear_cka"], stochastic_passes=True), "stochastic_passes=True"),
        (dict(measures={"stochastic_shape": {"repeats": 3}}, stochastic_passes=R), "disagrees"),
        (dict(measures=["stochastic_shape"], stochastic_passes=R, pool="samples"), "pool='samples'"),
    ],
)
def test_bad_stochastic_requests_raise_before_any_forward(kwargs, match):
    net = _net(0)
    calls = []
    net.register_forward_hook(lambda *a: calls.append(1))
    with pytest.raises(UnknownOptionError, match=match):
        fc.compare(net, _loader(), progress=False, **kwargs)
    assert not calls


def test_model_without_dropout_raises():
    with pytest.raises(FeatcorrError, match="no dropout module"):
        fc.compare(_net(0, dropout=False), _loader(), progress=False, measures=["stochastic_shape"],
                   stochastic_passes=R)


def test_significance_on_stochastic_passes_needs_every_row():
    net, loader = _net(0), _loader()  # 24 inputs x R passes = 96 rows
    kw = dict(layers_a=["3"], progress=False, measures=["stochastic_shape"], stochastic_passes=R, random_state=0,
              n_permutations=3)
    with pytest.raises(FeatcorrError, match="significance_sample >= 96"):
        fc.compare(net, loader, significance_sample=50, **kw)
    res = fc.compare(net, loader, **kw)
    p = res.to_frame()["p_value"].to_numpy()
    assert p.shape == (1,) and 0.25 <= p[0] <= 1.0  # (1 + k) / (3 + 1)
