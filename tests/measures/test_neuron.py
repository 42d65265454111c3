"""Wu et al.'s neuron-level measures: maxcorr/mincorr pair scores, rankings, linreg, lincca."""

from __future__ import annotations

import numpy as np
import pytest

import featcorr as fc
from featcorr.errors import ConstantFeatureError, FeatcorrError, NotEnoughSamplesError, UnknownOptionError
from featcorr.measures import maxcorr_from, neuron_ranking
from featcorr.stats import Moments


def _corr(X, Y):
    p = X.shape[1]
    return np.corrcoef(X, Y, rowvar=False)[:p, p:]


def _models(rng, n=300):
    Z = rng.normal(size=(n, 6))
    X = Z @ rng.normal(size=(6, 8)) + 0.5 * rng.normal(size=(n, 8))
    sd = X.std(0)
    e = rng.normal(size=(n, 3))
    A = np.column_stack([X[:, 0] + 0.01 * sd[0] * e[:, 0], rng.normal(size=(n, 4))])  # a copy of neuron 0
    # a near-exact copy of neuron 1 and a noisy one of neuron 0
    B = np.column_stack([X[:, 1] + 0.001 * sd[1] * e[:, 1], X[:, 0] - 0.5 * sd[0] * e[:, 2], rng.normal(size=(n, 2))])
    return X, A, B


def test_maxcorr_pair_score_matches_corrcoef(rng):
    X, A, _ = _models(rng)
    want = np.abs(_corr(X, A)).max(axis=1).mean()
    assert fc.similarity(X, A, measure="maxcorr") == pytest.approx(want, abs=1e-12)
    assert fc.similarity(X, A, measure="mincorr") == pytest.approx(want, abs=1e-12)  # same pair score
    assert fc.similarity(A, X, measure="maxcorr") == pytest.approx(np.abs(_corr(A, X)).max(axis=1).mean(), abs=1e-12)
    assert abs(fc.similarity(A, X, measure="maxcorr") - want) > 1e-3  # asymmetric


@pytest.mark.parametrize("measure", ["maxcorr", "mincorr"])
def test_dead_units_are_left_out_by_default(rng, measure):
    # dead ReLU units (constant) of a leave the mean, dead units of b leave the candidates of the max
    X, A, _ = _models(rng)
    Xd, Ad = X.copy(), A.copy()
    Xd[:, [2, 5]] = 0.0
    Ad[:, 1] = 3.0
    want = np.abs(_corr(np.delete(X, [2, 5], axis=1), np.delete(A, 1, axis=1))).max(axis=1).mean()
    assert fc.similarity(Xd, Ad, measure=measure) == pytest.approx(want, abs=1e-12)
    res = fc.compare_activations({"x": Xd}, {"a": Ad}, measures=[measure])
    assert float(res.matrix(measure).iloc[0, 0]) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("method", ["maxcorr", "mincorr"])
def test_rankings_match_corrcoef(rng, method):
    X, A, B = _models(rng)
    frame = neuron_ranking(X, {"A": A, "B": B}, method=method)
    sA, sB = np.abs(_corr(X, A)).max(axis=1), np.abs(_corr(X, B)).max(axis=1)
    np.testing.assert_allclose(frame["A"], sA, atol=1e-12)
    np.testing.assert_allclose(frame["B"], sB, atol=1e-12)
    score = np.maximum(sA, sB) if method == "maxcorr" else np.minimum(sA, sB)
    np.testing.assert_allclose(frame["score"], score, atol=1e-12)
    assert frame["rank"].tolist() == (np.argsort(np.argsort(-score, kind="stable")) + 1).tolist()


def test_maxcorr_and_mincorr_rank_differently(rng):
    X, A, B = _models(rng)
    r_max = neuron_ranking(X, [A, B], method="maxcorr")["rank"]
    r_min = neuron_ranking(X, [A, B], method="mincorr")["rank"]
    assert r_max.iloc[1] == 1 and r_max.iloc[0] == 2  # neuron 1 has the closest copy (in B)
    assert r_min.iloc[0] == 1  # neuron 0 is the one reproduced by both A and B
    assert r_min.iloc[1] > 1
    assert list(neuron_ranking(X, [A, B])["m0"]) == list(neuron_ranking(X, {"m0": A, "x": B})["m0"])


@pytest.mark.parametrize("method", ["maxlinreg", "minlinreg"])
def test_linreg_scores_match_lstsq(rng, method):
    X, A, B = _models(rng)
    frame = neuron_ranking(X, {"A": A, "B": B}, method=method)

    def r(target, design):  # sqrt of in-sample OLS R^2 with intercept
        D = np.column_stack([np.ones(len(design)), design])
        resid = target - D @ np.linalg.lstsq(D, target, rcond=None)[0]
        return np.sqrt(1 - (resid**2).sum(0) / ((target - target.mean(0)) ** 2).sum(0))

    np.testing.assert_allclose(frame["A"], r(X, A), atol=1e-10)
    np.testing.assert_allclose(frame["B"], r(X, B), atol=1e-10)
    agg = np.maximum if method == "maxlinreg" else np.minimum
    np.testing.assert_allclose(frame["score"], agg(r(X, A), r(X, B)), atol=1e-10)


def test_invariances(rng):
    X, A, _ = _models(rng)
    base = fc.similarity(X, A, measure="maxcorr")
    s = rng.uniform(0.1, 10, X.shape[1]) * rng.choice([-1, 1], X.shape[1])
    perm = rng.permutation(A.shape[1])
    assert fc.similarity(X * s + 3.0, A[:, perm], measure="maxcorr") == pytest.approx(base, abs=1e-12)
    lc = fc.similarity(X, A, measure="lincca")
    assert fc.similarity(X * np.abs(s) - 1.0, A[:, perm], measure="lincca") == pytest.approx(lc, abs=1e-9)


def test_streaming_equals_whole(rng):
    X, A, _ = _models(rng)
    whole = Moments().update({"x": X, "a": A}).finalize()
    m = Moments()
    for lo in range(0, 300, 29):
        m.update({"x": X[lo : lo + 29] + 0.0, "a": A[lo : lo + 29]})
    assert maxcorr_from(m.finalize(), "x", "a") == pytest.approx(maxcorr_from(whole, "x", "a"), abs=1e-13)


def test_bad_inputs(rng):
    X, A, _ = _models(rng, n=40)
    Xd = X.copy()
    Xd[:, 3] = 0.0
    with pytest.raises(ConstantFeatureError, match=r"units \[3\]; pass constant='drop'"):
        fc.similarity(Xd, A, measure="maxcorr", constant="raise")
    with pytest.raises(ConstantFeatureError, match="every unit of block"):
        fc.similarity(np.zeros_like(X), A, measure="maxcorr")
    with pytest.raises(UnknownOptionError, match="constant='nan' is not supported"):
        fc.similarity(X, A, measure="maxcorr", constant="nan")
    with pytest.raises(UnknownOptionError, match="method='avgcorr' is not supported"):
        neuron_ranking(X, [A], method="avgcorr")
    with pytest.raises(FeatcorrError, match="others is empty"):
        neuron_ranking(X, {})
    with pytest.raises(NotEnoughSamplesError, match="trivially perfect"):
        neuron_ranking(X, [rng.normal(size=(40, 45))], method="maxlinreg")
    with pytest.raises(fc.FeatcorrError, match="40 samples but others\\['m0'\\] has 39"):
        neuron_ranking(X, [A[:-1]])
