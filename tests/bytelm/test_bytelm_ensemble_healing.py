"""ByteEnsemble and the token-healing / naive baselines on tiny random GPT-2s (docs/papers/bytelm.md "Known answers"
8 and 9)."""

from __future__ import annotations

import numpy as np
import pytest

from bytelm_helpers import tiny_setup
from papersuite.bytelm.byte_lm import ByteLM
from papersuite.bytelm.ensemble import ByteEnsemble
from papersuite.bytelm.healing import generate_naive, generate_token_healing, healed_next_byte, naive_next_byte
from papersuite.bytelm.tokenizer import EOS


@pytest.fixture(scope="module")
def other():
    """A second model with a different vocabulary (V=400) and seed."""
    return tiny_setup(400, seed=7)


def test_ensemble_of_self_is_self(tiny):
    tok, lm = tiny
    blm = ByteLM(lm, tok)
    ens = ByteEnsemble([blm, blm], weights=[0.25, 0.75])
    x = b"def f(x):\n    return  x"
    se, sm = ens.prompt_state(x[:4]), blm.prompt_state(x[:4])
    for b in x[4:]:
        np.testing.assert_allclose(ens.next_byte_distribution(se), blm.next_byte_distribution(sm), atol=1e-12)
        se, sm = ens.advance(se, b), blm.advance(sm, b)
    assert ens.logprob(x) == pytest.approx(blm.logprob(x), abs=1e-9)


def test_ensemble_across_vocabularies_is_normalised_mixture(tiny, other):
    (tok_a, lm_a), (tok_b, lm_b) = tiny, other
    a, b = ByteLM(lm_a, tok_a), ByteLM(lm_b, tok_b)
    assert tok_a.vocab_size != tok_b.vocab_size
    ens = ByteEnsemble([a, b], weights=[2.0, 6.0])  # normalised to 0.25 / 0.75
    np.testing.assert_allclose(ens.weights, [0.25, 0.75])
    x = b"for i in range(3):\n\tprint(i)"
    se, sa, sb = ens.prompt_state(b""), a.prompt_state(b""), b.prompt_state(b"")
    total = 0.0
    for c in list(x) + [EOS]:
        d = ens.next_byte_distribution(se)
        assert d.sum() == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(
            d, 0.25 * a.next_byte_distribution(sa) + 0.75 * b.next_byte_distribution(sb), atol=1e-12
        )
        total += np.log(d[c])
        se = ens.advance(se, c)
        if c != EOS:
            sa, sb = a.advance(sa, c), b.advance(sb, c)
    assert ens.logprob(x) == pytest.approx(total, abs=1e-9)
    assert len(ens.generate(b"def ", 10, temperature=1.0, seed=1)) <= 10
    with pytest.raises(ValueError):
        ByteEnsemble([a, b], weights=[1.0])


def test_healing_equals_naive_when_last_token_cannot_extend(tiny):
    """Known answers 9: if no other token starts with the last prompt token's bytes, healing = naive."""
    tok, lm = tiny
    prompts = [b"x = f(a, b)", b"return a+b", b"def add(a, b):"]
    checked = 0
    for p in prompts:
        last = tok.token_bytes[tok.encode(p)[-1]]
        if len(tok.tokens_with_prefix(last)) == 1:
            np.testing.assert_allclose(healed_next_byte(lm, tok, p), naive_next_byte(lm, tok, p), atol=1e-12)
            assert generate_token_healing(lm, tok, p, 16) == generate_naive(lm, tok, p, 16)
            checked += 1
    assert checked >= 1


def test_healing_differs_when_last_token_extends(tiny):
    tok, lm = tiny
    p = b"def ad"
    last = tok.token_bytes[tok.encode(p)[-1]]
    assert len(tok.tokens_with_prefix(last)) > 1
    healed = healed_next_byte(lm, tok, p)
    assert healed.sum() == pytest.approx(1.0, abs=1e-9)
    assert not np.allclose(healed, naive_next_byte(lm, tok, p), atol=1e-6)


def test_baseline_generation_respects_limits(tiny):
    tok, lm = tiny
    out = generate_naive(lm, tok, b"def f(", 12)
    assert len(out) <= 12
    healed = generate_token_healing(lm, tok, b"def ad", 30, stop=lambda o: b"\n" in o)
    assert len(healed) <= 30


def test_healed_distribution_by_hand(tiny):
    """healed_next_byte against a direct computation: the backed-off token's alternatives that overhang give
    their next byte; re-choosing the removed token defers to the following token's first byte."""
    tok, lm = tiny
    p = b"def ad"
    ids = tok.encode(p)
    rest, removed = ids[:-1], tok.token_bytes[ids[-1]]
    logp = lm.next_token_logprobs(rest)
    cand = [t for t, tb in enumerate(tok.token_bytes) if tb is not None and tb.startswith(removed)]
    w = np.exp(logp[cand]) / np.exp(logp[cand]).sum()
    ref = np.zeros(257)
    for t, wt in zip(cand, w):
        tb = tok.token_bytes[t]
        if len(tb) > len(removed):
            ref[tb[len(removed)]] += wt
        else:
            ref += wt * naive_next_byte(lm, tok, tok.decode(rest + [t]))
    assert any(len(tok.token_bytes[t]) > len(removed) + 1 for t in cand)
    np.testing.assert_allclose(healed_next_byte(lm, tok, p), ref, atol=1e-12)
