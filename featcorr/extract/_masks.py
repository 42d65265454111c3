"""Token masks: pool (n, t, d) activations over real tokens only (padding left out)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from .._validation import POOL_OPTIONS, check_option, reshape_activation
from ..errors import FeatcorrError, ShapeError, UnknownOptionError
from ._batches import to_device

__all__ = ["check_mask_selector", "batch_token_mask", "pool_masked"]

#: Pools that a token mask changes (``"flatten"`` keeps every position, so a mask has no meaning there).
MASKED_POOLS = ("mean", "last", "samples")


def check_mask_selector(mask: Any, pool: str, *, caller: str) -> None:
    """Raise unless ``mask`` is None, a str or a callable, and ``pool`` is one a mask applies to."""
    if mask is None:
        return
    if isinstance(mask, bool) or not (isinstance(mask, str) or callable(mask)):
        raise FeatcorrError(
            f"{caller}: mask={mask!r} ({type(mask).__name__}) is not a token-mask selector; use the key of dict "
            "batches (e.g. mask='attention_mask' with a tokenizer's output) or a callable(batch) -> (n, t) tensor."
        )
    check_option(pool, POOL_OPTIONS, name="pool", caller=caller)
    if pool not in MASKED_POOLS:
        raise UnknownOptionError(
            f"{caller}: mask= was given with pool={pool!r}, but a token mask only applies to pool='mean' (mean "
            "over real tokens), 'last' (last real token) or 'samples' (real tokens as samples); pass one of these."
        )


def batch_token_mask(
    batch: Any, mask: str | Callable[[Any], Any], n: int, device: torch.device, *, caller: str
) -> torch.Tensor:
    """The (n, t) boolean mask of one batch (True = real token), on ``device``.

    Parameters
    ----------
    batch : object
        The batch as the data yielded it.
    mask : str or callable
        A key of dict batches, or ``mask(batch)`` returning an (n, t) tensor
        or array (nonzero = real token).
    n : int
        Number of samples of the batch (the model input's first axis).
    device : torch.device
        Where the mask is moved.
    caller : str
        Function named in messages.

    Returns
    -------
    torch.Tensor of shape (n, t), bool
        True where the token is real; every row has at least one.
    """
    if callable(mask):
        try:
            m = mask(batch)
        except Exception as exc:
            raise FeatcorrError(
                f"{caller}: mask= raised {type(exc).__name__}: {exc} on a batch of type {type(batch).__name__}; it "
                "must map one batch to an (n, t) tensor (nonzero = real token)."
            ) from exc
        what = "mask(batch)"
    else:
        if not isinstance(batch, Mapping):
            raise FeatcorrError(
                f"{caller}: mask={mask!r} names a key of dict batches, but the data yielded a "
                f"{type(batch).__name__}; yield dicts (e.g. a tokenizer's output) or pass mask=callable(batch)."
            )
        if mask not in batch:
            raise FeatcorrError(
                f"{caller}: mask={mask!r} is not a key of the batch (keys: {list(batch.keys())}); pass the key of "
                "the attention mask, e.g. mask='attention_mask'."
            )
        m = batch[mask]
        what = f"batch[{mask!r}]"
    m = to_device(m, device)
    if not isinstance(m, torch.Tensor):
        raise FeatcorrError(f"{caller}: {what} is a {type(m).__name__}, not a tensor or array of shape (n, t).")
    if m.ndim != 2 or m.shape[0] != n:
        raise ShapeError(
            f"{caller}: {what} has shape {tuple(m.shape)}, but a token mask must have shape (n, t) with n={n} "
            "samples (the batch size); pass the (n, t) attention mask of the batch."
        )
    m = m != 0
    empty = (~m.any(dim=1)).nonzero().flatten().tolist()
    if empty:
        raise FeatcorrError(
            f"{caller}: {what} marks no real token in row(s) {empty[:10]} of the batch; every sample needs at "
            "least one unmasked token (1 = real token, 0 = padding)."
        )
    return m


def pool_masked(t: torch.Tensor, mask: torch.Tensor | None, pool: str, *, name: str, caller: str) -> torch.Tensor:
    """2-D view of one activation, pooling (n, t, d) token activations over real tokens only.

    Without a mask, or for activations that are not 3-D, this is
    :func:`featcorr._validation.reshape_activation`. With an (n, t) mask:
    ``"mean"`` averages each sample's real tokens (in float64), ``"last"``
    takes each sample's last real token (right or left padding), and
    ``"samples"`` keeps the real tokens only, as rows.

    Parameters
    ----------
    t : torch.Tensor of shape (n, ...)
        Activation with the samples first.
    mask : torch.Tensor of shape (n, t), bool, or None
        From :func:`batch_token_mask`.
    pool : {"flatten", "mean", "last", "samples"}
        How the activation becomes 2-D.
    name, caller : str
        How messages name the activation and the calling function.

    Returns
    -------
    torch.Tensor of shape (n, d), or (number of real tokens, d) for ``"samples"``
        The pooled activation (float64 for ``"mean"``).
    """
    if mask is None or t.ndim != 3:
        if pool == "mean" and t.ndim > 2:
            t = t.to(torch.float64)  # float32 means lose ~1e-7
        return reshape_activation(t, pool=pool, name=name, caller=caller)
    if tuple(t.shape[:2]) != tuple(mask.shape):
        raise ShapeError(
            f"{caller}: {name} has shape {tuple(t.shape)}, but the token mask has shape {tuple(mask.shape)}; with "
            "mask= every 3-D activation must be (n, t, d) over the same t tokens. Leave other layers out with "
            "layers=, or pass output= to pick the (n, t, d) tensor."
        )
    if pool == "mean":
        w = mask.to(torch.float64)
        return torch.einsum("ntd,nt->nd", t.to(torch.float64), w) / w.sum(dim=1, keepdim=True)
    if pool == "last":
        pos = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = torch.where(mask, pos, -1).amax(dim=1)
        return t[torch.arange(t.shape[0], device=t.device), last.to(t.device)]
    if pool == "samples":
        return t[mask.to(t.device)]
    raise UnknownOptionError(
        f"{caller}: pool={pool!r} does not use a token mask; use pool='mean', 'last' or 'samples' with mask=."
    )
