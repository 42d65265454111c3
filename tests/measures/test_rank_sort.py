"""Compiled rank path (radix sort, average ranks, Kendall tau-a) against scipy.stats and brute force, float64."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as ss
import torch

from featcorr.measures import _rank, _rank_sort

pytestmark = pytest.mark.skipif(not _rank_sort.available(), reason="numba is not installed")


def _brute_tau_a(x: np.ndarray, y: np.ndarray) -> float:
    N = len(x)
    s = 0
    for i in range(N - 1):
        s += int(np.sum(np.sign(x[i] - x[i + 1 :]) * np.sign(y[i] - y[i + 1 :])))
    return s / (N * (N - 1) / 2)


def _vectors(kind: str, N: int, rng) -> tuple[np.ndarray, np.ndarray]:
    if kind == "continuous":
        x = rng.normal(size=N)
        return x, x + rng.normal(size=N)
    if kind == "ties":  # categorical model RDMs: few distinct values
        return rng.integers(0, 5, N).astype(float), rng.integers(0, 3, N).astype(float)
    # signed zeros, negatives, subnormals, infinities-free extremes
    x = rng.normal(size=N) * 10.0 ** rng.integers(-300, 300, N)
    x[: N // 4] = -0.0
    x[N // 4 : N // 3] = 0.0
    x[N // 3 : N // 3 + 5] = 5e-324
    y = -x + rng.normal(size=N)
    return x, y


@pytest.fixture(params=["packed", "wide"])
def path(request, monkeypatch):
    """Both sort paths: packed 32-bit words (N < 2^32) and full 64-bit keys with a separate payload."""
    if request.param == "wide":
        monkeypatch.setattr(_rank_sort, "_PACKED_BELOW", 0)
    return request.param


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("kind", ["continuous", "ties", "extremes"])
@pytest.mark.parametrize("N", [1, 2, 7, 1000, 150_001])
def test_average_ranks_equal_rankdata(threads, kind, N, path):
    x, _ = _vectors(kind, N, np.random.default_rng(N))
    if kind == "continuous" and N > 1:
        x[::7] = x[0]  # a long run of ties among distinct values
    got = _rank_sort.average_ranks(x.copy(), threads=threads, overwrite=True)
    np.testing.assert_array_equal(got, ss.rankdata(x))


@pytest.mark.parametrize("kind", ["continuous", "ties", "extremes"])
def test_sort_is_a_stable_argsort(kind):
    x, _ = _vectors(kind, 100_003, np.random.default_rng(3))
    keys, idx = _rank_sort.sort_float(x, threads=2)
    np.testing.assert_array_equal(idx, np.argsort(x + 0.0, kind="stable"))
    assert np.all(keys[1:] >= keys[:-1])


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("kind", ["continuous", "ties", "extremes"])
def test_tau_a_equals_brute_force(threads, kind, path):
    for N in (2, 3, 17, 200, 1000):
        x, y = _vectors(kind, N, np.random.default_rng(N))
        assert _rank_sort.kendall_tau_a(x, y, threads=threads) == pytest.approx(_brute_tau_a(x, y), abs=1e-15)


@pytest.mark.parametrize("kind", ["continuous", "ties"])
def test_tau_a_long_vectors_match_scipy_tau_b(kind, path):
    # tau-a = tau-b sqrt((n0 - n1)(n0 - n2)) / n0 (n1, n2 pairs tied in x, y): scipy's merge-sort count
    x, y = _vectors(kind, 300_007, np.random.default_rng(5))
    N = len(x)
    n0 = N * (N - 1) // 2

    def ties(v):
        _, c = np.unique(v, return_counts=True)
        return int((c * (c - 1) // 2).sum())

    want = ss.kendalltau(x, y).statistic * np.sqrt(float(n0 - ties(x))) * np.sqrt(float(n0 - ties(y))) / n0
    assert _rank_sort.kendall_tau_a(x, y, threads=2) == pytest.approx(want, abs=1e-12)


def test_all_tied_tau_a_is_zero(path):
    assert _rank_sort.kendall_tau_a(np.ones(50_000), np.arange(50_000.0), threads=2) == 0.0


def test_rank_module_uses_the_compiled_path_and_agrees_with_numpy(monkeypatch):
    rng = np.random.default_rng(9)
    x = torch.from_numpy(np.round(rng.normal(size=60_000), 2))
    y = torch.from_numpy(np.round(rng.normal(size=60_000), 1)) + x
    monkeypatch.setattr(_rank_sort, "available", lambda: False)
    r_np, t_np = _rank.average_ranks(x), _rank.kendall_tau_a(x, y)
    monkeypatch.undo()
    monkeypatch.setattr(_rank, "_COMPILED_FROM", {"warm": 10, "cold": {"ranks": 10, "tau": 10}})
    calls = []
    real = _rank_sort.kendall_tau_a
    monkeypatch.setattr(_rank_sort, "kendall_tau_a", lambda *a, **k: calls.append(1) or real(*a, **k))
    r_c, t_c = _rank.average_ranks(x.clone(), overwrite=True), _rank.kendall_tau_a(x, y)
    assert calls == [1]
    torch.testing.assert_close(r_c, r_np, rtol=0, atol=0)
    assert t_c == pytest.approx(t_np, abs=1e-13)
    assert _rank_sort.warm()
