"""Cross-checks of procrustes / shape_metric against ahwillia/netrep ``LinearMetric``.

netrep is not on PyPI: it is read from a local git mirror brought by the
``fetch`` tool (``/work/.mirror/ahwillia+netrep/repo``, or the directory in
``FEATCORR_MIRRORS``), exported to a temporary directory at test time and
imported from there; the tests skip with the reason when the mirror is absent.
Its code is never committed here. Run with ``pytest -m anchors tests/anchors``.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import featcorr as fc

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


def _pair(seed, n=600, p=10, q=7):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) + 2.0
    Y = X[:, :5] @ rng.normal(size=(5, q)) + 2.0 * rng.normal(size=(n, q))
    return X, Y


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
