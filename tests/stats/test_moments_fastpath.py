"""Moments fast paths: symmetric tiles split into chunks, Chan's row folded into the product, workspace reuse.

The tiles in tests/stats/test_moments.py are narrower than one chunk; here the
chunk width is lowered so that every symmetric tile is split, and results are
checked against direct float64 formulas (numpy, two-pass).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from featcorr.stats import Moments, _moments, moments_flops


def _centred_product(A, B):
    return (A - A.mean(0)).T @ (B - B.mean(0))


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(_moments, "_SYM_CHUNK", 3)


def _data(rng, n=257, widths=(7, 4, 5), offset=40.0):
    Z = rng.normal(size=(n, 3))
    return {f"b{i}": Z @ rng.normal(size=(3, p)) + rng.normal(size=(n, p)) + offset * (i + 1) for i, p in enumerate(widths)}


@pytest.mark.parametrize("pairs", ["all", "self", ("cross", ["b0", "b2"], ["b1"]), [("b0", "b1"), ("b2", "b2")]])
@pytest.mark.parametrize("batch", [1, 5, 64, 257])
def test_chunked_symmetric_tiles_match_direct(rng, small_chunks, pairs, batch):
    D = _data(rng)
    m = Moments(pairs=pairs)
    for lo in range(0, 257, batch):
        m.update({k: v[lo : lo + batch] for k, v in D.items()})
    snap = m.finalize()
    for a in D:
        for b in D:
            if snap.has_pair(a, b):
                np.testing.assert_allclose(
                    snap.comoment(a, b).numpy(), _centred_product(D[a], D[b]), rtol=1e-11, atol=1e-9
                )
    for a in D:  # every block's own tile is kept and exactly symmetric after the mirror
        S = snap.comoment(a, a).numpy()
        assert np.array_equal(S, S.T)


def test_state_and_merge_in_the_middle_of_a_chunked_stream(rng, small_chunks):
    D = _data(rng, n=300)
    whole = Moments().update(D).finalize()
    m = Moments()
    m.update({k: v[:100] for k, v in D.items()})
    m.finalize()  # mirrors the lower triangle; later updates must still land correctly
    m.update({k: v[100:150] for k, v in D.items()})
    m2 = pickle.loads(pickle.dumps(m))
    m2.update({k: v[150:220] for k, v in D.items()})
    other = Moments().update({k: v[220:] for k, v in D.items()})
    m2.merge(other)
    snap = m2.finalize()
    for a, b in [("b0", "b0"), ("b0", "b1"), ("b2", "b0"), ("b1", "b1")]:
        np.testing.assert_allclose(snap.comoment(a, b).numpy(), whole.comoment(a, b).numpy(), rtol=1e-11, atol=1e-9)
        np.testing.assert_allclose(snap.comoment(a, b).numpy(), _centred_product(D[a], D[b]), rtol=1e-11, atol=1e-9)


def test_workspace_reuse_with_changing_batch_sizes(rng):
    D = _data(rng, n=400)
    m = Moments()
    bounds = [0, 200, 203, 350, 351, 400]  # large, small, large, one row, rest
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        m.update({k: v[lo:hi] for k, v in D.items()})
    snap = m.finalize()
    np.testing.assert_allclose(snap.comoment("b1", "b2").numpy(), _centred_product(D["b1"], D["b2"]), rtol=1e-11)
    np.testing.assert_allclose(snap.mean("b2").numpy(), D["b2"].mean(0), rtol=1e-14)


def test_float32_gemm_with_chunks_and_drifting_means(rng, small_chunks):
    # batches whose means drift by several standard deviations: Chan's row carries that in the product
    n = 2000
    D = _data(rng, n=n, offset=1e3)
    D = {k: (v + np.linspace(0, 5, n)[:, None]).astype(np.float32) for k, v in D.items()}
    m = Moments(gemm_dtype="float32")
    for lo in range(0, n, 128):
        m.update({k: v[lo : lo + 128] for k, v in D.items()})
    snap = m.finalize()
    for a, b in [("b0", "b0"), ("b0", "b2"), ("b1", "b2")]:
        ref = _centred_product(D[a].astype(np.float64), D[b].astype(np.float64))
        np.testing.assert_allclose(snap.comoment(a, b).numpy(), ref, rtol=2e-5, atol=1e-3 * np.abs(ref).max())


def test_moments_flops_counts_upper_block_triangle(small_chunks):
    m = Moments(pairs="all").update({"x": np.arange(22.0).reshape(2, 11) ** 2})
    # widths 11 -> chunks of 3, 3, 2, 3 (round(11/3) = 4 chunks): upper block triangle = (sum w^2 + (sum w)^2) / 2
    cuts = _moments._sym_cuts(11)
    w = np.array([b - a for a, b in cuts])
    assert w.sum() == 11 and len(w) == 4
    assert moments_flops(m) == 2 * 2 * (np.sum(w**2) + 11**2) / 2
    assert moments_flops(m, performed=False) == 2 * 2 * 121
    m2 = Moments(pairs=("cross", ["x"], ["y"])).update({"x": np.ones((3, 2)).cumsum(0), "y": np.ones((3, 5)).cumsum(0)})
    # cross tile 2 x 5 plus self tiles 2 x 2 (one chunk) and 5 x 5 (chunks 2 + 3 -> 4 + 6 + 9 = 19 entries)
    assert moments_flops(m2) == 2 * 3 * (10 + 4 + 19)
    assert moments_flops(m2, performed=False) == 2 * 3 * (10 + 4 + 25)


def test_float32_partial_sums_flush_on_every_read(rng, small_chunks):
    """gemm_dtype="float32" keeps up to _FLUSH_EVERY batches in float32 partial tiles: every read sees them."""
    D = {k: v.astype(np.float32) for k, v in _data(rng, n=1100).items()}
    ref = {(a, b): _centred_product(D[a].astype(np.float64), D[b].astype(np.float64)) for a in D for b in D}

    def check(snap):
        for (a, b), want in ref.items():
            np.testing.assert_allclose(snap.comoment(a, b).numpy(), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())

    m = Moments(gemm_dtype="float32")
    for lo in range(0, 500, 100):  # 5 batches pending (fewer than a flush)
        m.update({k: v[lo : lo + 100] for k, v in D.items()})
    assert m._pending == 5
    m2 = pickle.loads(pickle.dumps(m))  # state_dict flushes
    other = Moments(gemm_dtype="float32")
    for lo in range(500, 1100, 50):  # 12 batches: one flush at 8, 4 pending
        other.update({k: v[lo : lo + 50] for k, v in D.items()})
    assert other._pending == 4
    for mm in (m, m2):
        mm.merge(other)
        check(mm.finalize())
    # a statistic with pending partial sums merged into an empty one
    check(Moments(gemm_dtype="float32").merge(Moments(gemm_dtype="float32").update(D)).finalize())
