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
    tk.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                        if digits else byte_level)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
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
