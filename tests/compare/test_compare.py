"""fc.compare on torch models: agreement with by-hand activations + Gram CKA, pairing, pooling, hygiene."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import featcorr as fc
from featcorr.stats import Moments

from ..conftest import ref_linear_cka
from .helpers import CNN, MLP, Tokens, collect, ref_matrix

MLP_LAYERS = ["fc1", "act1", "fc2", "act2", "fc3"]


@pytest.fixture
def mlp_data():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(150, 10, generator=g) + 2.0
    y = torch.randint(0, 3, (150,), generator=g)
    return X, y


def test_mlp_self_matches_hand_collected_gram_cka(mlp_data):
    X, y = mlp_data
    net = MLP()
    loader = DataLoader(TensorDataset(X, y), batch_size=32)  # 5 batches, last one short
    res = fc.compare(net, loader, progress=False)
    assert res.layers_a == res.layers_b == MLP_LAYERS
    acts = collect(net, [X], MLP_LAYERS)
    want = ref_matrix(acts, acts, MLP_LAYERS, MLP_LAYERS)
    got = res.matrix("linear_cka")
    np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-10, atol=0)
    assert list(got.index) == MLP_LAYERS and list(got.columns) == MLP_LAYERS
    assert np.all(np.diag(got.to_numpy()) == 1.0)  # exactly 1
    np.testing.assert_array_equal(got.to_numpy(), got.to_numpy().T)
    md = res.metadata
    assert md["n_samples"] == 150 and md["n_batches"] == 5
    assert md["forward_passes"] == {"a": 5, "b": 0}
    assert md["models"] == {"a": "MLP", "b": "MLP"} and md["same_model"] is True
    assert md["input_dtype"] == "float32" and md["pool"] == "flatten" and md["device"] == "cpu"
    assert md["featcorr_version"] == fc.__version__
    assert md["measures"]["linear_cka"]["statistic"] == "moments"


def test_two_models_match_hand_collected_gram_cka(mlp_data):
    X, y = mlp_data
    a, b = MLP(seed=0), MLP(seed=1, h=12)
    loader = DataLoader(TensorDataset(X, y), batch_size=40)
    la, lb = ["fc3", "fc1", "act2"], ["fc*"]  # user order; the pattern expands in module order
    res = fc.compare(a, loader, b, layers_a=la, layers_b=lb, progress=False)
    assert res.layers_a == ["fc3", "fc1", "act2"] and res.layers_b == ["fc1", "fc2", "fc3"]
    acts_a, acts_b = collect(a, [X], la), collect(b, [X], res.layers_b)
    np.testing.assert_allclose(res.matrix().to_numpy(), ref_matrix(acts_a, acts_b, la, res.layers_b), rtol=1e-10)
    assert res.metadata["forward_passes"] == {"a": 4, "b": 4}
    frame = res.to_frame()
    assert list(frame.columns) == ["layer_a", "layer_b", "measure", "value"] and len(frame) == 9


def test_self_with_different_layer_lists(mlp_data):
    X, _ = mlp_data
    net = MLP()
    res = fc.compare(net, [X[:70], X[70:]], layers_a=["fc2", "fc1"], layers_b=["act1", "fc3", "fc2"], progress=False)
    acts = collect(net, [X], MLP_LAYERS)
    want = ref_matrix(acts, acts, ["fc2", "fc1"], ["act1", "fc3", "fc2"])
    np.testing.assert_allclose(res.matrix().to_numpy(), want, rtol=1e-10)
    assert res.matrix().loc["fc2", "fc2"] == 1.0
    assert res.metadata["forward_passes"]["a"] == 2  # one forward per batch serves both lists


def test_cnn_flatten_and_mean_pool_match_hand_collected():
    g = torch.Generator().manual_seed(2)
    X = torch.rand(60, 3, 8, 8, generator=g)
    net = CNN()
    layers = ["conv1", "bn", "relu", "pool", "conv2", "flat", "fc"]
    batches = [X[i : i + 16] for i in range(0, 60, 16)]
    loader = DataLoader(TensorDataset(X), batch_size=16)  # yields [x] lists, batches as above
    for pool in ("flatten", "mean"):
        res = fc.compare(net, loader, progress=False, pool=pool)
        assert res.layers_a == layers
        acts = collect(net, batches, layers, pool=pool)
        np.testing.assert_allclose(res.matrix().to_numpy(), ref_matrix(acts, acts, layers, layers), rtol=1e-10)
        assert res.metadata["pool"] == pool
    flat = fc.compare(net, batches, progress=False, layers_a=["conv1"], layers_b=["conv2"]).matrix().iloc[0, 0]
    mean = fc.compare(net, batches, progress=False, pool="mean", layers_a=["conv1"], layers_b=["conv2"]).matrix().iloc[0, 0]
    assert abs(flat - mean) > 1e-3  # different measures, as METHODS A1 warns


def test_cnn_positions_as_samples():
    g = torch.Generator().manual_seed(3)
    X = torch.rand(6, 3, 8, 8, generator=g)
    net = CNN()
    layers = ["conv1", "bn", "relu"]  # same 8x8 grid
    batches = [X[:4], X[4:]]
    res = fc.compare(net, batches, layers_a=layers, pool="samples", progress=False)
    acts = collect(net, batches, layers, pool="samples")
    np.testing.assert_allclose(res.matrix().to_numpy(), ref_matrix(acts, acts, layers, layers), rtol=1e-10)
    assert res.metadata["n_samples"] == 6 and res.metadata["n_rows"] == 6 * 64


@pytest.mark.parametrize("pool", ["flatten", "mean", "last", "samples"])
def test_token_activations(pool):
    g = torch.Generator().manual_seed(4)
    ids = torch.randint(0, 20, (40, 7), generator=g)
    net = Tokens()
    layers = ["emb", "proj"]
    batches = [ids[:25], ids[25:]]
    res = fc.compare(net, batches, layers_a=layers, pool=pool, progress=False)
    acts = collect(net, batches, layers, pool=pool)  # same batches: float32 GEMMs round by batch shape
    np.testing.assert_allclose(res.matrix().to_numpy(), ref_matrix(acts, acts, layers, layers), rtol=1e-10)
    assert res.metadata["input_dtype"] == "int64"


def test_shuffled_loader_pairs_samples_of_both_models(mlp_data):
    """model_b = model_a with its hidden units permuted: same function, so CKA = self-CKA at every pair."""
    X, y = mlp_data
    X = X.double()  # float64 models: the permuted copy sums in another order, float32 would differ by ~1e-8
    a = MLP().double()
    b = copy.deepcopy(a)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        b.fc1.weight.copy_(a.fc1.weight[perm])
        b.fc1.bias.copy_(a.fc1.bias[perm])
        b.fc2.weight.copy_(a.fc2.weight[:, perm])
    torch.manual_seed(6)
    shuffled = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
    res = fc.compare(a, shuffled, b, progress=False)
    plain = fc.compare(a, DataLoader(TensorDataset(X, y), batch_size=50), progress=False)
    np.testing.assert_allclose(res.matrix().to_numpy(), plain.matrix().to_numpy(), rtol=1e-10)
    assert res.matrix().loc["fc1", "fc1"] == pytest.approx(1.0, abs=1e-12)
    # sanity: the check can fail -- a model_b fed other samples than model_a gives other values
    acts = collect(a, [X], ["fc1"])
    other = collect(b, [X[torch.randperm(150)]], ["fc1"])
    assert ref_linear_cka(acts["fc1"], other["fc1"]) < 0.9


def test_model_compared_with_a_copy_of_itself_has_unit_diagonal(mlp_data):
    X, _ = mlp_data
    a = MLP()
    res = fc.compare(a, [X[:64], X[64:]], copy.deepcopy(a), progress=False)
    np.testing.assert_allclose(np.diag(res.matrix().to_numpy()), 1.0, rtol=1e-12)
    res_same = fc.compare(a, [X[:64], X[64:]], a, progress=False)  # the same object as model_b works too
    np.testing.assert_allclose(res_same.matrix().to_numpy(), res.matrix().to_numpy(), rtol=1e-12)


def test_reused_module_recorded_per_call():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(7)
            self.inp = nn.Linear(5, 6)
            self.block = nn.Linear(6, 6)

        def forward(self, x):
            return self.block(torch.relu(self.block(self.inp(x))))

    net = Tied()
    X = torch.randn(50, 5)
    res = fc.compare(net, [X[:20], X[20:]], progress=False)
    assert res.layers_a == ["inp", "block", "block#2"]
    with torch.no_grad():
        h1 = net.block(net.inp(X))
        h2 = net.block(torch.relu(h1))
    want = ref_linear_cka(h1.double().numpy(), h2.double().numpy())
    assert res.matrix().loc["block", "block#2"] == pytest.approx(want, rel=1e-10)
    assert want < 0.99  # the two calls differ: overwriting one with the other would give 1
    res2 = fc.compare(net, [X], layers_a=["block"], progress=False)
    assert res2.layers_a == ["block", "block#2"]


def test_in_place_relu_does_not_corrupt_previous_layer(mlp_data):
    X, _ = mlp_data

    class InPlace(MLP):
        def __init__(self):
            super().__init__()
            self.act1 = nn.ReLU(inplace=True)

    net = InPlace()
    res = fc.compare(net, [X[:50], X[50:100], X[100:]], layers_a=["fc1", "act1"], progress=False)
    ref = MLP()  # same seed, same weights, out-of-place ReLU
    acts = collect(ref, [X], ["fc1", "act1"])
    want = ref_linear_cka(acts["fc1"], acts["act1"])
    assert res.matrix().loc["fc1", "act1"] == pytest.approx(want, rel=1e-10)
    assert want < 0.999


def test_structured_model_outputs_and_output_selector():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 6)

        def forward(self, x):
            h = self.lin(x)
            return {"hidden": h, "squared": h * h}

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(8)
            self.block = Block()
            self.out = nn.Linear(6, 2)

        def forward(self, x):
            return self.out(self.block(x)["hidden"])

    net = Net()
    X = torch.randn(40, 4)
    first = fc.compare(net, [X], layers_a=["block", "out"], progress=False)
    keyed = fc.compare(net, [X], layers_a=["block", "out"], output="squared", progress=False)
    with torch.no_grad():
        h = net.block.lin(X)
        sq = (h * h).double().numpy()  # squared in float32, as the model does
        h, o = h.double().numpy(), net(X).double().numpy()
    assert first.matrix().loc["block", "out"] == pytest.approx(ref_linear_cka(h, o), rel=1e-10)
    assert keyed.matrix().loc["block", "out"] == pytest.approx(ref_linear_cka(sq, o), rel=1e-10)
    assert abs(ref_linear_cka(h, o) - ref_linear_cka(sq, o)) > 1e-3


def test_inputs_callable_and_dict_batches(mlp_data):
    X, y = mlp_data

    class KW(MLP):
        def forward(self, features, scale=1.0):
            return super().forward(features) * scale

    net = KW()
    dicts = [{"features": X[:75]}, {"features": X[75:]}]
    res_d = fc.compare(net, dicts, progress=False)
    res_t = fc.compare(net, [(X[:75], y[:75]), (X[75:], y[75:])], progress=False)
    res_i = fc.compare(net, [{"x": X[:75]}, {"x": X[75:]}], inputs=lambda b: {"features": b["x"], "scale": 2.0},
                       progress=False)
    res_one = fc.compare(net, X, progress=False)  # a bare tensor is one batch
    res_dict = fc.compare(net, {"features": X}, progress=False)  # so is one dict (not an iterable of its keys)
    for r in (res_t, res_i, res_one, res_dict):
        np.testing.assert_allclose(r.matrix().to_numpy(), res_d.matrix().to_numpy(), rtol=1e-10)
    assert res_one.metadata["n_batches"] == 1


def test_streaming_equals_whole_and_gemm_float32_close(mlp_data):
    X, _ = mlp_data
    X, net = X.double(), MLP().double()  # float64 model: float32 GEMV/GEMM rounding depends on the batch size
    whole = fc.compare(net, [X], progress=False).matrix().to_numpy()
    for bs in (1, 7, 149):
        parts = [X[i : i + bs] for i in range(0, 150, bs)]
        np.testing.assert_allclose(fc.compare(net, parts, progress=False).matrix().to_numpy(), whole, rtol=1e-10)
    f32 = fc.compare(net, [X[:75], X[75:]], progress=False, gemm_dtype="float32").matrix().to_numpy()
    np.testing.assert_allclose(f32, whole, rtol=1e-5)


def test_one_update_per_batch_for_every_measure(mlp_data, monkeypatch):
    """Several measures sharing the same moments accumulate them once, from one forward pass per batch."""
    X, _ = mlp_data
    names = [m for m in ("linear_cka", "procrustes", "svcca") if m in fc.measures()["name"].tolist()]
    if len(names) < 2:
        pytest.skip("needs two registered moment measures")
    calls = []
    orig = Moments.update

    def counting(self, *a, **k):
        calls.append(id(self))
        return orig(self, *a, **k)

    monkeypatch.setattr(Moments, "update", counting)
    layers = ["act1", "fc2", "fc3"]
    batches = [X[:50], X[50:100], X[100:]]
    res = fc.compare(MLP(), batches, layers_a=layers, measures=names, progress=False)
    assert res.measures == names
    assert res.metadata["forward_passes"]["a"] == 3
    assert len(set(calls)) == 1 and len(calls) == 3  # one statistic, one update per batch
    monkeypatch.setattr(Moments, "update", orig)
    acts = collect(MLP(), batches, layers)
    for m in names:
        want = np.array([[fc.similarity(acts[a], acts[b], measure=m) for b in layers] for a in layers])
        np.testing.assert_allclose(res.matrix(m).to_numpy(), want, rtol=1e-9, atol=1e-12)


def test_measure_options_as_dict(mlp_data):
    X, _ = mlp_data
    if "shape_metric" not in fc.measures()["name"].tolist():
        pytest.skip("shape_metric not registered")
    net = MLP()
    layers = ["act1", "fc3"]
    res = fc.compare(net, [X], layers_a=layers, measures={"shape_metric": {"alpha": 0.5}, "linear_cka": None},
                     progress=False)
    acts = collect(net, [X], layers)
    want = fc.similarity(acts["act1"], acts["fc3"], measure="shape_metric", alpha=0.5)
    assert res.matrix("shape_metric").loc["act1", "fc3"] == pytest.approx(want, rel=1e-9)
    assert res.metadata["measures"]["shape_metric"]["options"]["alpha"] == 0.5
    assert res.measures == ["shape_metric", "linear_cka"]


def test_progress_bar_off_terminal_and_with_len(mlp_data):
    X, y = mlp_data
    loader = DataLoader(TensorDataset(X, y), batch_size=50)
    res = fc.compare(MLP(), loader, progress=True)  # pytest's stderr is not a terminal: silent, no error
    gen = (X[i : i + 50] for i in range(0, 150, 50))  # no len(): total unknown
    res2 = fc.compare(MLP(), gen, progress=True)
    np.testing.assert_allclose(res.matrix().to_numpy(), res2.matrix().to_numpy(), rtol=1e-12)


def test_progress_bar_draws_on_a_terminal(mlp_data, monkeypatch):
    from rich.console import Console

    X, _ = mlp_data
    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    res = fc.compare(MLP(), [X[:75], X[75:]], progress=True)
    assert res.metadata["n_batches"] == 2


def test_inside_inference_mode_in_place_ops_still_detected(mlp_data):
    X, _ = mlp_data

    class InPlace(MLP):
        def __init__(self):
            super().__init__()
            self.act1 = nn.ReLU(inplace=True)

    batches = [X[:50], X[50:]]
    with torch.inference_mode():
        res = fc.compare(InPlace(), batches, layers_a=["fc1", "act1"], progress=False)
    acts = collect(MLP(), batches, ["fc1", "act1"])
    assert res.matrix().loc["fc1", "act1"] == pytest.approx(ref_linear_cka(acts["fc1"], acts["act1"]), rel=1e-10)
