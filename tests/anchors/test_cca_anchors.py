"""Cross-checks of cca / svcca / procrustes / shape_metric / linear_predictivity against peer code.

Run with ``pytest -m anchors tests/anchors``. Peers:

- cca-zoo ``CCA`` (PyPI, in the ``anchors`` extra): exact CCA, ``score`` = mean rho;
- scikit-learn ``CCA``: an *iterative* (NIPALS / PLS-style) solver, so it only
  approaches the exact rho (checked to 1e-6 on a well-separated spectrum);
- google/svcca ``cca_core.py`` and ahwillia/netrep: not on PyPI. They are read
  from local git mirrors brought by the ``fetch`` tool
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
import warnings
from pathlib import Path

import numpy as np
import pytest

import featcorr as fc
from featcorr.measures import canonical_correlations

pytestmark = pytest.mark.anchors

MIRRORS = Path(os.environ.get("FEATCORR_MIRRORS", "/work/.mirror"))


def _export(repo: str, paths: list[str], dest: Path) -> Path:
    git_dir = MIRRORS / repo.replace("/", "+") / "repo"
    if not git_dir.exists():
        pytest.skip(f"{repo} is not mirrored at {git_dir}; bring it with the fetch tool (github:{repo}) to run this check")
    for p in paths:
        archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", "HEAD", p], capture_output=True, check=True)
        subprocess.run(["tar", "x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


@pytest.fixture(scope="module")
def google_cca_core(tmp_path_factory):
    d = _export("google/svcca", ["cca_core.py"], tmp_path_factory.mktemp("svcca"))
    sys.path.insert(0, str(d))
    try:
        return importlib.import_module("cca_core")
    finally:
        sys.path.remove(str(d))


@pytest.fixture(scope="module")
def netrep_linear(tmp_path_factory):
    d = _export("ahwillia/netrep", ["netrep"], tmp_path_factory.mktemp("netrep"))
    sys.path.insert(0, str(d))
    try:
        return importlib.import_module("netrep.metrics").LinearMetric
    except ImportError as exc:  # a dependency of netrep is missing
        pytest.skip(f"netrep could not be imported ({exc})")
    finally:
        sys.path.remove(str(d))


def _pair(seed, n=600, p=10, q=7):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) + 2.0
    Y = X[:, :5] @ rng.normal(size=(5, q)) + 2.0 * rng.normal(size=(n, q))
    return X, Y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cca_zoo(seed):
    from cca_zoo.linear import CCA

    X, Y = _pair(seed)
    k = min(X.shape[1], Y.shape[1])
    model = CCA(n_components=k).fit([X, Y])
    Z1, Z2 = model.transform([X, Y])
    rho_zoo = np.array([abs(np.corrcoef(Z1[:, i], Z2[:, i])[0, 1]) for i in range(k)])
    np.testing.assert_allclose(canonical_correlations(X, Y).rho, np.sort(rho_zoo)[::-1], atol=1e-8)
    assert fc.similarity(X, Y, measure="cca") == pytest.approx(model.score([X, Y]), abs=1e-8)


def test_sklearn_cca_is_iterative_but_close():
    from sklearn.cross_decomposition import CCA

    rng = np.random.default_rng(3)
    S = rng.normal(size=(2000, 3))
    X = np.column_stack([S, rng.normal(size=(2000, 2))])
    Y = np.column_stack([S @ np.diag([3.0, 1.0, 0.3]), np.zeros((2000, 0))]) + rng.normal(size=(2000, 3))
    model = CCA(n_components=3, max_iter=5000, tol=1e-14, scale=False).fit(X, Y)
    Zx, Zy = model.transform(X, Y)
    rho_sk = np.array([abs(np.corrcoef(Zx[:, i], Zy[:, i])[0, 1]) for i in range(3)])
    np.testing.assert_allclose(canonical_correlations(X, Y).rho, rho_sk, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 4])
def test_google_svcca_cca_core(google_cca_core, seed):
    X, Y = _pair(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = google_cca_core.get_cca_similarity(X.T, Y.T, epsilon=0.0, compute_dirns=False, verbose=False)
    rho = canonical_correlations(X, Y).rho
    np.testing.assert_allclose(rho, res["cca_coef1"][: rho.size], atol=1e-8)
    # its "mean" is not rho-bar: the mean of the leading coefficients reaching 98% of their sum (METHODS A5)
    assert abs(float(np.mean(res["mean"])) - rho.mean()) > 1e-3


@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("metric", ["angular", "euclidean"])
def test_netrep_linear_metric(netrep_linear, alpha, metric):
    X, Y = _pair(5, n=400, p=8, q=8)
    want = netrep_linear(alpha=alpha, score_method=metric).fit_score(X, Y)
    got = fc.similarity(X, Y, measure="shape_metric", alpha=alpha, metric=metric, covariance="unnormalized")
    assert got == pytest.approx(want, rel=1e-8, abs=1e-8)
    if alpha == 1.0 and metric == "angular":
        assert fc.similarity(X, Y, measure="procrustes") == pytest.approx(want, abs=1e-8)


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_netrep_zero_padding_angular(netrep_linear, alpha):
    X, Y = _pair(6, n=400, p=9, q=5)
    want = netrep_linear(alpha=alpha, zero_pad=True).fit_score(X, Y)
    got = fc.similarity(X, Y, measure="shape_metric", alpha=alpha, covariance="unnormalized")
    assert got == pytest.approx(want, abs=1e-6)  # netrep clips the padded eigenvalues at 1e-7


def test_netrep_padding_changes_its_euclidean_rescaling(netrep_linear):
    # documented difference: netrep's clipped zero-pad eigenvalues enter its variance-preserving rescaling
    X, Y = _pair(6, n=400, p=9, q=5)
    want = netrep_linear(alpha=0.5, score_method="euclidean").fit_score(X, Y)
    got = fc.similarity(X, Y, measure="shape_metric", alpha=0.5, metric="euclidean", covariance="unnormalized")
    assert 0 < abs(got - want) / want < 1e-2
