"""featcorr's CKA against pytorch-cka 1.1.3, torch-cka 0.21 and ckatorch 1.0.3, on the same inputs.

Run with ``.venv/bin/python -m pytest -m anchors tests/anchors/test_cka_anchors.py``
(install the peers with ``pip install torch==2.13.0 -e '.[anchors]'``).

Each peer is compared with the featcorr estimator it really implements,
in float64 wherever the peer allows it (read from the installed sources):

- ckatorch ``cka_base(x, y)`` is Kornblith's full-data *biased* linear CKA on
  float64 Grams (it casts its inputs to float64) -> ``linear_cka``;
  ``cka_base(..., unbiased=True)`` uses Kornblith's U-centred Grams ->
  ``debiased_cka``; ``cka_batch(x, y)`` takes (k, m, p) stacks of k batches
  and returns the ratio of summed per-batch unbiased HSIC -> ``minibatch_cka``
  with ``batch_size=m``. Its model-level ``CKA(...)(loader)`` cannot be
  compared: it calls ``cka_batch`` on 2-D (m, p) layer outputs (``bmm`` needs
  3-D) and overwrites every batch's value with the next one.
- pytorch-cka ``cka_from_features(X, Y)`` is *not* Kornblith's CKA: it uses
  the unbiased HSIC of Song et al. on the full data (-> ``debiased_cka``),
  clamps the ratio into [0, 1] and replaces a zero denominator by 1e-6. Its
  raw ``hsic`` terms are compared with ``unbiased_linear_hsic_from`` before
  any clamping. ``compute_cka(model1, model2, loader)`` is minibatch CKA
  (per-batch unbiased HSIC summed, then the ratio, clamped) ->
  ``minibatch_cka`` through ``featcorr.compare``; its accumulators are
  created with torch's *default* dtype, so float64 runs need
  ``torch.set_default_dtype(torch.float64)`` and float64 models.
- torch-cka ``CKA.compare(loader)`` is the same minibatch estimator (its
  ``_HSIC`` is Song's formula on Grams with zeroed diagonals; the 1/num_batches
  factor cancels in the ratio), unclamped; it too builds its ``ones`` vector
  and accumulator with the default dtype.

Where a peer clamps, the test data are chosen so that the true value lies in
(0, 1), and a separate test pins what clamping hides (a negative debiased
estimate that pytorch-cka reports as exactly 0).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

import featcorr as fc
from featcorr.measures import get_measure

pytestmark = pytest.mark.anchors

cka = pytest.importorskip("cka")  # pytorch-cka
torch_cka = pytest.importorskip("torch_cka")
ckatorch = pytest.importorskip("ckatorch")


@contextlib.contextmanager
def default_dtype(dtype):
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _pair(seed, n=240, p=30, q=12, offset=5.0, noise=1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) + offset * rng.uniform(size=p)
    Y = np.tanh(X[:, :q] @ rng.normal(size=(q, q)) / 3) + noise * rng.normal(size=(n, q)) - offset
    return X, Y


# ---------------------------------------------------------------- full data, arrays
@pytest.mark.parametrize("seed,n,p,q", [(0, 240, 30, 12), (1, 50, 80, 60), (2, 1000, 5, 3)])
def test_linear_cka_equals_ckatorch_cka_base(seed, n, p, q):
    X, Y = _pair(seed, n, p, q)
    want = float(ckatorch.cka_base(torch.from_numpy(X), torch.from_numpy(Y)))
    want_hsic = float(ckatorch.cka_base(torch.from_numpy(X), torch.from_numpy(Y), method="hsic"))
    got = fc.similarity(X, Y, measure="linear_cka")
    assert 0.02 < want < 0.999  # a value with content, not a corner
    assert got == pytest.approx(want, rel=1e-12, abs=1e-14)
    assert got == pytest.approx(want_hsic, rel=1e-10)


@pytest.mark.parametrize("seed,n,p,q", [(0, 240, 30, 12), (3, 60, 100, 40)])
def test_debiased_cka_equals_ckatorch_unbiased(seed, n, p, q):
    X, Y = _pair(seed, n, p, q)
    want = float(ckatorch.cka_base(torch.from_numpy(X), torch.from_numpy(Y), unbiased=True))
    got = fc.similarity(X, Y, measure="debiased_cka")
    assert 0.02 < want < 0.999
    assert got == pytest.approx(want, rel=1e-10)
    # debiasing matters here: the biased value differs
    assert abs(fc.similarity(X, Y) - want) > 1e-3


def test_debiased_cka_equals_pytorch_cka_from_features_float64():
    X, Y = _pair(4, n=300, p=40, q=25)
    tx, ty = torch.from_numpy(X), torch.from_numpy(Y)
    want = float(cka.cka_from_features(tx, ty)[0, 0])  # float64 Grams, clamped to [0, 1]
    got = fc.similarity(X, Y, measure="debiased_cka")
    assert 0.05 < want < 0.999  # inside (0, 1): the clamp does not act
    assert got == pytest.approx(want, rel=1e-10)


def test_unbiased_hsic_terms_equal_pytorch_cka_hsic():
    """Raw HSIC terms (never clamped) of pytorch-cka's ``hsic`` vs featcorr's one-pass unbiased HSIC."""
    from featcorr.measures._kernel_cka import unbiased_linear_hsic_from
    from featcorr.stats import StatisticSet

    # moderate offsets: pytorch-cka forms Grams of the uncentred features, and with means far from 0
    # its own float64 HSIC loses digits to cancellation (offset 40 costs it ~5 digits here)
    X, Y = _pair(5, n=200, p=16, q=9, offset=2.0, noise=0.3)
    tx, ty = torch.from_numpy(X), torch.from_numpy(Y)
    hxy, hxx, hyy = cka.hsic((tx @ tx.T)[None], (ty @ ty.T)[None])
    spec = get_measure("debiased_cka")
    sset = StatisticSet()
    roles = sset.request(spec.statistics(("x",), ("y",), engine={}, **spec.options))
    sset.update({"x": X, "y": Y})
    (snap,) = [sset.finalize()[k] for k in roles.values()]
    assert abs(float(hxy[0, 0])) > 0.1 * np.sqrt(float(hxx[0]) * float(hyy[0]))  # a dependent pair
    assert unbiased_linear_hsic_from(snap, "x", "y") == pytest.approx(float(hxy[0, 0]), rel=1e-9)
    assert unbiased_linear_hsic_from(snap, "x", "x") == pytest.approx(float(hxx[0]), rel=1e-9)
    assert unbiased_linear_hsic_from(snap, "y", "y") == pytest.approx(float(hyy[0]), rel=1e-9)


def test_pytorch_cka_clamps_a_negative_debiased_estimate_to_zero():
    """Independent X and Y: the debiased estimate is slightly negative; pytorch-cka reports 0.0."""
    rng = np.random.default_rng(11)
    for _ in range(50):  # the first seed whose debiased estimate is negative
        X, Y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
        ref = float(ckatorch.cka_base(torch.from_numpy(X), torch.from_numpy(Y), unbiased=True))
        if ref < -1e-3:
            break
    got = fc.similarity(X, Y, measure="debiased_cka")
    assert got == pytest.approx(ref, rel=1e-10)
    assert got < -1e-3  # featcorr keeps the sign (never clamps)
    assert float(cka.cka_from_features(torch.from_numpy(X), torch.from_numpy(Y))[0, 0]) == 0.0


# ---------------------------------------------------------------- minibatch, arrays
@pytest.mark.parametrize("m,k", [(50, 6), (8, 25)])
def test_minibatch_cka_equals_ckatorch_cka_batch(m, k):
    X, Y = _pair(6, n=m * k, p=20, q=10, noise=0.5)
    want = float(ckatorch.cka_batch(torch.from_numpy(X).reshape(k, m, -1), torch.from_numpy(Y).reshape(k, m, -1)))
    got = fc.similarity(X, Y, measure="minibatch_cka", batch_size=m)
    assert 0.05 < want < 0.999
    assert got == pytest.approx(want, rel=1e-10)
    # the minibatch estimator is not the full-data one
    assert abs(got - fc.similarity(X, Y)) > 1e-3


# ---------------------------------------------------------------- models
def _mlp(seed, widths=(12, 24, 16, 8)):
    torch.manual_seed(seed)
    mods = []
    for i in range(len(widths) - 1):
        mods += [(f"fc{i + 1}", nn.Linear(widths[i], widths[i + 1])), (f"act{i + 1}", nn.Tanh())]
    return nn.Sequential(OrderedDict(mods)).double().eval()


LAYERS = ["fc1", "act1", "act2", "fc3"]


class _Batches(torch.utils.data.Dataset):
    """(x, y) batches of m rows, float64, non-zero input means."""

    def __init__(self, m=40, k=5, seed=7):
        g = torch.Generator().manual_seed(seed)
        self.xs = [torch.randn(m, 12, generator=g, dtype=torch.float64) + 2.0 for _ in range(k)]

    def __len__(self):
        return len(self.xs)

    def __getitem__(self, i):
        return self.xs[i], torch.zeros(self.xs[i].shape[0])


def _loader(**kw):
    return torch.utils.data.DataLoader(_Batches(**kw), batch_size=None)


def _features(model, layers, loader):
    out = {name: [] for name in layers}
    mods = dict(model.named_modules())
    hooks = [mods[name].register_forward_hook(lambda _m, _i, o, name=name: out[name].append(o.detach()))
             for name in layers]
    with torch.no_grad():
        for x, _ in loader:
            model(x)
    for h in hooks:
        h.remove()
    return {k: torch.cat(v) for k, v in out.items()}


def test_compare_linear_cka_equals_ckatorch_cka_base_per_layer_pair():
    a, b, loader = _mlp(0), _mlp(1), _loader()
    got = fc.compare(a, loader, model_b=b, layers_a=LAYERS, layers_b=LAYERS, progress=False).matrix("linear_cka")
    fa, fb = _features(a, LAYERS, loader), _features(b, LAYERS, loader)
    want = np.array([[float(ckatorch.cka_base(fa[x], fb[y])) for y in LAYERS] for x in LAYERS])
    assert want.min() > 0.02 and want.max() < 0.999
    np.testing.assert_allclose(got.loc[LAYERS, LAYERS].to_numpy(), want, rtol=1e-11, atol=1e-13)


def test_compare_minibatch_cka_equals_pytorch_cka_compute_cka_float64():
    a, b, loader = _mlp(0), _mlp(1), _loader()
    with default_dtype(torch.float64):
        (want,) = cka.compute_cka(a, b, loader, layers=LAYERS, device="cpu", progress=False)
    assert want.dtype == torch.float64
    want = want.numpy()
    got = fc.compare(a, loader, model_b=b, layers_a=LAYERS, layers_b=LAYERS, measures=("minibatch_cka",),
                     progress=False).matrix("minibatch_cka")
    assert want.min() > 0.02 and want.max() < 0.999  # inside (0, 1): pytorch-cka's clamp does not act
    np.testing.assert_allclose(got.loc[LAYERS, LAYERS].to_numpy(), want, rtol=1e-10, atol=1e-12)


def test_compare_minibatch_cka_equals_pytorch_cka_same_model():
    """model_b=None: pytorch-cka takes its shared-hook path (``hsic_cross``)."""
    a, loader = _mlp(2), _loader(seed=3)
    with default_dtype(torch.float64):
        (want,) = cka.compute_cka(a, a, loader, layers=LAYERS, device="cpu", progress=False)
    got = fc.compare(a, loader, layers_a=LAYERS, measures=("minibatch_cka",), progress=False).matrix("minibatch_cka")
    np.testing.assert_allclose(np.diag(want.numpy()), 1.0, rtol=1e-12)
    np.testing.assert_allclose(got.loc[LAYERS, LAYERS].to_numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


def test_compare_minibatch_cka_equals_torch_cka_compare_float64():
    import warnings

    a, b, loader = _mlp(0), _mlp(1), _loader()
    with default_dtype(torch.float64), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = torch_cka.CKA(a, b, model1_name="A", model2_name="B", model1_layers=LAYERS, model2_layers=LAYERS)
        c.compare(loader)
        want = c.export()["CKA"].numpy()
    # torch-cka never removes its hooks: use fresh copies of the models for featcorr
    a2, b2 = _mlp(0), _mlp(1)
    got = fc.compare(a2, loader, model_b=b2, layers_a=LAYERS, layers_b=LAYERS, measures=("minibatch_cka",),
                     progress=False).matrix("minibatch_cka")
    assert c.export()["model1_layers"] == LAYERS  # rows in the order of our layer list
    np.testing.assert_allclose(got.loc[LAYERS, LAYERS].to_numpy(), want, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- float32, where the peers lose digits
def test_float32_activations_with_offsets_featcorr_exact_pytorch_cka_not():
    """Post-ReLU-like float32 features with large means: featcorr stays within 1e-6 of the float64 value.

    pytorch-cka forms float32 Grams of the *uncentred* features, so the unbiased HSIC terms cancel
    catastrophically; its value is pinned here to document the failure the benchmark reports.
    """
    g = torch.Generator().manual_seed(0)
    Z = torch.randn(3000, 16, generator=g)
    X = (torch.relu(Z @ torch.randn(16, 64, generator=g) + 0.5) + 100.0).float()
    Y = (torch.relu(Z[:, :8] @ torch.randn(8, 48, generator=g)) + 100.0).float()
    truth = float(ckatorch.cka_base(X.double(), Y.double(), unbiased=True))  # float64 debiased value
    got = fc.similarity(X, Y, measure="debiased_cka")
    assert got == pytest.approx(truth, abs=1e-6)
    peer = float(cka.cka_from_features(X, Y)[0, 0])
    assert abs(peer - truth) > 0.05
