"""compare(mask=...): token activations pooled over real tokens only, so padding changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import featcorr as fc
from featcorr.errors import ConstantFeatureError, FeatcorrError, ShapeError, UnknownOptionError

from .helpers import ref_matrix

LAYERS = ["emb", "proj", "mix"]


class TokenNet(nn.Module):
    """Per-token layers (emb, proj), a masked sequence-mean layer (mix), as a tokenizer-fed model is called."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(30, 6)
        self.proj = nn.Linear(6, 5)
        self.mix = nn.Linear(5, 4)

    def forward(self, input_ids, attention_mask):
        h = torch.tanh(self.proj(self.emb(input_ids)))  # (n, t, 5): each token on its own
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        ctx = (h * m).sum(1, keepdim=True) / m.sum(1, keepdim=True)
        return self.mix(h + ctx)  # (n, t, 4): tokens see the masked mean of real tokens only


def _sequences(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 9, (n,), generator=g)
    return [torch.randint(1, 30, (int(k),), generator=g) for k in lengths]


def _pad(seqs, width, *, left=False, pad_id=0):
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        sl = slice(width - len(s), width) if left else slice(0, len(s))
        ids[i, sl], mask[i, sl] = s, 1
    return {"input_ids": ids, "attention_mask": mask}


def _batches(seqs, size=16, extra=0, **kw):
    """Dict batches padded to the longest sequence of the batch plus ``extra`` positions."""
    return [_pad(seqs[i : i + size], max(map(len, seqs[i : i + size])) + extra, **kw) for i in range(0, len(seqs), size)]


def _hand(net, seqs, pool):
    """Each sequence run alone, unpadded; real tokens pooled by hand (float64 numpy)."""
    store = {k: [] for k in LAYERS}
    hooks = [getattr(net, k).register_forward_hook(lambda m, i, o, k=k: store[k].append(o.detach().double()))
             for k in LAYERS]
    try:
        with torch.no_grad():
            for s in seqs:
                net(s[None], torch.ones(1, len(s), dtype=torch.long))
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for k, parts in store.items():
        if pool == "mean":
            out[k] = torch.cat([p.mean(1) for p in parts]).numpy()
        elif pool == "last":
            out[k] = torch.cat([p[:, -1] for p in parts]).numpy()
        else:
            out[k] = torch.cat([p[0] for p in parts]).numpy()
    return out


@pytest.mark.parametrize("pool", ["mean", "last", "samples"])
def test_masked_pool_ignores_padding(pool):
    net, seqs = TokenNet().double(), _sequences()  # float64 model: padding changes no float32 rounding inside it
    ref = ref_matrix(*(2 * [_hand(net, seqs, pool)]), LAYERS, LAYERS)
    tight = fc.compare(net, _batches(seqs), layers_a=LAYERS, pool=pool, mask="attention_mask", progress=False)
    np.testing.assert_allclose(tight.matrix().to_numpy(), ref, rtol=1e-9, atol=1e-12)
    for kw in ({"extra": 5}, {"extra": 3, "left": True}):  # more padding, padding on the other side
        res = fc.compare(net, _batches(seqs, **kw), layers_a=LAYERS, pool=pool, mask="attention_mask", progress=False)
        np.testing.assert_allclose(res.matrix().to_numpy(), tight.matrix().to_numpy(), rtol=1e-9, atol=1e-12)
    if pool == "samples":
        assert tight.metadata["n_rows"] == sum(map(len, seqs))
    assert tight.metadata["token_mask"] == "attention_mask"
    # without the mask padded positions enter the pool and change the numbers
    if pool == "last":  # the last position is always padding: the pad token's embedding, the same for every sample
        with pytest.raises(ConstantFeatureError, match="layer 'emb' is constant"):
            fc.compare(net, _batches(seqs, extra=5), layers_a=LAYERS, pool=pool, progress=False)
        return
    unmasked = fc.compare(net, _batches(seqs, extra=5), layers_a=LAYERS, pool=pool, progress=False).matrix()
    assert np.abs(unmasked.to_numpy() - ref).max() > 1e-3


def test_callable_mask_with_tuple_batches_and_inputs_callable():
    net, seqs = TokenNet().double(), _sequences(seed=1)
    batches = [(b["input_ids"], b["attention_mask"]) for b in _batches(seqs, extra=2)]
    res = fc.compare(net, batches, layers_a=LAYERS, pool="mean", inputs=lambda b: (b[0], b[1]), mask=lambda b: b[1],
                     progress=False)
    ref = ref_matrix(*(2 * [_hand(net, seqs, "mean")]), LAYERS, LAYERS)
    np.testing.assert_allclose(res.matrix().to_numpy(), ref, rtol=1e-9)
    assert res.metadata["token_mask"] == "callable"


def test_mask_errors():
    net, seqs = TokenNet(), _sequences(n=8)
    batches = _batches(seqs)
    with pytest.raises(UnknownOptionError, match=r"mask= was given with pool='flatten'.*'mean'"):
        fc.compare(net, batches, mask="attention_mask", progress=False)
    with pytest.raises(FeatcorrError, match=r"mask='attn' is not a key of the batch \(keys: \['input_ids', "
                       r"'attention_mask'\]\)"):
        fc.compare(net, batches, pool="mean", mask="attn", progress=False)
    tuples = [(b["input_ids"], b["attention_mask"]) for b in batches]
    with pytest.raises(FeatcorrError, match="names a key of dict batches, but the data yielded a tuple"):
        fc.compare(net, tuples, pool="mean", inputs=lambda b: b, mask="attention_mask", progress=False)
    with pytest.raises(ShapeError, match=r"mask\(batch\) has shape \(8,\), but a token mask must have shape \(n, t\)"):
        fc.compare(net, tuples, pool="mean", inputs=lambda b: b, mask=lambda b: b[1][:, 0], progress=False)
    empty = [dict(b, attention_mask=b["attention_mask"] * (torch.arange(8) != 3)[:, None]) for b in batches]
    with pytest.raises(FeatcorrError, match=r"marks no real token in row\(s\) \[3\]"):
        fc.compare(net, empty, layers_a=["emb"], pool="mean", mask="attention_mask", progress=False)
    with pytest.raises(FeatcorrError, match="is not a token-mask selector"):
        fc.compare(net, batches, pool="mean", mask=3, progress=False)
    wrong_t = lambda b: torch.ones(b["input_ids"].shape[0], 2)  # noqa: E731
    with pytest.raises(ShapeError, match=r"layer 'emb' of model has shape \(8, \d+, 6\), but the token mask has "
                       r"shape \(8, 2\)"):
        fc.compare(net, batches, pool="mean", mask=wrong_t, progress=False)
