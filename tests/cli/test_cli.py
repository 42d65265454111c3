"""featcorr CLI through typer's CliRunner: help, measures, compare on real files, bad input -> exit 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import featcorr as fc
from featcorr.cli import app

from ..conftest import ref_linear_cka

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def two_files(tmp_path, rng):
    """Activations of two 'models' on the same 60 samples, saved as .npz."""
    x = rng.normal(size=(60, 5))
    a = {"fc1": x @ rng.normal(size=(5, 8)), "relu1": np.maximum(x @ rng.normal(size=(5, 6)), 0) + 1.0}
    b = {
        "conv": rng.normal(size=(60, 2, 3, 3)) + x[:, :1, None, None],
        "head": np.tanh(x @ rng.normal(size=(5, 4))) + 0.1 * rng.normal(size=(60, 4)),
        "out": x[:, :3] + 0.5 * rng.normal(size=(60, 3)),
    }
    np.savez(tmp_path / "a.npz", **a)
    np.savez(tmp_path / "b.npz", **b)
    return tmp_path / "a.npz", tmp_path / "b.npz", a, b


def test_help_lists_the_commands():
    res = invoke("--help")
    assert res.exit_code == 0, res.output
    for cmd in ("compare", "measures", "demo"):
        assert cmd in res.stdout


def test_no_arguments_shows_help_and_usage_exit_code():
    res = invoke()
    assert "Usage" in res.output
    assert res.exit_code == 2  # click's code for missing command, same as our bad-input code


def test_version():
    res = invoke("--version")
    assert res.exit_code == 0
    assert res.stdout.strip() == f"featcorr {fc.__version__}"


def test_measures_lists_every_registered_measure():
    res = runner.invoke(app, ["measures"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    for name in fc.measures()["name"]:
        assert name in res.stdout
    assert "similarity" in res.stdout


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_measures_machine_readable_formats_hold_the_whole_registry(fmt):
    import io

    res = runner.invoke(app, ["measures", "--format", fmt])
    assert res.exit_code == 0, res.output
    expected = fc.measures()
    if fmt == "csv":
        got = pd.read_csv(io.StringIO(res.stdout))
    else:
        got = pd.DataFrame(json.loads(res.stdout))
    assert list(got.columns) == list(expected.columns)
    assert got["name"].tolist() == expected["name"].tolist()
    assert got["reference"].tolist() == expected["reference"].tolist()
    assert got["symmetric"].astype(bool).tolist() == expected["symmetric"].tolist()


def test_measures_table_is_not_squeezed_when_piped():
    # CliRunner's stdout is not a terminal: rows must not wrap at 80 columns
    res = runner.invoke(app, ["measures"])
    assert res.exit_code == 0, res.output
    assert any(len(line) > 120 for line in res.stdout.splitlines())
    assert "Kornblith, Norouzi, Lee, Hinton" in res.stdout


def test_measures_unknown_format_exits_2():
    res = runner.invoke(app, ["measures", "--format", "xml"])
    assert res.exit_code == 2
    assert "--format 'xml'" in res.output and "csv" in res.output


def test_compare_two_files_writes_result_matching_reference(two_files, tmp_path):
    pa, pb, a, b = two_files
    out = tmp_path / "out"
    res = runner.invoke(app, ["compare", str(pa), str(pb), "--out", str(out)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert {"result.json", "linear_cka.csv", "values.csv", "linear_cka.png"} <= {p.name for p in out.iterdir()}
    assert (out / "linear_cka.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    matrix = pd.read_csv(out / "linear_cka.csv", index_col=0)
    assert list(matrix.index) == ["fc1", "relu1"] and list(matrix.columns) == ["conv", "head", "out"]
    for la, xa in a.items():
        for lb, xb in b.items():
            want = ref_linear_cka(xa, xb.reshape(len(xb), -1))
            assert matrix.loc[la, lb] == pytest.approx(want, rel=1e-10, abs=1e-12), (la, lb)
    loaded = fc.load(out)
    np.testing.assert_array_equal(loaded.matrix("linear_cka").to_numpy(), matrix.to_numpy())
    # the printed table shows every layer and the values to 3 decimals
    for name in ("fc1", "relu1", "conv", "head", "out"):
        assert name in res.stdout
    assert f"{matrix.loc['fc1', 'out']:.3f}" in res.stdout
    assert "linear_cka: similarity in [0, 1], 60 samples" in res.stdout
    written = [out / n for n in ("result.json", "linear_cka.csv", "values.csv", "linear_cka.png")]
    assert "wrote: " + ", ".join(map(str, written)) in res.stdout
    assert res.stderr == ""


def test_compare_one_file_is_self_comparison(two_files, tmp_path):
    pa, _, a, _ = two_files
    out = tmp_path / "self"
    res = invoke("compare", pa, "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    m = fc.load(out).matrix("linear_cka")
    assert list(m.index) == list(m.columns) == ["fc1", "relu1"]
    np.testing.assert_allclose(np.diag(m.to_numpy()), 1.0, rtol=1e-12)
    assert m.loc["fc1", "relu1"] == pytest.approx(ref_linear_cka(a["fc1"], a["relu1"]), rel=1e-10)


def test_quiet_prints_nothing_but_writes_files(two_files, tmp_path):
    pa, pb, _, _ = two_files
    res = invoke("compare", pa, pb, "--out", tmp_path / "q", "-q")
    assert res.exit_code == 0
    assert res.stdout == "" and res.stderr == ""
    assert (tmp_path / "q" / "linear_cka.png").exists()


def test_pool_mean_changes_conv_layer_only(two_files, tmp_path):
    pa, pb, a, b = two_files
    res = invoke("compare", pa, pb, "--pool", "mean", "--out", tmp_path / "m", "-q")
    assert res.exit_code == 0, res.output
    m = fc.load(tmp_path / "m").matrix()
    assert m.loc["fc1", "conv"] == pytest.approx(ref_linear_cka(a["fc1"], b["conv"].mean(axis=(2, 3))), rel=1e-10)


def test_repeated_measure_is_computed_once(two_files, tmp_path):
    pa, pb, _, _ = two_files
    res = invoke("compare", pa, pb, "-m", "linear_cka", "--measure", "linear_cka", "--out", tmp_path / "r", "-q")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "r" / "result.json").read_text())
    assert doc["measures"] == ["linear_cka"]


def test_npy_and_pt_inputs(tmp_path, rng):
    x = rng.normal(size=(40, 6))
    np.save(tmp_path / "enc.npy", x)
    torch.save({"dec": torch.from_numpy(x @ rng.normal(size=(6, 3)))}, tmp_path / "b.pt")
    res = invoke("compare", tmp_path / "enc.npy", tmp_path / "b.pt", "--out", tmp_path / "o", "-q")
    assert res.exit_code == 0, res.output
    m = fc.load(tmp_path / "o").matrix()
    assert m.shape == (1, 1) and m.index[0] == "enc" and m.columns[0] == "dec"


# ---- bad input: one line on stderr, exit code 2, no traceback --------------------------------------------


def _bad(res, pattern: str) -> None:
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert "Traceback" not in res.output
    assert res.stdout == ""
    import re

    assert re.search(pattern, res.stderr), res.stderr


def test_missing_file(tmp_path):
    _bad(invoke("compare", tmp_path / "nope.npz"), r"featcorr compare: error: .*nope\.npz' does not exist")


def test_unknown_extension(tmp_path):
    (tmp_path / "a.csv").write_text("1,2\n3,4\n")
    _bad(invoke("compare", tmp_path / "a.csv"), r"unknown file type '\.csv'")


def test_corrupt_file(tmp_path):
    (tmp_path / "a.npz").write_bytes(b"garbage" * 20)
    _bad(invoke("compare", tmp_path / "a.npz"), r"could not read .* as a \.npz file")


def test_non_numeric_array(tmp_path, rng):
    np.savez(tmp_path / "a.npz", fc=rng.normal(size=(5, 2)), names=np.array(list("abcde")))
    _bad(invoke("compare", tmp_path / "a.npz"), r"array 'names' .* not real numeric")


def test_unknown_measure(two_files):
    pa, pb, _, _ = two_files
    _bad(invoke("compare", pa, pb, "-m", "linear_ckaa"), r"unknown measure 'linear_ckaa'.*Did you mean 'linear_cka'")


def test_unknown_pool(two_files):
    pa, pb, _, _ = two_files
    _bad(invoke("compare", pa, pb, "--pool", "max"), r"pool='max' is not supported; choose one of 'flatten'")


def test_mismatched_samples(tmp_path, rng):
    np.savez(tmp_path / "a.npz", x=rng.normal(size=(30, 3)))
    np.savez(tmp_path / "b.npz", y=rng.normal(size=(31, 3)))
    _bad(invoke("compare", tmp_path / "a.npz", tmp_path / "b.npz", "-q"), r"30.*31|31.*30")


def test_nan_in_activations(tmp_path, rng):
    x = rng.normal(size=(20, 3))
    x[4, 1] = np.nan
    np.savez(tmp_path / "a.npz", x=x)
    _bad(invoke("compare", tmp_path / "a.npz", "-q"), r"NaN")


def test_out_is_an_existing_file(two_files, tmp_path):
    pa, pb, _, _ = two_files
    (tmp_path / "taken").write_text("x")
    _bad(invoke("compare", pa, pb, "--out", tmp_path / "taken", "-q"), r"taken' .*not a directory")


# ---- the extension mechanism: featcorr.cli.command ---------------------------------------------------------


@pytest.fixture
def temporary_command():
    """Register commands on the shared app for one test, then remove them."""
    before = list(app.registered_commands)
    yield
    app.registered_commands[:] = before


def test_new_command_gets_error_handling(temporary_command):
    from featcorr.cli import command
    from featcorr.errors import ShapeError

    @command("zz-bad", help="raises bad input")
    def bad(width: int = 3) -> None:
        raise ShapeError(f"zz: width={width} is wrong; pass 4.")

    assert bad.__name__ == "bad"  # the function itself is returned, callable from Python
    with pytest.raises(ShapeError):
        bad()
    res = invoke("zz-bad", "--width", "5")
    assert res.exit_code == 2
    assert res.stderr == "featcorr zz-bad: error: zz: width=5 is wrong; pass 4.\n"
    assert "zz-bad" in invoke("--help").stdout


def test_bugs_are_not_disguised_as_bad_input(temporary_command):
    from featcorr.cli import command

    @command("zz-bug")
    def bug() -> None:
        raise RuntimeError("a real bug")

    res = invoke("zz-bug")
    assert res.exit_code == 1
    assert isinstance(res.exception, RuntimeError)


def test_wide_matrix_prints_best_match_per_row(tmp_path, rng):
    x = rng.normal(size=(40, 4))
    acts = {f"l{i:02d}": x @ rng.normal(size=(4, 3)) + 0.5 * i * rng.normal(size=(40, 3)) for i in range(14)}
    np.savez(tmp_path / "w.npz", **acts)
    res = runner.invoke(app, ["compare", str(tmp_path / "w.npz"), "--out", str(tmp_path / "o")], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "14 x 14 layers, best match per row" in res.stdout
    assert "most similar other layer_b" in res.stdout
    names = list(acts)
    ref = np.array([[ref_linear_cka(acts[p], acts[q]) for q in names] for p in names])
    np.fill_diagonal(ref, -np.inf)
    rows = _table_rows(res.stdout)
    for i, name in enumerate(names):
        j = int(np.argmax(ref[i]))
        assert rows[name] == [names[j], f"{ref[i, j]:.3f}"], (name, rows[name])


def _table_rows(text: str) -> dict[str, list[str]]:
    """Body rows of the rich tables in ``text``: first cell -> other cells."""
    out = {}
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.split("│")[1:-1]]
            out[cells[0]] = cells[1:]
    return out


def test_wide_two_file_distance_keeps_the_diagonal(tmp_path, rng):
    x = rng.normal(size=(40, 4))
    acts = {f"l{i:02d}": x @ rng.normal(size=(4, 3)) + 0.5 * i * rng.normal(size=(40, 3)) for i in range(13)}
    np.savez(tmp_path / "w.npz", **acts)
    res = runner.invoke(
        app,
        ["compare", str(tmp_path / "w.npz"), str(tmp_path / "w.npz"), "-m", "procrustes", "-o", str(tmp_path / "o")],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    assert "closest layer_b" in res.stdout
    rows = _table_rows(res.stdout)
    for name in acts:  # every layer is at distance 0 from itself in the other copy
        assert rows[name] == [name, "0.000"], (name, rows[name])


def test_progress_bar_on_a_terminal_and_silenced_by_quiet(two_files, tmp_path):
    pa, pb, _, _ = two_files
    terminal = {"TTY_COMPATIBLE": "1", "COLUMNS": "120"}  # rich renders as on a terminal
    loud = runner.invoke(app, ["compare", str(pa), str(pb), "-o", str(tmp_path / "l")], env=terminal)
    assert loud.exit_code == 0, loud.output
    assert "\x1b[" in loud.stderr  # the (transient) progress bar was drawn on stderr
    quiet = runner.invoke(app, ["compare", str(pa), str(pb), "-o", str(tmp_path / "q"), "--quiet"], env=terminal)
    assert quiet.exit_code == 0
    assert quiet.stderr == "" and quiet.stdout == ""
