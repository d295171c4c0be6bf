"""Token-level generalization bounds (Lotfi et al., NeurIPS 2024, arXiv:2407.18158, Section 4 and Theorem 1;
docs/papers/tokenbounds.md "Method").

Each training token X_i with its in-document context X_<i is one data point. For a fixed hypothesis h the
differences E[l(h, i) | X_<i] - l(h, i) form a martingale-difference sequence with range Delta, so Azuma-Hoeffding
plus a union bound over a prefix-free compression prior P(h) = 2^-(C + 2 log2 C + b) gives, with probability
>= 1 - delta, for all h:

    (1/m) sum_i E[l(h, i) | X_<i]  <=  R_hat + Delta * sqrt((log 1/P(h) + log 1/delta) / (2m)).

The empirical risk is estimated from s uniformly subsampled tokens, which adds a Hoeffding term; delta is split
r = s/(s+m) : 1-r between the two terms (the authors' ``llm_subsampling_bound``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "ALPHA_GRID",
    "smoothed_log_loss",
    "smoothing_range",
    "prefix_free_bits",
    "hyperparameter_bits",
    "divergence_nats",
    "subsampling_bound",
    "full_sample_bound",
    "bpd_bound",
    "topk_error_bound",
    "document_level_bound",
]

# The prediction-smoothing grid of the authors' code (docs/papers/tokenbounds.md "alpha grid"); the best BPD bound
# over it is reported and log2(len(ALPHA_GRID)) = 3 bits are charged for the choice.
ALPHA_GRID: tuple[float, ...] = (1e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.25, 0.5)


def smoothed_log_loss(prob_true: np.ndarray, alpha: float, vocab_size: int) -> np.ndarray:
    """Smoothed log-loss in bits, -log2((1 - alpha) p_h(x_i | x_<i) + alpha / V) (Section 4, prediction smoothing)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    p = np.asarray(prob_true, dtype=np.float64)
    return -np.log2((1.0 - alpha) * p + alpha / vocab_size)


