"""Batched decoding and scoring across prompts (docs/papers/bytelm.md "Batched decoding", "Known answers" 15):
one forward pass for many sequences gives the one-at-a-time results — equal greedy bytes and model-call counts,
probabilities to float64 rounding — for the KV-batched forward, the byte-level functions, the token baselines and
the ensemble."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bytelm_helpers import random_text, tiny_gpt2
from papersuite.bytelm import batched, midtoken, oracle
from papersuite.bytelm.byte_lm import ByteLM
from papersuite.bytelm.ensemble import ByteEnsemble
from papersuite.bytelm.healing import (
    generate_naive,
    generate_naive_batch,
    generate_token_healing,
    generate_token_healing_batch,
)
from papersuite.bytelm.kv_batch import KVBatch
from papersuite.bytelm.lm import HFTokenLM

PROMPTS = [
    b"def add(a, b):\n    ret",
    b"for i in ra",
    b"x",
    b"",
    b"class Foo:\n    def __init__(self):\n        self.va",
    b"  indented   wi",
    b"if x == 1:\n\treturn 'o",
    "caf\u00e9 na\u00ef".encode(),
]


def _newline(out: bytes) -> bool:
    return b"\n" in out


def _tiny_llama(vocab_size: int, seed: int = 0):
    """A random 2-layer Llama in float64 with grouped-query attention (6 heads over 2 key/value heads), the
    layout of SmolLM2 and CodeLlama."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=48,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=6,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=None,
        eos_token_id=None,
    )
    return LlamaForCausalLM(cfg).double().eval()


def _fresh(tiny, model=None) -> HFTokenLM:
    """A new HFTokenLM (empty caches, zero counters) over the tiny model or another one."""
    tok, lm = tiny
    return HFTokenLM(model if model is not None else lm.model, bos_id=tok.eos_id)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_kv_batch_equals_plain_forward(arch):
    """Anchors, cached suffixes, new anchors past max_suffix, re-merged and backed-off endings: every row's
    next-token logits equal a plain forward of the whole sequence."""
    model = tiny_gpt2(60, seed=1) if arch == "gpt2" else _tiny_llama(60, seed=1)
    engine = KVBatch(model, max_suffix=6, anchor_margin=2)
    rng = np.random.default_rng(0)
    prompts = [[int(t) for t in rng.integers(0, 60, n)] for n in (9, 14, 3)]
    assert engine.add_anchor(prompts[0][:7]) == 7 and engine.add_anchor(prompts[0][:7]) == 0
    seqs = [list(p) for p in prompts]
    for step in range(12):
        batch = []
        for s in seqs:
            batch += [s, s[:-1] + [int(rng.integers(60))]]  # the sequence and a re-merged ending
        logits = engine.run(batch)
        for s, row in zip(batch, logits):
            with torch.no_grad():
                ref = model(input_ids=torch.tensor([s])).logits[0, -1].double()
            torch.testing.assert_close(row, ref, atol=1e-12, rtol=0)
        seqs = [s + [int(t) for t in rng.integers(0, 60, 1 + step % 2)] for s in seqs]
    assert engine.forwards == 1 + 12 and len(engine._anchors) > 1  # the prefill, then one pass per step; long
    # suffixes got anchors of their own


@pytest.mark.parametrize(("mode", "check_mass"), [("raw", 1.0), ("masked", 1.0), ("raw", 0.999)])
def test_greedy_batch_equals_one_prompt_at_a_time(tiny, mode, check_mass):
    """The mid-token harness's greedy loop, batched across prompts: the same bytes, prompt calls and calls per
    prompt as midtoken.greedy_byte_level on each prompt alone; far fewer forward passes."""
    tok, _ = tiny
    alone = ByteLM(_fresh(tiny), tok, mode=mode, check_mass=check_mass)
    together = ByteLM(_fresh(tiny), tok, mode=mode, check_mass=check_mass)
    expected = []
    for p in PROMPTS:
        c0 = alone.lm.calls
        out, prompt_calls = midtoken.greedy_byte_level(alone, p, 12, stop=_newline)
        expected.append((out, prompt_calls, alone.lm.calls - c0))
    got = batched.greedy_batch(together, PROMPTS, 12, stop=_newline)
    assert [(c.data, c.prompt_calls, c.calls) for c in got] == expected
    assert together.lm.calls == alone.lm.calls and together.lm.forwards < alone.lm.forwards / 3


@pytest.mark.parametrize("mode", ["raw", "masked"])
def test_batched_distributions_and_scores_equal_sequential(tiny, mode):
    """Next-byte distributions after every prompt and per-byte log-probabilities of whole texts, batched, equal
    the one-at-a-time values to float64 rounding."""
    tok, _ = tiny
    alone = ByteLM(_fresh(tiny), tok, mode=mode)
    together = ByteLM(_fresh(tiny), tok, mode=mode)
    want = np.array([alone.next_byte_distribution(alone.prompt_state(p)) for p in PROMPTS])
    np.testing.assert_allclose(together.next_byte_distributions(PROMPTS), want, atol=1e-12, rtol=0)
    rng = np.random.default_rng(3)
    texts = [random_text(rng, int(rng.integers(1, 30))) for _ in range(6)]
    heads = [b"", b"x = ", b"def f(", b"", b"\t", b"a  "]
    for a, b in zip(
        together.byte_logprobs_batch(texts, prompts=heads),
        [alone.byte_logprobs(t, prompt=h) for t, h in zip(texts, heads)],
    ):
        np.testing.assert_allclose(a, b, atol=1e-10, rtol=0)


