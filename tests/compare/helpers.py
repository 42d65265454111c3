"""Tiny models and an independent by-hand activation collector for the compare tests."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..conftest import ref_linear_cka


class MLP(nn.Module):
    def __init__(self, d_in=10, h=16, d_out=3, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.fc1 = nn.Linear(d_in, h)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(h, h)
        self.act2 = nn.Tanh()
        self.fc3 = nn.Linear(h, d_out)

    def forward(self, x):
        return self.fc3(self.act2(self.fc2(self.act1(self.fc1(x)))))


class CNN(nn.Module):
    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(6 * 4 * 4, 5)

    def forward(self, x):
        h = self.pool(self.relu(self.bn(self.conv1(x))))
        return self.fc(self.flat(self.conv2(h)))


class Tokens(nn.Module):
    """(n, t) token ids -> embeddings (n, t, d) -> linear (n, t, d) -> mean head."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(20, 6)
        self.proj = nn.Linear(6, 5)
        self.head = nn.Linear(5, 2)

    def forward(self, ids):
        h = torch.tanh(self.proj(self.emb(ids)))
        return self.head(h.mean(dim=1))


def collect(model, batches, names, *, pool="flatten"):
    """Activations of ``names`` over all ``batches`` with plain hooks, concatenated, float64 numpy (n, p)."""
    store = {n: [] for n in names}
    mods = dict(model.named_modules())
    handles = [mods[n].register_forward_hook(lambda m, i, o, n=n: store[n].append(o.detach().clone())) for n in names]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for b in batches:
                model(b)
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    out = {}
    for n, parts in store.items():
        t = torch.cat(parts).double()
        if t.ndim > 2:
            if pool == "mean":
                t = t.reshape(t.shape[0], t.shape[1], -1).mean(2) if t.ndim == 4 else t.mean(1)
            elif pool == "last":
                t = t[:, -1, :]
            elif pool == "samples":
                t = (
                    t.reshape(t.shape[0], t.shape[1], -1).permute(0, 2, 1).reshape(-1, t.shape[1])
                    if t.ndim == 4
                    else t.reshape(-1, t.shape[-1])
                )
            else:
                t = t.reshape(t.shape[0], -1)
        out[n] = t.numpy()
    return out


def ref_matrix(acts_a, acts_b, names_a, names_b):
    return np.array([[ref_linear_cka(acts_a[a], acts_b[b]) for b in names_b] for a in names_a])


def u_centre(G):
    """Kornblith's center_gram(unbiased=True) of a float64 Gram matrix."""
    G = G.copy()
    n = G.shape[0]
    np.fill_diagonal(G, 0.0)
    means = G.sum(0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    G -= means[:, None]
    G -= means[None, :]
    np.fill_diagonal(G, 0.0)
    return G


def minibatch_cka_oracle(per_batch_a, per_batch_b):
    """sum_k HSIC_u(K_k, L_k) / sqrt(sum_k HSIC_u(K_k, K_k) sum_k HSIC_u(L_k, L_k)), numpy float64."""
    hxy = hxx = hyy = 0.0
    for X, Y in zip(per_batch_a, per_batch_b):
        m = X.shape[0]
        K, L = u_centre(X @ X.T), u_centre(Y @ Y.T)
        hxy += np.sum(K * L) / (m * (m - 3))
        hxx += np.sum(K * K) / (m * (m - 3))
        hyy += np.sum(L * L) / (m * (m - 3))
    return hxy / np.sqrt(hxx * hyy)
