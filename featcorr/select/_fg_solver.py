"""Feature Gradients' data pass and optimisation loop (Sheth & Fusi), on chunks of rows.

Data come as a re-iterable of (X_chunk, y_chunk) tensor pairs, so the same
code serves arrays in memory (chunks are views) and DataLoaders too large for
memory. Pass 1 accumulates column means/variances (merged in float64) and
the D x D co-moments (float32 ``syrk`` per chunk, float64 sum; or the n x n Gram
when the data are in memory and n < D) to z-score X and divide it by the top
singular value of Z / sqrt(N); then every epoch re-batches the chunks into minibatches of
``batch_size`` rows (the last partial batch is dropped, as NNI does) and takes
one clipped Adam step per batch on the relaxed objective.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConstantFeatureError, FeatcorrError, NotEnoughSamplesError, ShapeError
from ._gram import add_gram, full_from_upper
from ._learnability import SLE_COEFFICIENTS, BatchWorkspace

__all__ = ["FGData", "fit_feature_gradients", "data_statistics", "iter_batches"]

_MAX_DENSE_D = 4096


@dataclass
class FGData:
    """Preprocessing statistics of a data stream (float64)."""

    n: int
    mean: torch.Tensor  # (D,)
    scale: torch.Tensor  # (D,) divide centred columns by this (std * sv1, or sv1)
    y_mean: float
    y_std: float
    classes: np.ndarray | None


def data_statistics(
    chunks: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]],
    *,
    preprocess: str,
    classification: bool,
    device: torch.device,
    rows: torch.Tensor | None = None,
) -> FGData:
    """One pass: n, means, stds, top singular value of the standardised data / sqrt(n), y statistics.

    Means and variances are float32 (or the chunk's dtype) column sums of each
    chunk, centred by the chunk's own mean and merged across chunks in float64
    (Chan et al.). The top singular value sv1 of Z / sqrt(n), Z the centred
    (z-scored) data, is the square root of the largest eigenvalue of the
    smaller Gram matrix: Z^T Z / n (D x D, accumulated in the same pass from
    float32 ``syrk`` products of the centred chunks, n D^2 / 2 multiply-adds)
    when D <= n, or Z Z^T / n (n x n, from ``rows``, the whole data in memory,
    n^2 D / 2) when n < D; a stream with D > 4096 uses block Lanczos over
    passes (:func:`_krylov_sv1`). NNI computes the same sv1 with scipy's ``svds``.
    """
    n = 0
    mean = None
    m2 = None
    cov = None
    y_sum = 0.0
    y_sq = 0.0
    classes: set = set()
    use_rows = rows is not None and rows.shape[0] < rows.shape[1]
    buf = None
    for xb, yb in chunks():
        xb = xb.to(device=device)
        if not xb.is_floating_point():
            xb = xb.to(torch.float64)
        yb = yb.to(device=device, dtype=torch.float64).reshape(-1)
        nb = xb.shape[0]
        if nb == 0:
            continue
        if mean is None:
            D = xb.shape[1]
            mean = torch.zeros(D, dtype=torch.float64, device=device)
            m2 = torch.zeros(D, dtype=torch.float64, device=device)
            if D <= _MAX_DENSE_D and not use_rows:
                cov = torch.zeros(D, D, dtype=torch.float64, device=device)
        elif xb.shape[1] != mean.shape[0]:
            raise ShapeError(
                f"FeatureGradients: a chunk has {xb.shape[1]} features but earlier chunks had {mean.shape[0]}."
            )
        # column sums in the chunk's dtype (torch's cascade summation: ~1e-7 relative in float32); a
        # float64 reduction of float32 data is ~20x slower on CPU
        mb = xb.sum(0).to(torch.float64) / nb
        if buf is None or buf.shape != xb.shape or buf.dtype != xb.dtype:
            buf = torch.empty_like(xb)
            sq = torch.empty_like(xb)
        cb = torch.sub(xb, mb.to(xb.dtype), out=buf)  # centred chunk, preallocated (no page faults per chunk)
        ssq = torch.mul(cb, cb, out=sq).sum(0).to(torch.float64)
        ssq -= cb.sum(0).to(torch.float64) ** 2 / nb  # cb's own mean is not exactly 0 after rounding mb
        tot = n + nb
        delta = mb - mean
        if cov is not None:
            add_gram(cov, cb)  # float32 syrk of the centred chunk: ~7 digits; float64 sum across chunks
            cov += torch.outer(delta, delta) * (n * nb / tot)
        m2 += ssq + delta * delta * (n * nb / tot)
        mean += delta * (nb / tot)
        n = tot
        if classification:
            classes.update(np.unique(yb.cpu().numpy()).tolist())
        else:
            y_sum += float(yb.sum())
            y_sq += float((yb * yb).sum())
    del buf
    if mean is None or n < 2:
        raise NotEnoughSamplesError(f"FeatureGradients: the data hold {n} sample(s); at least 2 are required.")
    std = (m2.clamp_min(0.0) / (n - 1)).sqrt()
    if preprocess == "zscore":
        std = torch.where(std > 0, std, torch.ones_like(std))
    else:
        std = torch.ones_like(std)
    # top singular value of Z / sqrt(n), Z the centred (and z-scored) data
    if cov is not None:
        c = full_from_upper(cov) / torch.outer(std, std) / n
        sv1 = _top_eigenvalue(c) ** 0.5
    elif use_rows:
        sv1 = _rows_sv1(rows, mean, std) ** 0.5
    else:
        sv1 = _krylov_sv1(chunks, mean, std, n, device)
    if not sv1 > 0:
        raise ConstantFeatureError("FeatureGradients: every feature is constant; nothing can be selected.")
    if classification:
        cl = np.array(sorted(classes))
        return FGData(n, mean, std * sv1, 0.0, 1.0, cl)
    y_mean = y_sum / n
    y_var = (y_sq - n * y_mean * y_mean) / (n - 1)
    if not y_var > 0:
        raise ConstantFeatureError("FeatureGradients: the target y is constant; nothing can be learned from it.")
    return FGData(n, mean, std * sv1, y_mean, float(np.sqrt(y_var)), None)


def _rows_sv1(rows: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, block: int = 4096) -> float:
    """Largest eigenvalue of Z Z^T / n (n x n), Z = (rows - mean) / std, from float32 column blocks."""
    n, D = rows.shape
    gram = torch.zeros(n, n, dtype=torch.float64, device=rows.device)
    m32 = mean.to(device=rows.device, dtype=torch.float32)
    s32 = std.to(device=rows.device, dtype=torch.float32)
    for j in range(0, D, block):
        z = (rows[:, j : j + block].to(torch.float32) - m32[j : j + block]) / s32[j : j + block]
        add_gram(gram, z.T)  # (block, n): adds z z^T
    return _top_eigenvalue(full_from_upper(gram) / n)


def _top_eigenvalue(c: torch.Tensor) -> float:
    """Largest eigenvalue of a symmetric PSD matrix: Lanczos (ARPACK) for large, LAPACK for small ones."""
    if c.shape[0] <= 64:
        return float(torch.linalg.eigvalsh(c)[-1].clamp_min(0.0))
    from scipy.sparse.linalg import eigsh

    a = c.cpu().numpy()
    return max(0.0, float(eigsh(a, k=1, which="LA", tol=1e-10, return_eigenvectors=False,
                                v0=np.ones(a.shape[0]))[0]))


def _krylov_sv1(chunks, mean, std, n, device, *, block: int = 16, max_passes: int = 60,
                tol: float = 1e-7) -> float:
    """Top singular value of the standardised data / sqrt(n) by block Lanczos over passes (no D x D matrix).

    Each pass multiplies a block of ``block`` vectors by Z^T Z / n, Z the
    standardised chunk (float32 products, float64 basis with full
    re-orthogonalisation); the Rayleigh-Ritz value of the whole Krylov space
    is the estimate. Stops when the top Ritz value theta moves by at most
    ``tol`` theta in a pass and its residual bound ||r||^2 / (theta_1 - theta_2)
    is at most ``tol`` theta too. Flat spectra (i.i.d. features, a
    Marchenko-Pastur edge) need ~20 passes of 16 vectors for 1e-7 at D = 1000.
    """
    D = mean.shape[0]
    g = torch.Generator(device="cpu").manual_seed(0)
    Q = torch.linalg.qr(torch.randn(D, block, generator=g, dtype=torch.float64))[0].to(device)
    m32 = mean.to(torch.float32)
    s32 = std.to(torch.float32)
    basis: list[torch.Tensor] = []
    images: list[torch.Tensor] = []
    prev = 0.0
    theta = 0.0
    for _ in range(max_passes):
        q32 = Q.to(torch.float32)
        W = torch.zeros(D, Q.shape[1], dtype=torch.float64, device=device)
        for xb, _yb in chunks():
            z = (xb.to(device=device, dtype=torch.float32) - m32) / s32
            W += (z.T @ (z @ q32)).to(torch.float64)
        W /= n
        basis.append(Q)
        images.append(W)
        B = torch.cat(basis, 1)
        AB = torch.cat(images, 1)
        H = B.T @ AB
        evals, evecs = torch.linalg.eigh((H + H.T) / 2)
        theta = float(evals[-1])
        if theta <= 0:
            return 0.0
        r = AB @ evecs[:, -1] - theta * (B @ evecs[:, -1])
        gap = theta - float(evals[-2]) if evals.numel() > 1 else theta
        if theta - prev <= tol * theta and float(r @ r) <= tol * theta * max(gap, 1e-300):
            break
        prev = theta
        if B.shape[1] + block > D:
            break
        W = W - B @ (B.T @ W)
        W = W - B @ (B.T @ W)
        Q = torch.linalg.qr(W)[0]
    return float(np.sqrt(theta))


def iter_batches(
    chunks: Iterable[tuple[torch.Tensor, torch.Tensor]], batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Re-cut a stream of chunks into batches of exactly ``batch_size`` rows; drop the remainder."""
    bx: list[torch.Tensor] = []
    by: list[torch.Tensor] = []
    have = 0
    for xb, yb in chunks:
        yb = yb.reshape(-1)
        start = 0
        while start < xb.shape[0]:
            take = min(batch_size - have, xb.shape[0] - start)
            bx.append(xb[start : start + take])
            by.append(yb[start : start + take])
            have += take
            start += take
            if have == batch_size:
                yield (bx[0], by[0]) if len(bx) == 1 else (torch.cat(bx), torch.cat(by))
                bx, by, have = [], [], 0


def fit_feature_gradients(
    epoch_chunks: Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]],
    stats: FGData,
    *,
    n_features_in: int,
    order: int,
    penalty: float,
    batch_size: int,
    n_epochs: int,
    learning_rate: float,
    device: torch.device,
    dtype: torch.dtype,
    accum_steps: int = 1,
) -> tuple[torch.Tensor, int]:
    """Optimise the relaxed subset x (D,) and return (x, number of Adam steps taken).

    As NNI: n_epochs * (n // batch_size) minibatch gradients, averaged over ``accum_steps`` consecutive
    minibatches per Adam step (NNI's ``target_batch_size``); the last step completes its accumulation
    with the first minibatches of a further epoch.

    Minibatches of at most 4M entries run single-threaded on CPU (these memory-bound steps lose more to
    thread barriers than they gain); the caller's thread setting is restored afterwards.
    """
    threads = torch.get_num_threads()
    if device.type == "cpu" and batch_size * n_features_in <= 4_000_000:
        torch.set_num_threads(1)
    try:
        return _fit(epoch_chunks, stats, n_features_in=n_features_in, order=order, penalty=penalty,
                    batch_size=batch_size, n_epochs=n_epochs, learning_rate=learning_rate, device=device,
                    dtype=dtype, accum_steps=accum_steps)
    finally:
        torch.set_num_threads(threads)


