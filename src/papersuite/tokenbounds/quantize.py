"""Quantization of the trainable parameter vector (Lotfi et al., NeurIPS 2024, Section 5 "compression"; the authors'
``quantize_fns``; docs/papers/tokenbounds.md "Compression").

Codebook: L levels (odd), initialised from L uniform bins over [-max|v|, max|v|] with each centroid the mean of its
bin, refined by Lloyd (k-means) iterations and stored in fp16. Symbols are nearest-centroid indices. The codebook and
the parameters can be learned together with a straight-through gradient (quantization-aware finetuning).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["uniform_codebook", "lloyd_codebook", "assign", "dequantize", "ste_quantize", "finetune_quantized"]


def _fp16(x: np.ndarray) -> np.ndarray:
    """Round to fp16, the codebook's storage precision (16 bits per level in the message length)."""
    return np.asarray(x, dtype=np.float16).astype(np.float64)


def uniform_codebook(v: np.ndarray, levels: int) -> np.ndarray:
    """(L,) fp16 centroids: means of L uniform bins over [-max|v|, max|v|] (bin midpoint when a bin is empty).

    When v holds at most L distinct values they are the codebook (the k-means optimum, zero error).
    """
    v = np.asarray(v, dtype=np.float64).ravel()  # (n,)
    if levels < 1 or levels % 2 == 0:
        raise ValueError(f"levels must be odd and >= 1, got {levels}")
    distinct = np.unique(v)
    if len(distinct) <= levels:
        return _fp16(np.pad(distinct, (0, levels - len(distinct)), mode="edge"))
    top = float(np.abs(v).max())
    edges = np.linspace(-top, top, levels + 1)  # (L + 1,)
    bins = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, levels - 1)  # (n,)
    sums = np.bincount(bins, weights=v, minlength=levels)
    counts = np.bincount(bins, minlength=levels)
    mids = 0.5 * (edges[:-1] + edges[1:])
    return _fp16(np.where(counts > 0, sums / np.maximum(counts, 1), mids))


def assign(v: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """(n,) int32 index of the nearest centroid of each entry (ties to the lower index)."""
    v = np.asarray(v, dtype=np.float64).ravel()
    order = np.argsort(codebook, kind="stable")
    sorted_cb = np.asarray(codebook, dtype=np.float64)[order]  # (L,)
    if len(sorted_cb) == 1:
        return np.zeros(len(v), dtype=np.int32)
    hi = np.clip(np.searchsorted(sorted_cb, v), 1, len(sorted_cb) - 1)  # (n,) first centroid >= v
    lo = hi - 1
    pick = np.where(np.abs(v - sorted_cb[lo]) <= np.abs(sorted_cb[hi] - v), lo, hi)
    return order[pick].astype(np.int32)


def dequantize(symbols: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """The decoded vector codebook[symbols]."""
    return np.asarray(codebook, dtype=np.float64)[np.asarray(symbols)]


def lloyd_codebook(v: np.ndarray, levels: int, iters: int = 10) -> np.ndarray:
    """Uniform-bin init refined by ``iters`` Lloyd (k-means) steps; each step never raises the squared error."""
    v = np.asarray(v, dtype=np.float64).ravel()
    cb = uniform_codebook(v, levels)
    if len(np.unique(v)) <= levels:
        return cb
    for _ in range(iters):
        sym = assign(v, cb)
        sums = np.bincount(sym, weights=v, minlength=levels)
        counts = np.bincount(sym, minlength=levels)
        new = _fp16(np.where(counts > 0, sums / np.maximum(counts, 1), cb))
        if np.mean((v - new[assign(v, new)]) ** 2) > np.mean((v - cb[sym]) ** 2):
            break  # fp16 rounding can make a step worse: keep the better codebook
        cb = new
    return cb


def ste_quantize(v, codebook):
    """Nearest-centroid quantization of a torch vector with a straight-through gradient to v and the exact gradient
    to the selected centroids (quantization-aware training, Section 5)."""

    dist = (v.detach()[:, None] - codebook.detach()[None, :]).abs()  # (n, L)
    idx = dist.argmin(dim=1)  # (n,)
    q = codebook[idx]  # (n,) gradient flows to the codebook
    return q + (v - v.detach())  # forward value q; d/dv = identity (straight-through)


def finetune_quantized(
    v0: np.ndarray, codebook0: np.ndarray, loss_fn: Callable, steps: int, lr: float = 5e-5
) -> tuple[np.ndarray, np.ndarray]:
    """Adam on (v, codebook) through ``ste_quantize`` to minimise ``loss_fn(quantized vector)`` (a scalar tensor).

    Returns the finetuned vector and fp16 codebook; the authors' default lr is 5e-5.
    """
    import torch

    v = torch.tensor(np.asarray(v0, dtype=np.float32), requires_grad=True)
    cb = torch.tensor(np.asarray(codebook0, dtype=np.float32), requires_grad=True)
    opt = torch.optim.Adam([v, cb], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(ste_quantize(v, cb)).backward()
        opt.step()
    return v.detach().double().numpy(), _fp16(cb.detach().double().numpy())
