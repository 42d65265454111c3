"""The installed `featcorr` console script, run as a real process: exit codes, files, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import featcorr as fc

FEATCORR = Path(sys.executable).parent / "featcorr"


def run(*args, cwd: Path) -> subprocess.CompletedProcess:
    assert FEATCORR.exists(), f"console script missing at {FEATCORR}; run `pip install -e .` (make test does)"
    return subprocess.run(
        [str(FEATCORR), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "160", "HOME": str(cwd)},
    )


@pytest.fixture
def files(tmp_path, rng):
    x = rng.normal(size=(50, 4))
    np.savez(tmp_path / "a.npz", l1=x @ rng.normal(size=(4, 6)), l2=np.maximum(x, 0))
    np.savez(tmp_path / "b.npz", m1=x + rng.normal(size=(50, 4)))
    return tmp_path


def test_compare_success_writes_files(files):
    proc = run("compare", "a.npz", "b.npz", "--out", "res", cwd=files)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert {"result.json", "linear_cka.csv", "values.csv", "linear_cka.png"} <= {
        p.name for p in (files / "res").iterdir()
    }
    assert "l1" in proc.stdout and "m1" in proc.stdout
    assert fc.load(files / "res").matrix().shape == (2, 1)


@pytest.mark.parametrize(
    "args, message",
    [
        (("compare", "missing.npz"), "featcorr compare: error: load_activations: file 'missing.npz' does not exist"),
        (("compare", "a.npz", "b.npz", "-m", "bogus"), "featcorr compare: error: "),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(files, args, message):
    proc = run(*args, cwd=files)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(message), proc.stderr
    assert proc.stderr.count("\n") == 1
    assert proc.stdout == ""
    assert not (files / "featcorr-compare").exists()
