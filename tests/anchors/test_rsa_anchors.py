"""Cross-checks of rsa / mutual_knn / stochastic_shape against peer code.

Run with ``pytest -m anchors tests/anchors``. Peers:

- rsatoolbox 0.3.2 (PyPI, in the ``anchors`` extra): ``rdm.calc_rdm`` for every
  RDM method both offer ("euclidean" there = featcorr's
  "sq_euclidean_per_feature", "correlation") and ``rdm.compare`` for every
  comparison featcorr offers;
- ahwillia/netrep (``GaussianStochasticMetric``, ``EnergyStochasticMetric``) and
  minyoungg/platonic-rep (``AlignmentMetrics.mutual_knn``): not on PyPI. They
  are read from local git mirrors brought by the ``fetch`` tool
  (``/work/.mirror/<owner>+<name>/repo``, or the directory in
  ``FEATCORR_MIRRORS``), exported to a temporary directory at test time and
  imported from there; the tests skip with the reason when a mirror is absent.
  Their code is never committed here.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import featcorr as fc
from featcorr.measures import compare_rdms, gaussian_shape_distance, rdm, stochastic_shape_distance

pytestmark = pytest.mark.anchors

MIRRORS = Path(os.environ.get("FEATCORR_MIRRORS", "/work/.mirror"))

#: featcorr comparison -> rsatoolbox compare method
COMPARE = {
    "spearman": "spearman",
    "pearson": "corr",
    "kendall_tau_a": "tau-a",
    "rho_a": "rho-a",
    "cosine": "cosine",
    "whitened_cosine": "cosine_cov",
    "whitened_pearson": "corr_cov",
}
#: featcorr RDM method -> rsatoolbox calc_rdm method
RDM = {"sq_euclidean_per_feature": "euclidean", "correlation": "correlation"}


def _export(repo: str, paths: list[str], dest: Path) -> Path:
    git_dir = MIRRORS / repo.replace("/", "+") / "repo"
    if not git_dir.exists():
        pytest.skip(f"{repo} is not mirrored at {git_dir}; bring it with the fetch tool (github:{repo}) to run this check")
    for p in paths:
        archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", "HEAD", p], capture_output=True, check=True)
        subprocess.run(["tar", "x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


@pytest.fixture(scope="module")
def rsatoolbox():
    return pytest.importorskip("rsatoolbox", reason="rsatoolbox is in the 'anchors' extra (pip install rsatoolbox==0.3.2)")


@pytest.fixture(scope="module")
def netrep(tmp_path_factory):
    d = _export("ahwillia/netrep", ["netrep"], tmp_path_factory.mktemp("netrep"))
    sys.path.insert(0, str(d))
    try:
        return importlib.import_module("netrep.metrics")
    finally:
        sys.path.remove(str(d))


@pytest.fixture(scope="module")
def platonic(tmp_path_factory):
    d = _export("minyoungg/platonic-rep", ["metrics.py"], tmp_path_factory.mktemp("platonic"))
    # metrics.py imports torchaudio.functional at top level for a metric we do not call; stub it if absent
    if importlib.util.find_spec("torchaudio") is None:
        stub = types.ModuleType("torchaudio")
        stub.functional = types.ModuleType("torchaudio.functional")
        sys.modules.setdefault("torchaudio", stub)
        sys.modules.setdefault("torchaudio.functional", stub.functional)
    sys.path.insert(0, str(d))
    try:
        spec = importlib.util.spec_from_file_location("platonic_metrics", d / "metrics.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(d))


def _data(n=60, p=40, q=25, seed=0):
    rng = np.random.default_rng(seed)
    X = np.maximum(rng.normal(size=(n, p)) + 0.3, 0)  # post-ReLU-like, with exact zeros
    Y = np.tanh(X @ rng.normal(size=(p, q))) + 0.4 * rng.normal(size=(n, q))
    return X, Y


def _rsa_tb(rsatoolbox, X, Y, rdm_method, comparison):
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm, compare

    r1 = calc_rdm(Dataset(X), method=RDM[rdm_method])
    r2 = calc_rdm(Dataset(Y), method=RDM[rdm_method])
    return float(compare(r1, r2, method=COMPARE[comparison])[0, 0]), r1, r2


@pytest.mark.parametrize("rdm_method", sorted(RDM))
def test_rdms_match_rsatoolbox(rsatoolbox, rdm_method):
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm

    X, _ = _data()
    want = calc_rdm(Dataset(X), method=RDM[rdm_method]).get_matrices()[0]
    np.testing.assert_allclose(rdm(X, rdm_method), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("comparison", sorted(COMPARE))
@pytest.mark.parametrize("rdm_method", sorted(RDM))
def test_rsa_matches_rsatoolbox(rsatoolbox, rdm_method, comparison):
    X, Y = _data()
    want, r1, r2 = _rsa_tb(rsatoolbox, X, Y, rdm_method, comparison)
    got = fc.similarity(X, Y, measure="rsa", rdm=rdm_method, comparison=comparison)
    assert got == pytest.approx(want, rel=1e-10, abs=1e-12)
    # and on rsatoolbox's own RDM vectors
    v1, v2 = r1.get_vectors()[0], r2.get_vectors()[0]
    assert compare_rdms(v1, v2, comparison) == pytest.approx(want, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("comparison", ["kendall_tau_a", "rho_a", "spearman"])
def test_tied_model_rdms_match_rsatoolbox(rsatoolbox, comparison):
    from rsatoolbox.rdm import RDMs, compare

    rng = np.random.default_rng(1)
    v1 = rng.integers(0, 3, size=435).astype(float)  # a categorical model RDM (30 conditions): many ties
    v2 = rng.random(435) + 0.3 * v1
    want = float(compare(RDMs(v1[None]), RDMs(v2[None]), method=COMPARE[comparison])[0, 0])
    assert compare_rdms(v1, v2, comparison) == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("comparison", sorted(COMPARE))
@pytest.mark.parametrize("rdm_method", sorted(RDM))
def test_compiled_rank_path_and_moment_route_match_rsatoolbox(rsatoolbox, rdm_method, comparison, monkeypatch):
    # 300 samples: 44 850 RDM entries, ranked and counted by the numba radix path (forced here), with ties
    from featcorr.measures import _rank, _rank_sort

    if not _rank_sort.available():
        pytest.skip("numba is not installed")
    monkeypatch.setattr(_rank, "_COMPILED_FROM", {"warm": 10, "cold": {"ranks": 10, "tau": 10}})
    X, Y = _data(n=300, seed=3)
    Y[:, :5] = np.round(Y[:, :5])  # coarser features
    want, r1, r2 = _rsa_tb(rsatoolbox, X, Y, rdm_method, comparison)
    got = fc.similarity(X, Y, measure="rsa", rdm=rdm_method, comparison=comparison)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
    v1 = np.round(r1.get_vectors()[0], 2)  # heavy ties
    v2 = r2.get_vectors()[0]
    from rsatoolbox.rdm import RDMs, compare

    want_tied = float(compare(RDMs(v1[None]), RDMs(v2[None]), method=COMPARE[comparison])[0, 0])
    assert compare_rdms(v1, v2, comparison) == pytest.approx(want_tied, rel=1e-12, abs=1e-12)


# --------------------------------------------------------------- netrep stochastic metrics


def _responses(rng, M=10, r=30, p=4):
    means = rng.normal(size=(M, 1, p)) * 2
    L = rng.normal(size=(M, p, p)) * 0.5
    return means + np.einsum("mrp,mpq->mrq", rng.normal(size=(M, r, p)), L)


def _moments(X):
    return X.mean(1), np.array([np.cov(x, rowvar=False) for x in X])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gaussian_alpha_one_matches_netrep(netrep, seed):
    rng = np.random.default_rng(seed)
    X, Y = _responses(rng), _responses(rng)
    mx, cx = _moments(X)
    my, cy = _moments(Y)
    metric = netrep.GaussianStochasticMetric(alpha=1.0, group="orth", init="means", niter=1000, tol=1e-12)
    want = float(metric.fit_score((mx, cx), (my, cy)))
    got = gaussian_shape_distance(mx, cx, my, cy, alpha=1.0)
    assert got == pytest.approx(want, rel=1e-6)
    assert stochastic_shape_distance(X, Y) == pytest.approx(got, rel=1e-8)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.5, 2.0])
def test_gaussian_other_alpha_scores_netreps_transform(netrep, alpha):
    # netrep fits with weights alpha^2, (2-alpha)^2 but scores with alpha, 2-alpha (A9): featcorr minimises
    # the score itself, so it is never worse than netrep's score of netrep's own alignment
    rng = np.random.default_rng(4)
    X, Y = _responses(rng), _responses(rng)
    mx, cx = _moments(X)
    my, cy = _moments(Y)
    metric = netrep.GaussianStochasticMetric(alpha=alpha, group="orth", init="means", niter=1000, tol=1e-12)
    theirs = float(metric.fit_score((mx, cx), (my, cy)))
    ours = gaussian_shape_distance(mx, cx, my, cy, alpha=alpha)
    assert ours <= theirs * (1 + 1e-8)
    # and featcorr's objective evaluated at netrep's T equals netrep's score (same formula)
    (_, _), (mT, cT) = metric.transform((mx, cx), (my, cy))
    assert gaussian_shape_distance(mx, cx, mT, cT, alpha=alpha, group="identity") == pytest.approx(theirs, rel=1e-8)


def test_gaussian_permutation_matches_netrep(netrep):
    rng = np.random.default_rng(7)
    X = _responses(rng, p=5)
    Y = X[:, :, rng.permutation(5)] + 0.2 * rng.normal(size=X.shape)
    mx, cx = _moments(X)
    my, cy = _moments(Y)
    metric = netrep.GaussianStochasticMetric(alpha=1.0, group="perm", init="means", niter=100, tol=1e-12)
    metric.fit((mx, cx), (my, cy))
    metric.T = metric.T.toarray()  # netrep's perm T is a scipy.sparse matrix, which its einsum in score() rejects
    want = float(metric.score((mx, cx), (my, cy)))
    assert gaussian_shape_distance(mx, cx, my, cy, group="permutation") == pytest.approx(want, rel=1e-8)


@pytest.mark.parametrize("seed", [0, 1])
def test_energy_matches_netrep(netrep, seed):
    rng = np.random.default_rng(seed)
    X, Y = _responses(rng, M=8, r=12, p=3), _responses(rng, M=8, r=12, p=3)
    metric = netrep.EnergyStochasticMetric(group="orth", niter=500, tol=1e-12)
    want = float(metric.fit_score(X, Y))  # unbiased within-terms, as estimator="u"
    got = stochastic_shape_distance(X, Y, method="energy", estimator="u", max_iter=500, tol=1e-12)
    assert got == pytest.approx(want, rel=1e-5)
    # featcorr's objective at netrep's alignment equals netrep's score
    _, Yt = metric.transform(X, Y)
    assert stochastic_shape_distance(X, Yt, method="energy", estimator="u", group="identity") == pytest.approx(
        want, rel=1e-10
    )


# --------------------------------------------------------------- platonic-rep mutual kNN


@pytest.mark.parametrize("k", [5, 10])
def test_mutual_knn_matches_platonic_rep(platonic, k):
    rng = np.random.default_rng(k)
    X = rng.normal(size=(300, 32)) * rng.uniform(0.2, 3, size=32)
    Y = np.maximum(X @ rng.normal(size=(32, 20)), 0) + rng.normal(size=(300, 20))

    def prep(Z):  # the reference's prepare_features(exact=True) + F.normalize, on CPU in float64
        Z = platonic.remove_outliers(torch.from_numpy(Z), q=0.95, exact=True)
        return torch.nn.functional.normalize(Z, p=2, dim=-1)

    want = float(platonic.AlignmentMetrics.mutual_knn(prep(X), prep(Y), topk=k))
    # the reference averages float32 masks: equal counts, float32 rounding of the mean
    assert fc.similarity(X, Y, measure="mutual_knn", k=k) == pytest.approx(want, abs=1e-6)
    assert round(fc.similarity(X, Y, measure="mutual_knn", k=k) * 300 * k) == round(want * 300 * k)
