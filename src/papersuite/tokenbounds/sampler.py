"""Uniform subsampling of training tokens with their in-document contexts (Lotfi et al., NeurIPS 2024, Section 4
"subsampling"; docs/papers/tokenbounds.md "Sampler").

The training set is one stream [EOT, doc_1, EOT, doc_2, EOT, ...]. Every token after the first EOT is a data point,
including each closing EOT. A sampled token's context is the stream from its document's opening EOT (the BOS of
the document) up to the token, cut to the last ``block - 1`` tokens, so no context crosses a document boundary and
a token that opens a document still has a context (its EOT).
"""

from __future__ import annotations

import numpy as np

__all__ = ["eot_positions", "document_starts", "sample_positions", "contexts"]

CHUNK = 1 << 26  # tokens compared at a time: a full-scale stream (about 9e9 tokens) is a memory map, never loaded


def eot_positions(stream: np.ndarray, eot_id: int) -> np.ndarray:
    """Sorted indices of every EOT of the stream (n_eot,) int64, read in chunks."""
    found = [lo + np.flatnonzero(np.asarray(stream[lo : lo + CHUNK]) == eot_id) for lo in range(0, len(stream), CHUNK)]
    return np.concatenate(found).astype(np.int64) if found else np.zeros(0, dtype=np.int64)


def document_starts(stream: np.ndarray, eot_id: int) -> np.ndarray:
    """For every position i: the index of the last EOT strictly before i (-1 when none). stream: (n,) int."""
    stream = np.asarray(stream)
    eot = np.flatnonzero(stream == eot_id)  # (n_eot,)
    idx = np.searchsorted(eot, np.arange(len(stream)), side="left") - 1  # last EOT index < i
    return np.where(idx >= 0, eot[np.maximum(idx, 0)], -1)


def sample_positions(stream: np.ndarray, eot_id: int, n_sample: int, seed: int) -> np.ndarray:
    """n_sample positions drawn uniformly (with replacement) among the data points: tokens after the first EOT."""
    eots = eot_positions(stream, eot_id)
    first = int(eots[0]) if len(eots) else -1
    if first < 0 or first >= len(stream) - 1:
        raise ValueError("the stream must start a document with an EOT token and hold at least one token after it")
    rng = np.random.default_rng(seed)
    return np.sort(rng.integers(first + 1, len(stream), size=n_sample))


def contexts(stream: np.ndarray, positions: np.ndarray, eot_id: int, block: int) -> list[np.ndarray]:
    """The in-document context of each position: stream[max(start, i - block + 1) : i], start = its opening EOT."""
    positions = np.asarray(positions, dtype=np.int64)
    eots = eot_positions(stream, eot_id)
    k = np.searchsorted(eots, positions, side="left") - 1  # the last EOT strictly before each position
    if np.any(k < 0):
        raise ValueError(f"position {int(positions[np.argmax(k < 0)])} lies before the first EOT")
    starts = eots[k]
    return [np.asarray(stream[max(int(a), int(i) - block + 1) : int(i)]) for a, i in zip(starts, positions)]
