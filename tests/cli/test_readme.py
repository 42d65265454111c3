"""Every code example in README.md runs: the python blocks in order, then each `featcorr ...` line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

import featcorr as fc
from featcorr.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README.read_text(), flags=re.DOTALL | re.MULTILINE)


def test_readme_quickstart_is_exactly_make_demo_and_make_test():
    quick = README.read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = [
        line.split("#")[0].strip() for line in "".join(re.findall(r"```bash\n(.*?)```", quick, re.DOTALL)).splitlines()
    ]
    assert [c for c in commands if c] == ["make demo", "make test"]


def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    python = _blocks("python")
    assert len(python) >= 2
    namespace: dict = {"__name__": "__readme__"}
    for code in python:
        exec(compile(code, str(README), "exec"), namespace)
    assert (tmp_path / "cka.png").exists()
    assert fc.load(tmp_path / "cka-result").measures == ["linear_cka"]

    lines = [line.split("  #")[0].strip() for block in _blocks("bash") for line in block.splitlines()]
    cli = [line for line in lines if line.startswith("featcorr ")]
    assert len(cli) >= 2
    for line in cli:
        args = shlex.split(line)[1:]
        res = CliRunner().invoke(app, args)  # the same app the console script runs (see test_subprocess.py)
        assert res.exit_code == 0, (line, res.output)
    assert fc.load(tmp_path / "cmp").matrix("procrustes").shape == (2, 2)
    assert (tmp_path / "self-cmp" / "linear_cka.png").exists()