def smoothing_range(alpha: float, vocab_size: int) -> float:
    """Delta_alpha = log2(1 + (1 - alpha) V / alpha): max - min of the smoothed loss over p in [0, 1] (Section 4)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return math.log2(1.0 + (1.0 - alpha) * vocab_size / alpha)


def prefix_free_bits(compressed_bits: float) -> float:
    """Length of a prefix-free code for a C-bit message, C + 2 log2 C (Section 3, the compression prior)."""
    if compressed_bits < 0:
        raise ValueError(f"compressed size must be >= 0 bits, got {compressed_bits}")
    return compressed_bits + 2.0 * math.log2(compressed_bits) if compressed_bits > 1 else float(compressed_bits)


def hyperparameter_bits(n_configs: int) -> int:
    """Bits of the union bound over a hyperparameter sweep, ceil(log2 #configs) (Section 4)."""
    if n_configs < 1:
        raise ValueError(f"need at least one configuration, got {n_configs}")
    return math.ceil(math.log2(n_configs))


def divergence_nats(compressed_bits: float, extra_bits: float) -> float:
    """log 1/P(h) in nats for the prefix-free prior: (C + 2 log2 C + extra bits) ln 2 (Section 3)."""
    return (prefix_free_bits(compressed_bits) + extra_bits) * math.log(2.0)


def subsampling_bound(
    empirical: float, divergence: float, n_train: float, n_sample: float, loss_range: float, delta: float = 0.05
) -> float:
    """Bound from s subsampled losses (Section 4, "subsampling"): R_hat + Delta [sqrt((div - ln(r delta)) / 2m) +
    sqrt(-ln((1 - r) delta) / 2s)], with r = s / (s + m)."""
    if n_train <= 0 or n_sample <= 0 or not 0.0 < delta < 1.0 or divergence < 0:
        raise ValueError(f"need m, s > 0, 0 < delta < 1, divergence >= 0; got {n_train}, {n_sample}, {delta}")
    r = n_sample / (n_sample + n_train)
    complexity = math.sqrt((divergence - math.log(r * delta)) / (2.0 * n_train))
    sampling = math.sqrt(-math.log((1.0 - r) * delta) / (2.0 * n_sample))
    return empirical + loss_range * (complexity + sampling)


def full_sample_bound(empirical: float, divergence: float, n_train: float, loss_range: float, delta: float) -> float:
    """Bound when every loss is evaluated (no subsampling): R_hat + Delta sqrt((div + ln 1/delta) / 2m) (Theorem 1)."""
    if n_train <= 0 or not 0.0 < delta < 1.0 or divergence < 0:
        raise ValueError(f"need m > 0, 0 < delta < 1, divergence >= 0; got {n_train}, {delta}, {divergence}")
    return empirical + loss_range * math.sqrt((divergence + math.log(1.0 / delta)) / (2.0 * n_train))


def bpd_bound(
    prob_true: np.ndarray,
    compressed_bits: float,
    extra_bits: float,
    n_train: float,
    vocab_size: int,
    delta: float = 0.05,
    alphas: Sequence[float] = ALPHA_GRID,
) -> dict[str, float]:
    """Best bits-per-token bound over the alpha grid, charging log2 |grid| bits for the choice (Section 4).

    prob_true: (s,) the model's probability of each sampled token in its context. Returns the bound, its alpha,
    the smoothed empirical BPD, Delta_alpha and the unsmoothed empirical BPD.
    """
    p = np.asarray(prob_true, dtype=np.float64)  # (s,)
    alpha_bits = math.log2(len(alphas)) if len(alphas) > 1 else 0.0
    div = divergence_nats(compressed_bits, extra_bits + alpha_bits)
    best: dict[str, float] | None = None
    for alpha in alphas:
        rng = smoothing_range(alpha, vocab_size)
        emp = float(smoothed_log_loss(p, alpha, vocab_size).mean())
        value = subsampling_bound(emp, div, n_train, len(p), rng, delta)
        if best is None or value < best["bound"]:
            best = {"bound": value, "alpha": alpha, "empirical": emp, "loss_range": rng}
    assert best is not None
    best["empirical_raw"] = float(-np.log2(np.maximum(p, 1e-300)).mean())
    return best


def topk_error_bound(
    ranks: np.ndarray, k: int, compressed_bits: float, extra_bits: float, n_train: float, delta: float = 0.05
) -> dict[str, float]:
    """Top-k error bound: loss 1[rank of x_i >= k] (rank 0 = argmax), Delta = 1, no smoothing (Section 4)."""
    errors = (np.asarray(ranks) >= k).astype(np.float64)  # (s,)
    emp = float(errors.mean())
    div = divergence_nats(compressed_bits, extra_bits)
    return {"bound": min(1.0, subsampling_bound(emp, div, n_train, len(errors), 1.0, delta)), "empirical": emp}


def document_level_bound(
    doc_prob_true: Sequence[np.ndarray],
    n_docs: int,
    compressed_bits: float,
    extra_bits: float,
    vocab_size: int,
    delta: float = 0.05,
    alphas: Sequence[float] = ALPHA_GRID,
) -> dict[str, float]:
    """The IID-document bound on the same model, for comparison (Section 4): each document is one data point with
    loss = its mean smoothed bits per token (range Delta_alpha), m = number of documents.

    doc_prob_true: one (n_tokens,) array per evaluated document; subsampled when fewer than ``n_docs`` are given.
    """
    alpha_bits = math.log2(len(alphas)) if len(alphas) > 1 else 0.0
    div = divergence_nats(compressed_bits, extra_bits + alpha_bits)
    n_eval = len(doc_prob_true)
    best: dict[str, float] | None = None
    for alpha in alphas:
        rng = smoothing_range(alpha, vocab_size)
        emp = float(np.mean([smoothed_log_loss(p, alpha, vocab_size).mean() for p in doc_prob_true]))
        if n_eval >= n_docs:
            value = full_sample_bound(emp, div, n_docs, rng, delta)
        else:
            value = subsampling_bound(emp, div, n_docs, n_eval, rng, delta)
        if best is None or value < best["bound"]:
            best = {"bound": value, "alpha": alpha, "empirical": emp, "loss_range": rng}
    assert best is not None
    return best
