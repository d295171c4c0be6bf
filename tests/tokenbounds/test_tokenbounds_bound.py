"""Known answers of the token-level bound (docs/papers/tokenbounds.md "Known answers")."""

from __future__ import annotations

import math

import numpy as np
import pytest

from papersuite.tokenbounds import bound, sampler


def test_subsampling_bound_value():
    """R_hat 0.5, div 0, m 1e6, s 1e4, Delta 1, delta 0.05 gives 0.5142097930 (the authors' llm_subsampling_bound)."""
    value = bound.subsampling_bound(0.5, 0.0, 1e6, 1e4, 1.0, 0.05)
    assert value == pytest.approx(0.5142097930, abs=1e-9)


def test_bpd_example_value():
    """V 1024, alpha 0.1, C 1e5 bits (+2 log2 C, +3 extra bits), m 5e6, s 1e4, R_hat 4.0 gives 5.2579915."""
    delta_range = bound.smoothing_range(0.1, 1024)
    assert delta_range == pytest.approx(13.1700815, abs=1e-7)
    div = bound.divergence_nats(1e5, 3)
    assert bound.subsampling_bound(4.0, div, 5e6, 1e4, delta_range, 0.05) == pytest.approx(5.2579915, abs=1e-7)


@pytest.mark.parametrize("alpha", bound.ALPHA_GRID)
@pytest.mark.parametrize("vocab", [2, 1024, 50257])
def test_smoothing_range_is_numeric_max_minus_min(alpha, vocab):
    """Delta_alpha equals max - min of the smoothed loss over a fine grid of p in [0, 1] (ends included)."""
    p = np.linspace(0.0, 1.0, 100_001)
    loss = bound.smoothed_log_loss(p, alpha, vocab)
    assert bound.smoothing_range(alpha, vocab) == pytest.approx(loss.max() - loss.min(), rel=1e-12)


@pytest.mark.parametrize("alpha", bound.ALPHA_GRID)
def test_uniform_predictor_loss_is_log2_vocab(alpha):
    """p = 1/V gives loss log2 V for every alpha, and the BPD bound of the uniform model is above log2 V."""
    assert bound.smoothed_log_loss(np.array([1 / 1024]), alpha, 1024)[0] == pytest.approx(10.0, abs=1e-12)
    res = bound.bpd_bound(np.full(1000, 1 / 1024), 1e3, 3, 1e6, 1024)
    assert res["bound"] > 10.0


def test_reduces_to_azuma_without_compression_and_subsampling():
    """C = 0 and s -> infinity give R_hat + Delta sqrt(ln(1/delta) / 2m)."""
    azuma = 2.0 + 3.0 * math.sqrt(math.log(1 / 0.05) / (2 * 1e5))
    assert bound.subsampling_bound(2.0, 0.0, 1e5, 1e15, 3.0, 0.05) == pytest.approx(azuma, rel=1e-6)
    assert bound.full_sample_bound(2.0, 0.0, 1e5, 3.0, 0.05) == pytest.approx(azuma, rel=1e-15)


def test_monotonicity():
    """The bound falls with m, rises with C and the extra bits, and never falls below the empirical risk."""
    f = lambda m, c, b: bound.subsampling_bound(3.0, bound.divergence_nats(c, b), m, 1e4, 10.0, 0.05)  # noqa: E731
    ms = [1e4, 1e5, 1e6, 1e7]
    assert all(f(a, 1e4, 3) > f(b, 1e4, 3) for a, b in zip(ms, ms[1:]))
    cs = [10, 1e3, 1e5, 1e7]
    assert all(f(1e6, a, 3) < f(1e6, b, 3) for a, b in zip(cs, cs[1:]))
    assert f(1e6, 1e4, 3) < f(1e6, 1e4, 8)
    assert min(f(m, c, 0) for m in ms for c in cs) > 3.0


def test_topk_bound_of_uniform_model():
    """Uniform ranks give empirical top-k error near 1 - k/V (exact in expectation) and a bound above it."""
    vocab, n = 1024, 200_000
    ranks = np.random.default_rng(0).integers(0, vocab, n)
    for k in (1, 10, 100):
        res = bound.topk_error_bound(ranks, k, 1e3, 3, 1e7)
        se = math.sqrt((k / vocab) * (1 - k / vocab) / n)
        assert abs(res["empirical"] - (1 - k / vocab)) < 4 * se
        assert res["empirical"] < res["bound"] <= 1.0


