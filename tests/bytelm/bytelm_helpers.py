"""Importable builders for the bytelm tests: tiny byte-level BPE tokenizers and random tiny GPT-2s."""

from __future__ import annotations

import numpy as np
import torch

from papersuite.bytelm.lm import HFTokenLM
from papersuite.bytelm.tokenizer import ByteTokenizer

CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "def sub(x, y):\n    return x - y  # minus\n",
    "for i in range(10):\n    print(i, i * i)\n",
    "class Foo:\n    def __init__(self):\n        self.value = 42\n",
    "the quick brown fox jumps over the lazy dog. caf\u00e9 na\u00efve",
    "if x == 1:\n\treturn 'one'\nelse:\n\treturn \"many\"\n",
    "  indented   with   spaces   and 12345 numbers 3.14159\n",
]


def byte_level_bpe(vocab_size: int = 300, corpus: list[str] | None = None, digits: bool = False):
    """A `tokenizers` byte-level BPE (GPT-2 pre-tokenizer, optionally SmolLM2-style digit split first)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tk.pre_tokenizer = (
        pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level]) if digits else byte_level
    )
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator((corpus or CORPUS) * 5, trainer)
    return tk


def plain_bpe(vocab_size: int = 12, corpus: list[str] | None = None):
    """A `tokenizers` BPE without pre-tokenizer over a small alphabet."""
    from tokenizers import Tokenizer, models, trainers

    tk = Tokenizer(models.BPE())
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<eos>"], show_progress=False)
    tk.train_from_iterator(corpus or ["abababcab", "aabbcc abc", "cabcab ab", "ccc aaa bbb"], trainer)
    return tk


def tiny_gpt2(vocab_size: int, seed: int = 0, n_positions: int = 256, scale: float = 1.0):
    """A randomly initialised 2-layer GPT-2 in float64 (so identities hold to ~1e-12)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=32, n_layer=2, n_head=2)
    model = GPT2LMHeadModel(cfg).double().eval()
    if scale != 1.0:  # sharper random logits
        with torch.no_grad():
            model.lm_head.weight.mul_(scale)
    return model


def tiny_setup(vocab_size: int = 300, seed: int = 0, digits: bool = False, scale: float = 1.0):
    """(ByteTokenizer, HFTokenLM) of a byte-level BPE and a random tiny GPT-2 whose context starts with EOS."""
    tok = ByteTokenizer.from_hf(byte_level_bpe(vocab_size, digits=digits))
    lm = HFTokenLM(tiny_gpt2(tok.vocab_size, seed, scale=scale), bos_id=tok.eos_id)
    return tok, lm


def random_text(rng: np.random.Generator, n: int, alphabet: str = "ab cd\n\t.(x)1é") -> bytes:
    """Random short UTF-8 text over a small alphabet with whitespace, punctuation, digits and a 2-byte char."""
    return "".join(rng.choice(list(alphabet), size=n)).encode()


SP_CORPUS = [
    "caf\u00e9 na\u00efve \u00fcber gr\u00fc\u00dfe m\u00fcde s\u00fc\u00df \u00e9t\u00e9 r\u00e9sum\u00e9\n",
    "\u4e2d\u6587 \u4e2d\u6587\u5b57 \u6587\u5b57 \u4e2d\u56fd\u4eba\u6587",
    "smile \U0001f600 grin \U0001f600\U0001f600 ok \U0001f44d",
    "def add(a, b):\n    return a + b  # sum\n",
    "the quick brown fox jumps over the lazy dog",
]


def sentencepiece_bpe(
    vocab_size: int = 400, style: str = "llama", corpus: list[str] | None = None, byte_fallback: bool = True
):
    """A SentencePiece-style `tokenizers` BPE with byte fallback, laid out like a Llama/CodeLlama
    tokenizer.json: <unk>, <s>, </s>, then the 256 <0xNN> byte tokens, then the trained pieces (▁ marks a
    space). style "llama": normalizer Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer, decoder
    Replace + ByteFallback + Fuse + Strip; style "metaspace": a Metaspace pre-tokenizer (older exports).
    byte_fallback=False: no <0xNN> tokens, and <unk> is an ordinary vocabulary piece (not an added token)."""
    import json

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    sp = "\u2581"
    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    tk.normalizer = normalizers.Sequence([normalizers.Prepend(sp), normalizers.Replace(" ", sp)])
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement=sp, prepend_scheme="never", split=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    tk.train_from_iterator((corpus or SP_CORPUS) * 5, trainer)
    spec = json.loads(tk.to_str())
    specials = ["<unk>", "<s>", "</s>"]
    trained = sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1])
    fallback = [f"<0x{b:02X}>" for b in range(256)] if byte_fallback else []
    vocab = specials + fallback + [t for t, _ in trained if t not in specials]
    spec["model"]["vocab"] = {t: i for i, t in enumerate(vocab)}
    spec["model"].update(byte_fallback=byte_fallback, fuse_unk=True)
    spec["added_tokens"] = [
        {
            "id": i,
            "content": t,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i, t in enumerate(specials)
        if byte_fallback or t != "<unk>"
    ]
    if style == "llama":
        spec["pre_tokenizer"] = None
    elif style == "metaspace":
        spec["normalizer"] = None
        spec["pre_tokenizer"] = {"type": "Metaspace", "replacement": sp, "prepend_scheme": "first", "split": True}
    else:
        raise ValueError(f"unknown style {style!r}")
    out = Tokenizer.from_str(json.dumps(spec))
    out.decoder = decoders.Sequence(
        [decoders.Replace(sp, " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    return out


def byte_level_bpe_without(drop: bytes, vocab_size: int = 300):
    """A byte-level BPE whose alphabet lacks the bytes in `drop` (as SmolLM2's lacks 21 byte values)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from papersuite.bytelm.tokenizer import bytes_to_unicode

    gone = {bytes_to_unicode()[b] for b in drop}
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tk.decoder = decoders.ByteLevel()
    alphabet = [c for c in pre_tokenizers.ByteLevel.alphabet() if c not in gone]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], initial_alphabet=alphabet, show_progress=False
    )
    corpus = [s for s in CORPUS if not set(s.encode()) & set(drop)]
    tk.train_from_iterator(corpus * 5, trainer)
    return tk
