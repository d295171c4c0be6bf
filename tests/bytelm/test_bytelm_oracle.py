"""Oracle exactness and the tokenization-bias table: exact token LMs of Markov sources (docs/papers/bytelm.md
"Oracle", "Known answers" 1 and 9)."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from papersuite.bytelm.byte_lm import ByteLM
from papersuite.bytelm.healing import healed_next_byte, naive_next_byte
from papersuite.bytelm.oracle import (
    bias_table,
    enumerate_documents,
    exact_token_lm,
    mpe_tokenizer,
    prefix_probability,
    sample_documents,
    three_state_chain,
    train_bpe_tokenizer,
    true_next_byte,
    two_state_chain,
)
from papersuite.bytelm.tokenizer import EOS

A, B = ord("A"), ord("B")


@pytest.fixture(scope="module")
def mpe_oracle():
    chain, tok = two_state_chain(10), mpe_tokenizer()
    return chain, tok, exact_token_lm(chain, tok)


def test_documents_sum_to_one():
    assert sum(p for _, p in enumerate_documents(two_state_chain(6))) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("chain", [two_state_chain(10), three_state_chain(8)], ids=["two_state", "three_state"])
def test_sampled_documents_are_the_per_symbol_choice_draws(chain):
    """The vectorised sampler draws exactly what rng.choice(k, p=...) per symbol, document by document, draws
    (the toy's and the oracle BPE's training documents)."""
    rng = np.random.default_rng(5)
    k, want = len(chain.symbols), []
    for _ in range(300):
        s = [rng.choice(k, p=chain.init)]
        for _ in range(chain.length - 1):
            s.append(rng.choice(k, p=chain.trans[s[-1]]))
        want.append(bytes(chain.symbols[i] for i in s))
    assert sample_documents(chain, 300, seed=5) == want


def test_exact_lm_rows_sum_to_one(mpe_oracle):
    _, tok, lm = mpe_oracle
    for prefix in [(), (0,), (2, 1), (1, 1, 1)]:
        assert np.exp(lm.next_token_logprobs(prefix)).sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("prompt", [b"A", b"BA", b"ABA"])
def test_canonical_bias_example(mpe_oracle, prompt):
    """Encodings ending in a lone `A` can only be followed by B under MPE {A,B,AA}: naive 0, truth 0.7
    ("Tokenization bias")."""
    chain, tok, lm = mpe_oracle
    assert naive_next_byte(lm, tok, prompt)[A] == pytest.approx(0.0, abs=1e-15)
    for mode in ("raw", "masked"):
        blm = ByteLM(lm, tok, mode=mode)
        dist = blm.next_byte_distribution(blm.prompt_state(prompt))
        assert dist[A] == pytest.approx(0.7, abs=1e-12)
        assert dist.sum() == pytest.approx(1.0, abs=1e-12)


def test_unbiased_prompt(mpe_oracle):
    chain, tok, lm = mpe_oracle
    blm = ByteLM(lm, tok, mode="raw")
    assert naive_next_byte(lm, tok, b"BB")[A] == pytest.approx(0.4, abs=1e-12)
    assert blm.next_byte_distribution(blm.prompt_state(b"BB"))[A] == pytest.approx(0.4, abs=1e-12)


@pytest.mark.parametrize("prompt,p", [(b"A", 0.5), (b"BA", 0.2), (b"BAA", 0.14), (b"ABA", 0.06), (b"BB", 0.3)])
def test_cover_probability(mpe_oracle, prompt, p):
    """BTR lemma: P(x) = Σ_{c ∈ cover(x)} P(c) (Known answers 1)."""
    _, tok, lm = mpe_oracle
    blm = ByteLM(lm, tok, mode="raw")
    assert np.exp(blm.logprob(prompt, eos=False)) == pytest.approx(p, abs=1e-12)


def _oracle_cases():
    two = two_state_chain(6)
    three = three_state_chain(4)
    return [
        ("mpe-AB", two, mpe_tokenizer()),
        ("bpe-AB", two, train_bpe_tokenizer(two, vocab_size=8)),
        ("bpe-ABC", three, train_bpe_tokenizer(three, vocab_size=10)),
    ]


@pytest.mark.parametrize("case", _oracle_cases(), ids=lambda c: c[0])
@pytest.mark.parametrize("mode", ["raw", "masked"])
def test_btr_equals_source_everywhere(case, mode):
    """For every prompt up to length L, by recursion and by prompt cover extraction: P_BTR(·|x) equals the
    source conditional to 1e-12 (EOS at L included), sums to one without renormalisation, P_cover = P(x)."""
    _, chain, tok = case
    lm = exact_token_lm(chain, tok)
    blm = ByteLM(lm, tok, mode=mode)
    n_checked = 0

    def walk(state, x: bytes, logp: float) -> None:
        nonlocal n_checked
        dist = blm.next_byte_distribution(state)
        np.testing.assert_allclose(dist, true_next_byte(chain, x), atol=1e-12, err_msg=repr(x))
        assert dist.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.exp(logp) == pytest.approx(prefix_probability(chain, x), abs=1e-12)
        init = blm.prompt_state(x)  # cover extraction must agree with the recursion
        np.testing.assert_allclose(blm.next_byte_distribution(init), dist, atol=1e-12)
        assert blm.covers(init) == blm.covers(state)
        n_checked += 1
        if len(x) == chain.length:
            assert blm.advance(state, EOS).byte_logprob == pytest.approx(0.0, abs=1e-12)
            return
        for s in chain.symbols:
            nxt = blm.advance(state, s)
            walk(nxt, x + bytes([s]), logp + nxt.byte_logprob)

    walk(blm.prompt_state(b""), b"", 0.0)
    assert n_checked == sum(len(chain.symbols) ** k for k in range(chain.length + 1))


def test_full_length_documents_long_chain(mpe_oracle):
    """L = 10 with EOS: whole-document log-probability equals the source's, for a sample of documents."""
    chain, tok, lm = mpe_oracle
    blm = ByteLM(lm, tok, mode="raw")
    for doc, p in itertools.islice(enumerate_documents(chain), 0, 1024, 97):
        assert blm.logprob(doc, eos=True) == pytest.approx(np.log(p), abs=1e-10)
        assert blm.logprob(doc + b"A", eos=False) == -np.inf  # nothing follows position L but EOS