def test_sampling_batch_equals_generate(tiny):
    """Sampling with one generator per prompt: generate_batch gives ByteLM.generate's bytes for every prompt."""
    tok, _ = tiny
    alone = ByteLM(_fresh(tiny), tok)
    together = ByteLM(_fresh(tiny), tok)
    want = [alone.generate(p, 10, temperature=1.0, top_p=0.9, seed=7) for p in PROMPTS]
    assert together.generate_batch(PROMPTS, 10, temperature=1.0, top_p=0.9, seed=7) == want


def test_llama_greedy_batch_equals_sequential(tiny):
    """The same on a grouped-query Llama (the architecture of SmolLM2 and CodeLlama)."""
    tok, _ = tiny
    model = _tiny_llama(tok.vocab_size, seed=2)
    alone = ByteLM(_fresh(tiny, model), tok, mode="raw")
    together = ByteLM(_fresh(tiny, model), tok, mode="raw")
    want = [midtoken.greedy_byte_level(alone, p, 10, stop=_newline)[0] for p in PROMPTS]
    assert [c.data for c in batched.greedy_batch(together, PROMPTS, 10, stop=_newline)] == want


def test_token_baselines_batch_equal_sequential(tiny):
    """Naive and token-healing greedy decoding across prompts: the same bytes and model calls per prompt."""
    tok, _ = tiny
    for single, many in (
        (generate_naive, generate_naive_batch),
        (generate_token_healing, generate_token_healing_batch),
    ):
        lm = _fresh(tiny)
        want = []
        for p in PROMPTS:
            lm.forget_results()
            c0 = lm.calls
            want.append((single(lm, tok, p, 16, stop=_newline), lm.calls - c0))
        assert many(_fresh(tiny), tok, PROMPTS, 16, stop=_newline) == want


def test_ensemble_scores_batch_equal_sequential(tiny):
    """A two-member ensemble scored on several texts at once (the ensemble pass of the evaluation) equals
    ByteEnsemble.byte_logprobs text by text."""
    tok, _ = tiny
    other = tiny_gpt2(tok.vocab_size, seed=9)

    def ens():
        return ByteEnsemble([ByteLM(_fresh(tiny), tok), ByteLM(_fresh(tiny, other), tok)], weights=[0.3, 0.7])

    texts = [b"def add(a, b):\n    return a + b\n", b"for i in range(3):\n\tpass", b"x"]
    single = ens()
    for a, b in zip(ens().byte_logprobs_batch(texts), [single.byte_logprobs(t) for t in texts]):
        np.testing.assert_allclose(a, b, atol=1e-10, rtol=0)


def test_exact_oracle_without_a_batched_forward():
    """A token LM without a batched forward (the exact table model) runs the batched functions one query at a
    time: the same greedy bytes as ByteLM.generate, P(A | ..A) = 0.7 kept (Known answers 1)."""
    chain = oracle.two_state_chain()
    tok = oracle.mpe_tokenizer()
    blm = ByteLM(oracle.exact_token_lm(chain, tok), tok, mode="raw")
    prompts = [b"A", b"BA", b"ABA", b"BB"]
    want = [blm.generate(p, 4, temperature=0.0) for p in prompts]
    assert blm.generate_batch(prompts, 4) == want
    dist = blm.next_byte_distributions([b"BA", b"BB"])
    assert dist[0, ord("A")] == pytest.approx(0.7, abs=1e-12) and dist[1, ord("A")] == pytest.approx(0.4, abs=1e-12)


def test_prefill_anchor_serves_every_method(tiny):
    """A prefilled prompt prefix (minus two tokens) is an anchor that every later query of the three methods
    extends: results equal the single-sequence path."""
    tok, _ = tiny
    lm = _fresh(tiny)
    prompt = b"class Foo:\n    def __init__(self):\n        self.va"
    ids = tok.encode(prompt[: tok.stable_boundary(prompt)])
    assert lm.prefill(ids) == len(ids) + 1 - 2  # context token + prefix, minus the margin
    ref = _fresh(tiny)
    for q in (ids, ids[:-1], tok.encode(prompt), ids + [5, 6]):
        np.testing.assert_allclose(lm.next_token_logprobs_batch([q])[0], ref.next_token_logprobs(q), atol=1e-12)


def test_kv_batch_in_bfloat16_keeps_float32_softmax():
    """A bfloat16 Llama (CodeLlama's dtype on CUDA): the batched logits stay within bfloat16 rounding of the plain
    forward's (attention statistics are kept in float32)."""
    model = _tiny_llama(60, seed=3).to(torch.bfloat16)
    engine = KVBatch(model, max_suffix=6, anchor_margin=2)
    rng = np.random.default_rng(1)
    seqs = [[int(t) for t in rng.integers(0, 60, n)] for n in (5, 11, 20)]
    engine.add_anchor(seqs[2][:12])
    for row, s in zip(engine.run(seqs), seqs):
        with torch.no_grad():
            ref = model(input_ids=torch.tensor([s])).logits[0, -1].double()
        assert row.dtype == torch.float64 and float((row - ref).abs().max()) < 0.05 * float(ref.abs().max())
