"""Uniform subsampling of training tokens with their in-document contexts (Lotfi et al., NeurIPS 2024, Section 4
"subsampling"; docs/papers/tokenbounds.md "Sampler").

The training set is one stream [EOT, doc_1, EOT, doc_2, EOT, ...]. Every token after the first EOT is a data point,
including each closing EOT. A sampled token's context is the stream from its document's opening EOT (the BOS of
the document) up to the token, cut to the last ``block - 1`` tokens, so no context crosses a document boundary and
a token that opens a document still has a context (its EOT).
"""

from __future__ import annotations

import numpy as np

__all__ = ["document_starts", "sample_positions", "contexts"]


def document_starts(stream: np.ndarray, eot_id: int) -> np.ndarray:
    """For every position i: the index of the last EOT strictly before i (-1 when none). stream: (n,) int."""
    stream = np.asarray(stream)
    eot = np.flatnonzero(stream == eot_id)  # (n_eot,)
    idx = np.searchsorted(eot, np.arange(len(stream)), side="left") - 1  # last EOT index < i
    return np.where(idx >= 0, eot[np.maximum(idx, 0)], -1)


def sample_positions(stream: np.ndarray, eot_id: int, n_sample: int, seed: int) -> np.ndarray:
    """n_sample positions drawn uniformly (with replacement) among the data points: tokens after the first EOT."""
    stream = np.asarray(stream)
    first = int(np.flatnonzero(stream == eot_id)[0]) if np.any(stream == eot_id) else -1
    if first < 0 or first >= len(stream) - 1:
        raise ValueError("the stream must start a document with an EOT token and hold at least one token after it")
    rng = np.random.default_rng(seed)
    return np.sort(rng.integers(first + 1, len(stream), size=n_sample))


def contexts(stream: np.ndarray, positions: np.ndarray, eot_id: int, block: int) -> list[np.ndarray]:
    """The in-document context of each position: stream[max(start, i - block + 1) : i], start = its opening EOT."""
    stream = np.asarray(stream)
    starts = document_starts(stream, eot_id)
    out = []
    for i in np.asarray(positions):
        lo = max(int(starts[i]), int(i) - block + 1)
        if starts[i] < 0:
            raise ValueError(f"position {i} lies before the first EOT")
        out.append(stream[lo:i])
    return out
