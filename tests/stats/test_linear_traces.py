"""Both exact routes to the linear pair traces tr(K~_a K~_b), and MinibatchHSIC with each route forced.

Oracle: Song et al. 2012 eq. 5 (tests/kernel_oracles.hsic_song) on float64 numpy Grams, and the plain
float64 sum over i != j of K_ij L_ij for the traces.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import featcorr.stats._minibatch_hsic as mb
from featcorr.stats import MinibatchHSIC
from featcorr.stats._linear_traces import (
    _hollow_gram_traces_torch,
    choose_route,
    feature_space_traces,
    hollow_gram_traces,
    uses_blas,
)

from ..kernel_oracles import gram_linear
from .test_minibatch_hsic import _oracle_matrix


def _hollow_trace_oracle(blocks):
    grams = []
    for x in blocks:
        K = gram_linear(x)
        np.fill_diagonal(K, 0.0)
        grams.append(K)
    return np.array([[float(np.sum(Ka * Kb)) for Kb in grams] for Ka in grams])


def _shapes_blocks(rng, m, widths, offset=3.0):
    # post-ReLU-like blocks with an offset and one block a function of another (non-zero cross terms)
    X = [np.maximum(rng.normal(size=(m, p)), 0.0) + offset for p in widths]
    X[1] = np.maximum(X[0][:, : min(widths[0], 3)] @ rng.normal(size=(min(widths[0], 3), widths[1])), 0.0)
    return X


@pytest.fixture(params=[1, 2], ids=["blas", "torch"])
def threads(request):
    """One torch thread: the routes use scipy's BLAS ?syrk; several: torch matmuls (uses_blas)."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


@pytest.mark.parametrize("m", [4, 5, 17, 100, 101])  # odd m: the extra-row term; >= 64: torch block-triangle
@pytest.mark.parametrize("widths", [(3, 2, 5), (40, 90, 7), (1, 130, 2)])
@pytest.mark.parametrize("centre", [True, False])
def test_both_routes_equal_the_textbook_traces_in_float64(rng, m, widths, centre, threads):
    assert uses_blas("cpu", torch.float64) == (threads == 1)
    blocks = _shapes_blocks(rng, m, widths)
    if centre:
        blocks = [x - x.mean(0) for x in blocks]
    want = _hollow_trace_oracle(blocks)
    xs = [torch.from_numpy(np.ascontiguousarray(x)) for x in blocks]
    d = torch.stack([torch.linalg.vecdot(x, x) for x in xs])
    scale = np.abs(want).max()
    diag = torch.empty(len(xs), m, dtype=torch.float64)
    got_g = hollow_gram_traces(xs, {}, diagonals=diag).numpy()
    np.testing.assert_allclose(diag.numpy(), np.stack([(x * x).sum(1) for x in blocks]), rtol=1e-13)
    got_f = feature_space_traces(xs, d).numpy()
    np.testing.assert_allclose(got_g, want, rtol=1e-10, atol=1e-12 * scale)
    np.testing.assert_allclose(got_f, want, rtol=1e-10, atol=1e-10 * scale)
    got_t = _hollow_gram_traces_torch(xs, {}).numpy()  # the non-BLAS Gram route (GPU, bfloat16)
    np.testing.assert_allclose(got_t, want, rtol=1e-10, atol=1e-12 * scale)


def test_gram_route_workspace_is_reused_and_reset_by_shape(rng, monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)  # the BLAS path's buffers
    ws = {}
    a = [torch.from_numpy(x) for x in _shapes_blocks(rng, 30, (5, 6, 7))]
    b = [torch.from_numpy(x) for x in _shapes_blocks(rng, 12, (5, 6, 7))]
    for xs in (a, a, b, a):
        np.testing.assert_allclose(
            hollow_gram_traces(xs, ws).numpy(), _hollow_trace_oracle([x.numpy() for x in xs]), rtol=1e-10
        )
    (key,) = [k for k in ws if k[0] == "syrk"]  # one set of buffers, for the last shape
    assert key[1:3] == (3, 30)


