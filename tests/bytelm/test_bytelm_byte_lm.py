"""ByteLM on random tiny GPT-2s: sum-to-one, telescoping, brute-force covers, single-byte vocabulary,
boundary invariance, KV cache, generation cost (docs/papers/bytelm.md "Known answers"
2-7 and 10)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from bytelm_helpers import byte_level_bpe, plain_bpe, random_text, tiny_gpt2
from papersuite.bytelm.byte_lm import ByteLM, covers_bruteforce, sample_byte
from papersuite.bytelm.healing import generate_naive
from papersuite.bytelm.lm import HFTokenLM
from papersuite.bytelm.tokenizer import EOS, ByteTokenizer, no_boundary

TEXTS = [
    b"def add(a, b):\n    return a+b",
    b"x  (y)\n\n\tz  ",
    "caf\u00e9 na\u00efve  \u00e9t\u00e9".encode(),
    b"broken \xff\xfe utf8 \xc3",
    b"",
]


def _token_loglik(lm: HFTokenLM, ids: list[int]) -> float:
    """log P_tok(ids) by one plain forward (no cache), the reference for the telescoping identity."""
    ctx = [lm.bos_id] + list(ids)
    with torch.no_grad():
        logp = lm.model(torch.tensor([ctx])).logits[0].double().log_softmax(-1)
    return float(sum(logp[i, ids[i]] for i in range(len(ids))))


def _random_texts(n: int, seed: int, alphabet: str = "ab cd\n\t.(x)1\u00e9'") -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [random_text(rng, int(rng.integers(1, 20)), alphabet) for _ in range(n)]


@pytest.mark.parametrize("x", TEXTS + _random_texts(25, seed=0))
def test_telescoping_identity_raw(tiny, x):
    """Known answers 3: Σ byte log-probs (with EOS) = token log-likelihood of encode(x) + EOS, any model."""
    tok, lm = tiny
    ref = _token_loglik(lm, tok.encode(x) + [tok.eos_id])
    assert ByteLM(lm, tok, mode="raw").logprob(x, eos=True) == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("x", TEXTS[:4] + _random_texts(6, seed=1))
def test_masked_sums_to_one_for_any_model(tiny, x):
    """Known answers 2: masked-and-renormalised next-token probabilities give a proper byte distribution."""
    tok, lm = tiny
    blm = ByteLM(lm, tok, mode="masked")
    state = blm.prompt_state(b"")
    for b in x:
        assert blm.next_byte_distribution(state).sum() == pytest.approx(1.0, abs=1e-12)
        state = blm.advance(state, b)
    assert blm.next_byte_distribution(state).sum() == pytest.approx(1.0, abs=1e-12)
    raw = ByteLM(lm, tok, mode="raw")
    assert raw.next_byte_distribution(raw.prompt_state(x)).sum() <= 1.0 + 1e-12  # raw loses invalid mass


def test_masked_sums_to_one_with_truncated_check(tiny):
    tok, lm = tiny
    blm = ByteLM(lm, tok, mode="masked", check_mass=0.9)
    state = blm.prompt_state(b"def f(")
    assert blm.next_byte_distribution(state).sum() == pytest.approx(1.0, abs=1e-12)


def test_fast_mode_bounds(tiny):
    """Fast mode (check_mass < 1, raw): its covers contain the exact ones and differ only by unchecked tokens;
    its next-byte distribution counts checked valid covers only (≤ exact's where weights agree); per-byte
    log-probs stay near the exact ones (random model, check_mass 0.9 and 0.5: measured max diff 0.0 nats)."""
    tok, lm = tiny
    exact, fast = ByteLM(lm, tok, mode="raw"), ByteLM(lm, tok, mode="raw", check_mass=0.9)
    data = b"def add(a, b):\n    return a  + b\n"
    diff = np.abs(fast.byte_logprobs(data) - exact.byte_logprobs(data))
    assert diff.max() < 0.1
    for cut in (3, 9, 20, 26):
        se, sf = exact.prompt_state(data[:cut]), fast.prompt_state(data[:cut])
        extra = fast.covers(sf) - exact.covers(se)
        assert exact.covers(se) <= fast.covers(sf)
        unchecked = {
            sf.prefix_ids + g.parent + (int(t),) for g in sf.groups if g.checked is not None for t in g.ids[~g.checked]
        }
        assert extra <= unchecked
        assert fast.next_byte_distribution(sf).sum() <= 1.0 + 1e-12


@pytest.mark.parametrize("mode", ["raw", "masked"])
def test_prompt_then_data_equals_whole(tiny, mode):
    """Cover extraction for a prompt continues exactly like byte-by-byte advancing."""
    tok, lm = tiny
    blm = ByteLM(lm, tok, mode=mode)
    prompt, data = b"def add(a, b):\n    ret", b"urn a  + b\n"
    whole = blm.logprob(prompt + data, eos=True)
    assert blm.logprob(prompt, eos=False) + blm.logprob(data, eos=True, prompt=prompt) == pytest.approx(whole, abs=1e-9)
    np.testing.assert_allclose(
        blm.byte_logprobs(data, prompt=prompt), blm.byte_logprobs(prompt + data)[len(prompt) :], atol=1e-9
    )


@pytest.fixture(scope="module")
def small_vocab():
    """A plain BPE (V≈12, no pre-tokenizer) and a byte-level BPE with few merges, each with a random GPT-2."""
    plain = ByteTokenizer.from_hf(plain_bpe(12), eos_token="<eos>")
    bl = ByteTokenizer.from_hf(byte_level_bpe(280))
    return [
        (plain, HFTokenLM(tiny_gpt2(plain.vocab_size, seed=1), bos_id=plain.eos_id)),
        (bl, HFTokenLM(tiny_gpt2(bl.vocab_size, seed=2), bos_id=bl.eos_id)),
    ]


def test_covers_match_bruteforce(small_vocab):
    """Known answers 4: the recursive cover set equals the exhaustive enumeration at every position."""
    texts = [[b"abcab cab", b"aabbcc abc", b"cab ca"], [b"a  (b", b"de  f)\n ", b"x\xc3\xa9 1"]]
    for (tok, lm), xs in zip(small_vocab, texts):
        blm = ByteLM(lm, tok, mode="masked")
        for x in xs:
            state = blm.prompt_state(b"")
            for n in range(len(x) + 1):
                assert blm.covers(state) == covers_bruteforce(tok, x[:n]), (x[:n], tok.name)
                if n < len(x):
                    state = blm.advance(state, x[n])


def test_single_byte_vocabulary_equals_token_model():
    """Known answers 5: with 𝒱 = bytes only, P_byte(b | x) = P_tok(token b | encode(x)) exactly."""
    tok = ByteTokenizer.from_hf(byte_level_bpe(257))
    assert all(tb is None or len(tb) == 1 for tb in tok.token_bytes)
    lm = HFTokenLM(tiny_gpt2(tok.vocab_size, seed=3), bos_id=tok.eos_id)
    byte_id = {tb[0]: i for i, tb in enumerate(tok.token_bytes) if tb}
    order = [byte_id[b] for b in range(256)] + [tok.eos_id]
    for mode in ("raw", "masked"):
        blm = ByteLM(lm, tok, mode=mode)
        x = b"ab  c\n\xc3\xa9"
        state = blm.prompt_state(b"")
        for n in range(len(x) + 1):
            p_tok = np.exp(lm.next_token_logprobs(tok.encode(x[:n])))[order]
            np.testing.assert_allclose(blm.next_byte_distribution(state), p_tok, atol=1e-12)
            if n < len(x):
                state = blm.advance(state, x[n])


@pytest.mark.parametrize("mode", ["raw", "masked"])
def test_boundary_invariance(tiny, mode):
    """Known answers 7: moving the stable boundary to the start of the text changes nothing."""
    tok, lm = tiny
    flat = ByteTokenizer(
        tok.token_bytes, tok.encode, tok.eos_id, no_boundary, tok.encode_batch, prefix_probes=tok.prefix_probes
    )
    a, b = ByteLM(lm, tok, mode=mode), ByteLM(lm, flat, mode=mode)
    for x in [b"def f(x):\n    return x  + 1", b"a b  c\td"]:
        sa, sb = a.prompt_state(x[:5]), b.prompt_state(x[:5])
        for c in x[5:]:
            np.testing.assert_allclose(a.next_byte_distribution(sa), b.next_byte_distribution(sb), atol=1e-12)
            sa, sb = a.advance(sa, c), b.advance(sb, c)
        assert sa.boundary > 0 and sb.boundary == 0


def test_kv_cache_matches_fresh_forward(tiny):
    """HFTokenLM reuses its cache across prefixes (extend, backtrack, re-merge) without changing results."""
    tok, lm = tiny
    rng = np.random.default_rng(5)
    prefix: list[int] = []
    for _ in range(25):
        op = rng.integers(3)
        if op == 0 or not prefix:
            prefix = prefix + [int(rng.integers(tok.vocab_size))]
        elif op == 1:
            prefix = prefix[: int(rng.integers(len(prefix)))]
        else:
            prefix = prefix[:-1] + [int(rng.integers(tok.vocab_size)), int(rng.integers(tok.vocab_size))]
        with torch.no_grad():
            ref = lm.model(torch.tensor([[lm.bos_id] + prefix])).logits[0, -1].double().log_softmax(-1).numpy()
        np.testing.assert_allclose(lm.next_token_logprobs(prefix), ref, atol=1e-10)
    ids = tok.encode(b"return x + y")
    seq = lm.sequence_logprobs([], ids)
    assert seq.sum() == pytest.approx(_token_loglik(lm, ids), abs=1e-10)


def test_generation_controls(tiny):
    tok, lm = tiny
    blm = ByteLM(lm, tok)
    greedy = blm.generate(b"def f(", 12)
    state, manual = blm.prompt_state(b"def f("), bytearray()
    for _ in range(12):
        b = int(np.argmax(blm.next_byte_distribution(state)))
        if b == EOS:
            break
        manual.append(b)
        state = blm.advance(state, b)
    assert greedy == bytes(manual)
    assert blm.generate(b"def f(", 20, temperature=1.0, seed=3) == blm.generate(b"def f(", 20, temperature=1.0, seed=3)
    assert blm.generate(b"def f(", 12, temperature=1.0, top_p=1e-9, seed=4) == greedy  # nucleus of one byte
    stopped = blm.generate(b"def f(", 40, temperature=1.0, seed=5, stop=lambda out: len(out) >= 3)
    assert len(stopped) == 3
    rng = np.random.default_rng(0)
    assert sample_byte(np.eye(257)[7], 1.0, 1.0, rng) == 7


def test_model_calls_per_byte_and_speed(tiny, capsys):
    """O(1) model calls per generated byte after the prompt (Known answers 10): c = calls/bytes ≤ 1.5 (a second call
    only when a whitespace run admits two flush covers); bytes/s beside plain token sampling."""
    tok, lm = tiny
    blm = ByteLM(lm, tok)
    prompt = b"def add(a, b):\n    return"
    state = blm.prompt_state(prompt)
    c0, t0 = lm.calls, time.perf_counter()
    out = bytearray()
    rng = np.random.default_rng(0)
    for _ in range(96):
        b = sample_byte(blm.next_byte_distribution(state), 1.0, 1.0, rng)
        if b == EOS:
            break
        out.append(b)
        state = blm.advance(state, b)
    dt, calls = time.perf_counter() - t0, lm.calls - c0
    c = calls / len(out)
    t1, c1 = time.perf_counter(), lm.calls
    tok_out = generate_naive(lm, tok, prompt, 96)
    dt_tok = time.perf_counter() - t1
    with capsys.disabled():
        print(
            f"\n[bytelm cost] byte-level: {len(out)} bytes, {calls} calls, c={c:.3f} calls/byte, "
            f"{len(out) / dt:.0f} bytes/s; token greedy: {len(tok_out)} bytes, {lm.calls - c1} calls, "
            f"{len(tok_out) / dt_tok:.0f} bytes/s"
        )
    assert len(out) >= 20 and c <= 1.5


def test_sentencepiece_style_tokenizer():
    """SentencePiece-style BPE (Metaspace ▁, no dummy prefix added to the bytes): space boundary, round trips,
    and the telescoping identity."""
    from tokenizers import SentencePieceBPETokenizer

    from bytelm_helpers import CORPUS

    sp = SentencePieceBPETokenizer()
    sp.train_from_iterator(CORPUS * 5, vocab_size=200, special_tokens=["</s>"], initial_alphabet=list("\t\n"))
    tok = ByteTokenizer.from_hf(sp._tokenizer, eos_token="</s>")
    assert tok.boundary_rule == "space_boundary" and tok.eos_id == 0
    assert any(tb and tb.startswith(b" ") for tb in tok.token_bytes)
    lm = HFTokenLM(tiny_gpt2(tok.vocab_size, seed=4), bos_id=tok.eos_id)
    for x in [b"def add(a, b):\n    return a + b", b"the  quick fox"]:
        assert tok.decode(tok.encode(x)) == x
        ref = float(lm.sequence_logprobs([], tok.encode(x) + [tok.eos_id]).sum())
        assert ByteLM(lm, tok, mode="raw").logprob(x) == pytest.approx(ref, abs=1e-9)