def _fit(epoch_chunks, stats, *, n_features_in, order, penalty, batch_size, n_epochs, learning_rate, device,
         dtype, accum_steps):
    D = n_features_in
    x = torch.zeros(D, dtype=dtype, device=device)
    adam_m = torch.zeros_like(x)
    adam_v = torch.zeros_like(x)
    w = penalty / (penalty + 1.0)
    mean = stats.mean.to(device=device, dtype=dtype)
    scale = stats.scale.to(device=device, dtype=dtype)
    classes = None if stats.classes is None else torch.as_tensor(stats.classes, dtype=dtype, device=device)
    ws = BatchWorkspace(batch_size, D, order, SLE_COEFFICIENTS[order], dtype=dtype, device=device)
    xbuf = ws.batch  # batches are standardised straight into the workspace's buffer
    steps = 0
    n_adam = -(-n_epochs * (stats.n // batch_size) // accum_steps)
    gacc = torch.zeros_like(x)
    counted = 0
    epoch = 0
    while steps < n_adam:
        counted_before = counted
        for xb, yb in iter_batches(epoch_chunks(epoch), batch_size):
            if steps >= n_adam:
                break
            torch.sub(xb.to(device=device, dtype=dtype), mean, out=xbuf)
            xbuf.div_(scale)
            yb = yb.to(device=device, dtype=dtype)
            targets: list[tuple[torch.Tensor, float]] = []
            if classes is None:
                if torch.unique(yb).numel() < 2:
                    continue
                targets.append(((yb - stats.y_mean) / stats.y_std, 1.0))
            elif classes.numel() == 2:
                if torch.unique(yb).numel() < 2:
                    continue
                targets.append((torch.where(yb == classes[1], 1.0, -1.0).to(dtype), 1.0))
            else:
                present = torch.unique(yb)
                for c in classes:
                    yc = torch.where(yb == c, 1.0, -1.0).to(dtype)
                    if torch.unique(yc).numel() < 2:
                        continue
                    targets.append((yc, 1.0 / present.numel()))
                if not targets:
                    continue
            with torch.no_grad():
                s = torch.sigmoid(2.0 * x)
                ws.set_batch(xbuf, s)
                grad_s = torch.zeros_like(s)
                for yt, weight in targets:
                    z, dz = ws.value_and_grad(yt)
                    grad_s += weight * ((1.0 - w) * _dloss_dz(z, classes is None) * dz + w / D)
                g = grad_s * 2.0 * s * (1.0 - s)
                if not bool(torch.isfinite(g).all()):
                    raise FeatcorrError(
                        "FeatureGradients: the gradient became NaN/inf; use dtype='float64' or a smaller batch_size."
                    )
                gacc += g / accum_steps
                counted += 1
                if counted % accum_steps:
                    continue
                # clip the gradient norm to 1 (as torch.nn.utils.clip_grad_norm_), then one Adam step
                # (torch.optim.Adam defaults: betas 0.9, 0.999, eps 1e-8), written out to stay light
                g = gacc * min(1.0, 1.0 / (float(gacc.norm()) + 1e-6))
                gacc = torch.zeros_like(x)
                steps += 1
                adam_m.mul_(0.9).add_(g, alpha=0.1)
                adam_v.mul_(0.999).addcmul_(g, g, value=0.001)
                step_size = learning_rate / (1.0 - 0.9**steps)
                denom = (adam_v / (1.0 - 0.999**steps)).sqrt_().add_(1e-8)
                x.addcdiv_(adam_m, denom, value=-step_size)
        epoch += 1
        if counted == counted_before:
            raise FeatcorrError(
                "FeatureGradients: no minibatch of an epoch had two distinct target values; nothing to learn "
                "(is y constant, or sorted by class? shuffle the data)."
            )
    return x, steps


def _dloss_dz(z: torch.Tensor, regression: bool) -> torch.Tensor:
    """d loss / d z: -1 for 1 - z; for 0.5 (1 - sqrt(clip(z, 0, 1))) NNI's surrogate +-1e-2 outside [0, 1]."""
    if regression:
        return -torch.ones_like(z)
    if z < 0:
        return torch.full_like(z, 1e-2)
    if z > 1:
        return torch.full_like(z, -1e-2)
    return -0.25 / (z.sqrt() + 1e-8)