def test_document_level_bound_is_looser_with_fewer_points():
    """The same losses cut into 100 documents give a looser bound than as 10^4 tokens (m in the complexity)."""
    p = np.random.default_rng(1).uniform(0.05, 0.9, 10_000)
    tok = bound.bpd_bound(p, 1e3, 3, 10_000, 1024)
    doc = bound.document_level_bound(np.split(p, 100), 100, 1e3, 3, 1024)
    assert doc["empirical"] == pytest.approx(float(bound.smoothed_log_loss(p, doc["alpha"], 1024).mean()))
    assert doc["bound"] > tok["bound"] + 1.0


def test_sampler_contexts_stay_inside_one_document():
    """Every sampled context starts at its document's EOT (or inside it when cut) and holds no other EOT."""
    rng = np.random.default_rng(0)
    eot, block = 0, 16
    docs = [rng.integers(1, 50, rng.integers(1, 40)) for _ in range(200)]
    stream = np.concatenate([np.array([eot])] + [np.append(d, eot) for d in docs])
    pos = sampler.sample_positions(stream, eot, 5000, seed=3)
    assert pos.min() >= 1 and pos.max() < len(stream)
    starts = sampler.document_starts(stream, eot)
    for i, ctx in zip(pos, sampler.contexts(stream, pos, eot, block)):
        assert 1 <= len(ctx) <= block - 1
        assert np.array_equal(ctx, stream[i - len(ctx) : i])
        assert not np.any(ctx[1:] == eot)
        assert ctx[0] == eot or i - len(ctx) > starts[i]  # whole document from its EOT, or cut by the block
        assert len(ctx) == min(block - 1, i - starts[i])


def _markov_chain(n_rep: int, length: int, trans: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n_rep, length) samples of a Markov chain on {0..K-1} started uniformly."""
    k = trans.shape[0]
    cum = np.cumsum(trans, axis=1)  # (K, K)
    x = np.empty((n_rep, length), dtype=np.int64)
    x[:, 0] = rng.integers(0, k, n_rep)
    u = rng.random((n_rep, length))
    for t in range(1, length):
        x[:, t] = np.minimum((u[:, t, None] > cum[x[:, t - 1]]).sum(axis=1), k - 1)
    return x


def test_martingale_bound_violation_rate_below_delta():
    """A fixed (not fitted) predictor on Markov-chain data: over 1000 replicates, the expected next-token loss
    exceeds the subsampled bound in at most delta of them (measured: 0 of 1000)."""
    rng = np.random.default_rng(0)
    trans = np.array([[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.1, 0.1, 0.8]])  # the true chain
    model = np.array([[0.5, 0.3, 0.2], [0.3, 0.3, 0.4], [0.2, 0.2, 0.6]])  # the fixed hypothesis
    alpha, vocab, m, s, delta = 0.1, 3, 2000, 200, 0.05
    x = _markov_chain(1000, m + 1, trans, rng)  # token 0 is the first context
    loss_table = bound.smoothed_log_loss(model, alpha, vocab)  # (K, K): loss of next token j after i
    cond_expected = (trans * loss_table).sum(axis=1)  # (K,) E[loss | previous token]
    lhs = cond_expected[x[:, :-1]].mean(axis=1)  # (n_rep,)
    losses = loss_table[x[:, :-1], x[:, 1:]]  # (n_rep, m)
    idx = rng.integers(0, m, (1000, s))
    emp = np.take_along_axis(losses, idx, axis=1).mean(axis=1)
    rng_alpha = bound.smoothing_range(alpha, vocab)
    bounds = np.array([bound.subsampling_bound(e, 0.0, m, s, rng_alpha, delta) for e in emp])
    assert (lhs > bounds).mean() <= delta
    # and it is informative: measured mean gap 0.60 bits = 0.125 Delta (Delta = 4.81 bits)
    assert np.mean(bounds - lhs) < 0.25 * rng_alpha