def test_healing_equals_naive_when_last_token_cannot_extend(mpe_oracle):
    """Known answers 9: "BB" ends in token B, which no other token extends, so healing = naive."""
    _, tok, lm = mpe_oracle
    assert list(tok.tokens_with_prefix(b"B")) == [1]
    np.testing.assert_allclose(healed_next_byte(lm, tok, b"BB"), naive_next_byte(lm, tok, b"BB"), atol=1e-15)
    # and it does differ where the last token can be extended: "BA" (A extends to AA)
    assert healed_next_byte(lm, tok, b"BA")[A] == pytest.approx(0.7, abs=1e-12)


def test_bias_table_fast_and_biased():
    t0 = time.perf_counter()
    table = bias_table()
    assert time.perf_counter() - t0 < 10
    assert {"tokenizer", "prompt", "symbol", "true", "naive", "token_healing", "byte_level"} <= set(table.columns)
    np.testing.assert_allclose(table.byte_level, table.true, atol=1e-12)
    np.testing.assert_allclose(table.p_prompt_cover, table.p_prompt_true, atol=1e-12)
    mpe = table[table.tokenizer == "mpe"].set_index(["prompt", "symbol"])
    assert mpe.loc[("BA", "A"), "naive"] == pytest.approx(0.0, abs=1e-15)
    assert mpe.loc[("BB", "A"), "naive"] == pytest.approx(0.4, abs=1e-12)
    assert (np.abs(table.naive - table.true) > 0.1).sum() >= 10  # structural zeros of the naive estimate
