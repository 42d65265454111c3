"""run_demo and `featcorr demo`: files written, CKA equals an independent hook + numpy computation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import featcorr as fc
from featcorr.cli import app
from featcorr.demo import run_demo
from featcorr.demo._digits import accuracy, digits_split, make_mlp, train
from featcorr.errors import FeatcorrError

LAYERS = ["fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "out"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "featcorr-demo"
    return run_demo(out, quiet=True, seconds=30.0, max_epochs=4)


def _activations(model, X):
    acts = {}
    hooks = [
        m.register_forward_hook(lambda mod, i, o, n=n: acts.__setitem__(n, o.detach().double().numpy()))
        for n, m in model.named_children()
    ]
    try:
        with torch.no_grad():
            model(X)
    finally:
        for h in hooks:
            h.remove()
    return acts


def test_files_written_and_reloadable(demo):
    names = {p.name for p in demo.out.iterdir()}
    assert {"result.json", "linear_cka.csv", "values.csv", "linear_cka.png", "demo.json"} <= names
    assert (demo.out / "linear_cka.png").read_bytes()[:4] == b"\x89PNG"
    assert fc.load(demo.out) == demo.result
    summary = json.loads((demo.out / "demo.json").read_text())
    assert summary["test_accuracy"] == demo.accuracy
    assert summary["epochs"] == {"net_a": 4, "net_b": 4}


def test_matrix_matches_hooks_plus_numpy_gram_formula(demo):
    X_te, _ = demo.data
    acts_a = _activations(demo.models["net_a"], X_te)
    acts_b = _activations(demo.models["net_b"], X_te)
    m = demo.result.matrix("linear_cka")
    assert list(m.index) == LAYERS and list(m.columns) == LAYERS
    assert demo.result.metadata["n_samples"] == len(X_te) == 449
    # Gram-space CKA: <HKH, HLH> / (|HKH| |HLH|), with HKH = Xc Xc^T (Xc = column-centred X), float64
    grams_a = {k: _centred_gram(v) for k, v in acts_a.items()}
    grams_b = {k: _centred_gram(v) for k, v in acts_b.items()}
    for la in LAYERS:
        for lb in LAYERS:
            K, L = grams_a[la], grams_b[lb]
            want = np.sum(K * L) / np.sqrt(np.sum(K * K) * np.sum(L * L))
            assert m.loc[la, lb] == pytest.approx(want, rel=1e-9), (la, lb)


def _centred_gram(X):
    Xc = X - X.mean(axis=0)
    return Xc @ Xc.T


def test_nets_learned_and_same_depth_layers_are_most_similar(demo):
    # 4 epochs of Adam on digits: well above chance (0.1); measured 0.93-0.95
    assert demo.accuracy["net_a"] > 0.85 and demo.accuracy["net_b"] > 0.85
    m = demo.result.matrix().to_numpy()
    # first and last layers are most alike at equal depth (Kornblith et al. 2019, Fig. 2)
    assert m[0, 0] > m[0, -1] + 0.05 and m[-1, -1] > m[-1, 0] + 0.05


def test_training_is_seeded_and_restores_threads_and_rng():
    X_tr, y_tr, X_te, y_te = digits_split(seed=3)
    threads = torch.get_num_threads()
    rng_state = torch.random.get_rng_state()
    nets = [make_mlp(7), make_mlp(7)]
    for net in nets:
        assert train(net, X_tr, y_tr, seconds=60.0, max_epochs=2, seed=5) == 2
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    for (k, v), (_, w) in zip(nets[0].state_dict().items(), nets[1].state_dict().items(), strict=True):
        assert torch.equal(v, w), k
    assert not nets[0].training
    assert accuracy(nets[0], X_te, y_te) == accuracy(nets[1], X_te, y_te) > 0.5
    assert not torch.equal(make_mlp(8).fc1.weight, nets[0].fc1.weight)


def test_digits_split_is_disjoint_and_covers_the_data():
    X_tr, _, X_te, _ = digits_split(seed=0)
    assert X_tr.shape == (1348, 64) and X_te.shape == (449, 64)
    assert float(X_tr.min()) == 0.0 and float(X_tr.max()) == 1.0
    rows = {tuple(r) for r in X_tr.tolist()} & {tuple(r) for r in X_te.tolist()}
    assert len(rows) <= 5  # digits has a handful of duplicate images; a leaked split would share ~450


@pytest.mark.parametrize("seconds", [0, -1.0, float("nan"), float("inf"), "3", True])
def test_bad_seconds(tmp_path, seconds):
    with pytest.raises(FeatcorrError, match=r"seconds=.* is not a positive number of seconds"):
        run_demo(tmp_path, quiet=True, seconds=seconds)


def test_bad_max_epochs(tmp_path):
    with pytest.raises(FeatcorrError, match=r"max_epochs=0 must be an integer >= 1"):
        run_demo(tmp_path, quiet=True, max_epochs=0)


def test_out_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(FeatcorrError, match="is an existing file, not a directory"):
        run_demo(tmp_path / "f", quiet=True, max_epochs=1)


def test_cli_demo_prints_table_and_accuracies(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "--seconds", "0.01"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    for name in LAYERS:
        assert name in res.stdout
    assert "net_a: test accuracy 0." in res.stdout and "net_b: test accuracy 0." in res.stdout
    assert (tmp_path / "d" / "linear_cka.png").exists()


def test_cli_demo_bad_seconds_exits_2(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "--seconds", "-2"])
    assert res.exit_code == 2
    assert "seconds=-2.0 is not a positive number" in res.stderr and "Traceback" not in res.output


def test_cli_demo_quiet_silences_training_bars(tmp_path):
    terminal = {"TTY_COMPATIBLE": "1", "COLUMNS": "120"}  # rich renders as on a terminal
    loud = CliRunner().invoke(app, ["demo", "-o", str(tmp_path / "l"), "--seconds", "0.01"], env=terminal)
    assert loud.exit_code == 0, loud.output
    assert "training net_a" in loud.stderr and "training net_b" in loud.stderr
    quiet = CliRunner().invoke(app, ["demo", "-o", str(tmp_path / "q"), "--seconds", "0.01", "-q"], env=terminal)
    assert quiet.exit_code == 0
    assert quiet.stderr == "" and quiet.stdout == ""
