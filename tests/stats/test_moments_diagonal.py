"""Moments(self_blocks="diagonal"), Moments.serves and StatisticSet dedupe by subsumption."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch import nn

import featcorr as fc
from featcorr.errors import StatisticMismatchError, UnknownLayerError, UnknownOptionError
from featcorr.measures import get_measure, maxcorr_from, procrustes_from, shape_metric_from
from featcorr.stats import DebiasedMoments, Moments, StatisticSet

PAIRS = [("x", "y")]


def _data(rng, n=240, p=9, q=5):
    X = rng.normal(size=(n, p)) * np.linspace(0.3, 3.0, p) + 60.0  # large offsets: centring must be exact
    Y = X[:, :q] @ rng.normal(size=(q, q)) + rng.normal(size=(n, q)) - 25.0
    return X, Y


def _ref_sums_of_squares(A):
    Ac = A - A.mean(0)
    return np.sum(Ac * Ac, axis=0)


def _stream(X, Y, cuts, **opts):
    m = Moments(pairs=PAIRS, self_blocks="diagonal", **opts)
    bounds = [0, *[c for c in cuts if 0 < c < X.shape[0]], X.shape[0]]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        m.update({"x": X[lo:hi], "y": Y[lo:hi]})
    return m


def test_diagonal_matches_direct_float64_and_keeps_no_self_tile(rng):
    X, Y = _data(rng)
    m = Moments(pairs=PAIRS, self_blocks="diagonal").update({"x": X, "y": Y})
    snap = m.finalize()
    assert [(t.rows, t.cols) for t in m._tiles] == [(("x",), ("y",))]  # no p x p self tile
    np.testing.assert_allclose(snap.variances("x").numpy(), _ref_sums_of_squares(X), rtol=1e-12)
    np.testing.assert_allclose(snap.variances("y").numpy(), _ref_sums_of_squares(Y), rtol=1e-12)
    assert snap.trace("x") == pytest.approx(float(np.sum((X - X.mean(0)) ** 2)), rel=1e-12)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    np.testing.assert_allclose(snap.comoment("x", "y").numpy(), Xc.T @ Yc, rtol=1e-11, atol=1e-9)
    assert not snap.has_pair("x", "x")
    with pytest.raises(UnknownLayerError, match="self_blocks='full'"):
        snap.comoment("x", "x")


@pytest.mark.parametrize("cuts", [[1], [17, 18, 100], list(range(10, 240, 23))])
def test_diagonal_streaming_equals_whole_data(rng, cuts):
    X, Y = _data(rng)
    whole = Moments(pairs=PAIRS, self_blocks="diagonal").update({"x": X, "y": Y}).finalize()
    streamed = _stream(X, Y, cuts).finalize()
    np.testing.assert_allclose(streamed.D_.numpy(), whole.D_.numpy(), rtol=1e-12)
    np.testing.assert_allclose(streamed.variances("x").numpy(), _ref_sums_of_squares(X), rtol=1e-12)
    np.testing.assert_allclose(
        streamed.comoment("x", "y").numpy(), whole.comoment("x", "y").numpy(), rtol=1e-11, atol=1e-9
    )


def test_diagonal_merge_equals_single_pass_and_state_round_trip(rng):
    X, Y = _data(rng)
    whole = Moments(pairs=PAIRS, self_blocks="diagonal").update({"x": X, "y": Y}).finalize()
    shards = [_stream(X[lo:hi], Y[lo:hi], [7]) for lo, hi in ((0, 50), (50, 51), (51, 240))]
    total = Moments(pairs=PAIRS, self_blocks="diagonal")  # empty: the first merge copies
    for s in shards:
        total.merge(s)
    merged = total.finalize()
    np.testing.assert_allclose(merged.D_.numpy(), whole.D_.numpy(), rtol=1e-12)
    assert merged.n == 240
    # state_dict / from_state_dict / pickle keep the diagonal and the option
    state = total.state_dict()
    assert state["config"]["self_blocks"] == "diagonal" and "D" in state
    back = Moments.from_state_dict(state).finalize()
    assert torch.equal(back.D_, merged.D_) and torch.equal(back.comoment("x", "y"), merged.comoment("x", "y"))
    again = pickle.loads(pickle.dumps(total)).finalize()
    assert torch.equal(again.D_, merged.D_)
    with pytest.raises(StatisticMismatchError):
        Moments(pairs=PAIRS).merge(total)  # full and diagonal statistics do not merge
    # full-mode state dicts are those of earlier versions: no new key
    full_state = Moments(pairs=PAIRS).update({"x": X, "y": Y}).state_dict()
    assert "self_blocks" not in full_state["config"] and "D" not in full_state


@pytest.mark.parametrize("metric", ["angular", "euclidean"])
def test_procrustes_and_maxcorr_from_diagonal_equal_full(rng, metric):
    X, Y = _data(rng)
    full = Moments(pairs=PAIRS).update({"x": X, "y": Y}).finalize()
    diag = _stream(X, Y, [60, 120]).finalize()
    want = procrustes_from(full, "x", "y", metric=metric)
    assert 0.05 < want < 1.4
    assert procrustes_from(diag, "x", "y", metric=metric) == pytest.approx(want, abs=1e-12)
    assert shape_metric_from(diag, "x", "y", alpha=1.0, metric=metric) == pytest.approx(
        shape_metric_from(full, "x", "y", alpha=1.0, metric=metric), abs=1e-12
    )
    R = np.corrcoef(X, Y, rowvar=False)[: X.shape[1], X.shape[1] :]
    assert maxcorr_from(diag, "x", "y") == pytest.approx(np.abs(R).max(axis=1).mean(), abs=1e-12)
    assert maxcorr_from(diag, "y", "x") == pytest.approx(maxcorr_from(full, "y", "x"), abs=1e-12)
    with pytest.raises(UnknownLayerError, match="diagonal"):
        shape_metric_from(diag, "x", "y", alpha=0.5)  # partial whitening needs the full self blocks


def test_options_are_checked():
    with pytest.raises(UnknownOptionError, match="self_blocks"):
        Moments(self_blocks="upper")
    with pytest.raises(UnknownOptionError, match="self_blocks must be 'full'"):
        DebiasedMoments(pairs=PAIRS, self_blocks="diagonal")


# ----------------------------------------------------------------- dedupe
def test_serves_rules():
    full, diag = Moments(pairs=PAIRS), Moments(pairs=PAIRS, self_blocks="diagonal")
    assert full.serves(diag) and not diag.serves(full)
    assert Moments(pairs="all").serves(diag)
    assert not full.serves(Moments(pairs=[("x", "z")], self_blocks="diagonal"))  # other pairs
    assert not full.serves(Moments(pairs=PAIRS, self_blocks="diagonal", gemm_dtype="float32"))
    assert DebiasedMoments(pairs=PAIRS).serves(full) and not full.serves(DebiasedMoments(pairs=PAIRS))


@pytest.mark.parametrize("order", ["diagonal first", "full first"])
def test_statistic_set_keeps_one_statistic_for_full_and_diagonal(rng, order):
    X, Y = _data(rng)
    reqs = [{"m": Moments(pairs=PAIRS, self_blocks="diagonal")}, {"m": Moments(pairs=PAIRS)}]
    if order == "full first":
        reqs.reverse()
    sset = StatisticSet()
    roles = [sset.request(r) for r in reqs]
    assert len(sset) == 1 and sset.statistic(roles[0]["m"]) is sset.statistic(roles[1]["m"])
    assert next(iter(sset.stats.values())).self_blocks == "full"
    sset.update({"x": X, "y": Y})
    snaps = sset.finalize()
    s0, s1 = snaps[roles[0]["m"]], snaps[roles[1]["m"]]
    assert s0 is s1 and s0.has_pair("x", "x")
    with pytest.raises(StatisticMismatchError, match="before the pass"):
        sset.request({"m": DebiasedMoments(pairs=PAIRS)})  # would replace a statistic already fed


def test_debiased_moments_serve_linear_cka_one_statistic(rng):
    X, Y = _data(rng)
    sset = StatisticSet()
    roles = {}
    for name in ("linear_cka", "debiased_cka", "procrustes"):
        spec = get_measure(name)
        roles[name] = sset.request(spec.statistics(("x",), ("y",), engine={}, **spec.options))
    assert len(sset) == 1 and isinstance(next(iter(sset.stats.values())), DebiasedMoments)
    sset.update({"x": X, "y": Y})
    snaps = sset.finalize()
    for name, r in roles.items():
        spec = get_measure(name)
        got = spec.compute({k: snaps[v] for k, v in r.items()}, "x", "y", **spec.options)
        assert got == pytest.approx(fc.similarity(X, Y, measure=name), abs=1e-12)


class _Net(nn.Module):
    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.fc1, self.act, self.fc2 = nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 8)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def _count_updates(monkeypatch):
    calls = []
    orig = Moments.update

    def counting(self, *a, **k):
        calls.append(self)
        return orig(self, *a, **k)

    monkeypatch.setattr(Moments, "update", counting)
    return calls


def test_compare_procrustes_alone_accumulates_diagonal_and_with_cca_one_full(monkeypatch):
    X = torch.randn(120, 6, generator=torch.Generator().manual_seed(3)) + 1.0
    batches = [X[:40], X[40:]]
    layers = ["fc1", "fc2"]
    calls = _count_updates(monkeypatch)
    alone = fc.compare(_Net(0), batches, _Net(1), layers_a=layers, layers_b=layers, measures=["procrustes"],
                       progress=False)
    assert len(calls) == 2 and {c.self_blocks for c in calls} == {"diagonal"}
    assert not any(t.rows == t.cols for t in calls[0]._tiles)  # cross tile only
    calls.clear()
    both = fc.compare(_Net(0), batches, _Net(1), layers_a=layers, layers_b=layers,
                      measures=["procrustes", "maxcorr", "svcca"], progress=False)
    assert len({id(c) for c in calls}) == 1 and len(calls) == 2  # one statistic (full), one update per batch
    assert calls[0].self_blocks == "full"
    np.testing.assert_allclose(both.matrix("procrustes").to_numpy(), alone.matrix("procrustes").to_numpy(),
                               rtol=0, atol=1e-12)
    assert float(alone.matrix("procrustes").to_numpy().min()) > 0.05
