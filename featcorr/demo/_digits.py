"""The demo's data and nets: scikit-learn's bundled digits, a small ReLU MLP, time-boxed training."""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator

import torch
from torch import nn

__all__ = ["LAYER_SIZES", "accuracy", "digits_split", "make_mlp", "one_cpu_thread", "train"]

#: Widths of the demo MLP: 64 pixels -> 128 -> 128 -> 64 -> 10 classes.
LAYER_SIZES = (64, 128, 128, 64, 10)


def digits_split(*, test_fraction: float = 0.25, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """8x8 digits (1797 images, bundled with scikit-learn, no download) scaled to [0, 1], split at random.

    Returns ``(X_train, y_train, X_test, y_test)``; X float32 of shape (n, 64), y int64 of shape (n,).
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = torch.tensor(digits.data / 16.0, dtype=torch.float32)  # (1797, 64)
    y = torch.tensor(digits.target, dtype=torch.int64)  # (1797,)
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    n_test = round(test_fraction * len(X))
    test, tr = perm[:n_test], perm[n_test:]
    return X[tr], y[tr], X[test], y[test]


def make_mlp(seed: int) -> nn.Sequential:
    """The 64-128-128-64-10 ReLU MLP, initialised from ``seed``; layers named fc1, relu1, ..., out."""
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        sizes = LAYER_SIZES
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i in range(len(sizes) - 2):
            layers[f"fc{i + 1}"] = nn.Linear(sizes[i], sizes[i + 1])
            layers[f"relu{i + 1}"] = nn.ReLU()
        layers["out"] = nn.Linear(sizes[-2], sizes[-1])
        return nn.Sequential(layers)
    finally:
        torch.random.set_rng_state(gen_state)  # leave the caller's global RNG as it was


def train(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    seconds: float,
    max_epochs: int,
    seed: int,
    batch_size: int = 64,
    lr: float = 2e-3,
    on_epoch: Callable[[int, float], None] | None = None,
) -> int:
    """Adam on cross-entropy, shuffled minibatches, until ``max_epochs`` or ``seconds`` (at least one epoch).

    Returns the number of epochs run; ``on_epoch(epoch, loss)`` is called after each. Runs on one
    CPU thread (restored after): with 64x128 matrices, hand-offs between threads cost more than they
    save, 3-30x on a busy 2-core machine.
    """
    with one_cpu_thread():
        return _train(
            model,
            X,
            y,
            seconds=seconds,
            max_epochs=max_epochs,
            seed=seed,
            batch_size=batch_size,
            lr=lr,
            on_epoch=on_epoch,
        )


@contextlib.contextmanager
def one_cpu_thread() -> Iterator[None]:
    """Run torch on one intra-op CPU thread inside the block, restoring the caller's setting after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _train(model, X, y, *, seconds, max_epochs, seed, batch_size, lr, on_epoch) -> int:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    epoch = 0
    while epoch < max_epochs:
        order = torch.randperm(len(X), generator=gen)
        total = 0.0
        for lo in range(0, len(X), batch_size):
            idx = order[lo : lo + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        epoch += 1
        if on_epoch is not None:
            on_epoch(epoch, total / len(X))
        if time.perf_counter() - start >= seconds:
            break
    model.eval()
    return epoch


@torch.no_grad()
def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``X`` classified as ``y`` (model in eval mode)."""
    return float((model(X).argmax(dim=1) == y).to(torch.float64).mean())
