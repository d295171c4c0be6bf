"""Arithmetic coding of quantized parameters with ``constriction`` and the message length (Lotfi et al., NeurIPS
2024, Section 5 "compression"; docs/papers/tokenbounds.md "Compression").

The symbols are range-coded (constriction's ``RangeEncoder``, a finite-precision arithmetic coder) under their own
empirical frequencies. The message is: the coded symbols + the fp16 codebook (16 L bits) + the frequency table
(L ceil(log2 N) bits). Every length we report comes from an encode whose decode reproduces the symbols.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CodedVector", "ideal_code_bits", "encode", "decode", "compress", "message_bits"]


@dataclass(frozen=True)
class CodedVector:
    """A range-coded symbol sequence: its compressed words, symbol counts and the coded payload in bits."""

    words: np.ndarray  # (w,) uint32
    counts: np.ndarray  # (L,) int64 frequency table
    payload_bits: int


def ideal_code_bits(counts: np.ndarray) -> int:
    """ceil(N H(p)) + 1 bits, the arithmetic-coding length the authors charge for large N (H in bits)."""
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.sum()
    p = counts[counts > 0] / n
    return int(math.ceil(n * float(-(p * np.log2(p)).sum()) - 1e-9)) + 1


def _model(counts: np.ndarray):
    """The categorical entropy model over the symbols that occur."""
    import constriction

    used = counts[counts > 0].astype(np.float64)
    return constriction.stream.model.Categorical(used / used.sum(), perfect=False)


def encode(symbols: np.ndarray, levels: int) -> CodedVector:
    """Range-code ``symbols`` (values in [0, levels)) under their empirical frequencies.

    With a single symbol value the frequency table determines the message and the payload is empty.
    """
    import constriction

    symbols = np.asarray(symbols, dtype=np.int64)
    if symbols.size and (symbols.min() < 0 or symbols.max() >= levels):
        raise ValueError(f"symbols must lie in [0, {levels})")
    counts = np.bincount(symbols, minlength=levels).astype(np.int64)
    if np.count_nonzero(counts) <= 1:
        return CodedVector(np.zeros(0, dtype=np.uint32), counts, 0)
    compact = (np.cumsum(counts > 0) - 1)[symbols].astype(np.int32)  # index among the used symbols
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(compact, _model(counts))
    words = encoder.get_compressed()
    return CodedVector(words, counts, int(encoder.num_bits()))


def decode(coded: CodedVector) -> np.ndarray:
    """The symbols back from their words and frequency table."""
    import constriction

    counts = coded.counts
    n = int(counts.sum())
    used = np.flatnonzero(counts > 0)
    if len(used) <= 1:
        return np.full(n, used[0] if len(used) else 0, dtype=np.int64)
    decoder = constriction.stream.queue.RangeDecoder(coded.words)
    return used[np.asarray(decoder.decode(_model(counts), n))].astype(np.int64)


def message_bits(coded: CodedVector) -> int:
    """Coded symbols + fp16 codebook (16 L) + frequency table (L ceil(log2 N)) in bits (Section 5)."""
    levels = len(coded.counts)
    n = int(coded.counts.sum())
    return coded.payload_bits + 16 * levels + levels * math.ceil(math.log2(max(n, 2)))


def compress(symbols: np.ndarray, levels: int) -> tuple[CodedVector, int]:
    """Encode, check the decode round trip, and return the code with its message length in bits."""
    coded = encode(symbols, levels)
    if not np.array_equal(decode(coded), np.asarray(symbols, dtype=np.int64)):
        raise RuntimeError("arithmetic-coding round trip failed")
    return coded, message_bits(coded)