def test_choose_route_takes_the_smaller_side():
    assert choose_route(500, [64, 64, 64]) == "features"  # P = 192 < m
    assert choose_route(500, [512] * 12) == "gram"  # P = 6144 > m
    assert choose_route(500, [2048]) == "gram"
    assert choose_route(4096, [256, 256]) == "features"
    assert choose_route(500, [64, 64], torch.bfloat16) == "gram"  # no bfloat16 ?syrk


@pytest.fixture(params=["gram", "features"])
def forced_route(request, monkeypatch):
    monkeypatch.setattr(mb, "choose_route", lambda m, widths, dtype=None: request.param)
    return request.param


def _centred_gram(X):
    # eq. 5 is exactly shift-invariant; centring the batch keeps the oracle's own float64 rounding small
    # (uncentred Grams of offset data cancel ~1e10-fold in a batch of 4)
    return gram_linear(X - X.mean(0))


@pytest.mark.parametrize(
    "n, batch",
    [(40, 4), (40, 5), (103, 50), (97, 45), (240, 240)],  # minimum size, odd size, uneven last batches, one batch
)
def test_statistic_with_each_route_equals_song_eq5(rng, forced_route, n, batch, threads):
    # "w" is wider than every batch (p > m), "x" and "y" narrower (p < m)
    X = rng.normal(size=(n, 3)) + 5.0
    data = {"x": X, "y": np.maximum(X @ rng.normal(size=(3, 8)), 0) + 0.2 * rng.normal(size=(n, 8)),
            "w": np.tanh(rng.normal(size=(n, 300)) + X[:, :1])}
    snap = MinibatchHSIC(batch_size=batch).update(data).finalize()
    bounds = list(range(0, n, batch)) + [n]
    want = _oracle_matrix(data, bounds, _centred_gram)
    np.testing.assert_allclose(snap.matrix().numpy(), want, rtol=1e-10, atol=1e-12 * np.abs(want).max())


def test_float32_feature_route_close_to_float64(rng, monkeypatch):
    X = rng.normal(size=(400, 6)) + 50.0  # a large offset: centring is what keeps float32 accurate
    data = {"x": X.astype(np.float32), "y": np.maximum(X @ rng.normal(size=(6, 10)), 0).astype(np.float32)}
    assert choose_route(200, [6, 10]) == "features"
    a = MinibatchHSIC(batch_size=200, gemm_dtype="float32").update(data).finalize().matrix().numpy()
    b = MinibatchHSIC(batch_size=200).update(data).finalize().matrix().numpy()
    np.testing.assert_allclose(a, b, rtol=1e-5)
    assert np.abs(a - b).max() > 0  # really float32


@pytest.mark.parametrize("gemm_dtype", ["float64", "float32", "bfloat16"])
def test_updates_inside_and_outside_inference_mode_share_buffers(rng, gemm_dtype):
    n = 160  # batches of 80 >= 64: the bfloat16 route's block buffers are used too
    data = {k: torch.from_numpy(v).float() for k, v in {"x": rng.normal(size=(n, 70)), "y": rng.normal(size=(n, 9))}.items()}
    s = MinibatchHSIC(batch_size=80, gemm_dtype=gemm_dtype)
    with torch.inference_mode():
        s.update({k: v[:80] for k, v in data.items()})
    s.update({k: v[80:] for k, v in data.items()})
    with torch.inference_mode():
        s.update({k: v[:80] for k, v in data.items()})
    ref = MinibatchHSIC(batch_size=80, gemm_dtype=gemm_dtype).update({k: torch.cat([v, v[:80]]) for k, v in data.items()})
    np.testing.assert_allclose(s.finalize().matrix().numpy(), ref.finalize().matrix().numpy(), rtol=1e-12)
