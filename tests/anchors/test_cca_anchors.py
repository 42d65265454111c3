"""Cross-checks of the CCA family (cca, pwcca inputs) against peer code.

Run with ``pytest -m anchors tests/anchors``. Peers:

- cca-zoo ``CCA`` (PyPI, in the ``anchors`` extra): exact CCA, ``score`` = mean rho;
- scikit-learn ``CCA``: an *iterative* (NIPALS / PLS-style) solver, so it only
  approaches the exact rho (checked to 1e-6 on a well-separated spectrum);
- google/svcca ``cca_core.py``: not on PyPI. They are read
  from local git mirrors brought by the ``fetch`` tool
  (``/work/.mirror/<owner>+<name>/repo``, or the directory in
  ``FEATCORR_MIRRORS``), exported to a temporary directory at test time and
  imported from there; the tests skip with the reason when the mirror is absent.
  Its code is never committed here. (Netrep checks: test_procrustes_anchors.py.)
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
