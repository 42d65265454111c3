"""extract_activations: same activations as plain hooks, kept in memory; round trip through compare."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import featcorr as fc
from featcorr.errors import EmptyStatisticError, FeatcorrError, UnknownOptionError
from featcorr.extract import extract_activations


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(3 * 16, 4))


def test_equals_plain_forward_and_keeps_shapes():
    net = _net()
    X = torch.randn(30, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    net.train()
    acts = extract_activations(net, DataLoader(TensorDataset(X, torch.zeros(30)), batch_size=8))
    assert net.training and all(not m._forward_hooks for m in net.modules())
    assert list(acts) == ["0", "1", "2", "3"]
    with torch.no_grad():
        c = net[0](X)
        want = {"0": c, "1": torch.relu(c), "2": torch.relu(c).flatten(1), "3": net[3](torch.relu(c).flatten(1))}
    for k, v in want.items():
        assert acts[k].shape == tuple(v.shape) and acts[k].dtype == np.float32
        np.testing.assert_allclose(acts[k], v.numpy(), rtol=1e-6, atol=1e-6)
    assert (acts["0"] < 0).any()  # the in-place ReLU did not overwrite conv's record
    pooled = extract_activations(net, [X], ["0"], pool="mean")
    np.testing.assert_allclose(pooled["0"], c.mean((2, 3)).numpy(), rtol=1e-5, atol=1e-6)


def test_feeds_compare_activations_like_compare():
    net = _net()
    X = torch.randn(40, 2, 4, 4, generator=torch.Generator().manual_seed(2))
    batches = [X[:20], X[20:]]
    acts = extract_activations(net, batches)
    direct = fc.compare(net, batches, progress=False)
    from_mem = fc.compare_activations(acts)
    np.testing.assert_allclose(from_mem.matrix().to_numpy(), direct.matrix().to_numpy(), rtol=1e-10)


def test_bad_inputs():
    with pytest.raises(FeatcorrError, match="model must be a torch.nn.Module"):
        extract_activations("net", [torch.zeros(2, 2)])
    with pytest.raises(EmptyStatisticError, match="no .*batch"):
        extract_activations(_net(), [])
    with pytest.raises(UnknownOptionError, match="pool='max'"):
        extract_activations(_net(), [torch.zeros(2, 2, 4, 4)], pool="max")
    with pytest.raises(FeatcorrError, match="not a torch device"):
        extract_activations(_net(), [torch.zeros(2, 2, 4, 4)], device="gpu7")
