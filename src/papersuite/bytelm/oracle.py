"""Exact oracle for tokenization bias: Markov-chain sources, exact token LMs by enumeration and the
naive / token-healing / byte-level / true next-byte table (docs/papers/bytelm.md
"Tokenization bias", "Oracle", "Known answers" 1).

A source emits documents of exactly L symbols followed by EOS. The exact token LM is the law of the token
stream encode(doc) + [EOS]: P(t_1^k) = Σ_docs P(doc)·[stream starts with t_1^k], tabulated over all |A|^L
documents, so every estimator below is evaluated without any learning error.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .byte_lm import ByteLM
from .healing import healed_next_byte, naive_next_byte
from .lm import TableTokenLM
from .tokenizer import EOS, N_SYMBOLS, ByteTokenizer

__all__ = [
    "MarkovChain",
    "two_state_chain",
    "three_state_chain",
    "enumerate_documents",
    "sample_documents",
    "prefix_probability",
    "true_next_byte",
    "exact_token_lm",
    "naive_next_byte",
    "mpe_tokenizer",
    "train_bpe_tokenizer",
    "bias_table",
]


@dataclass(frozen=True)
class MarkovChain:
    """First-order chain over single-byte symbols; documents are `length` symbols then EOS."""

    symbols: bytes  # (k,) e.g. b"AB"
    init: np.ndarray  # (k,) π
    trans: np.ndarray  # (k, k) trans[i, j] = P(next = j | current = i)
    length: int  # L

    def index(self, byte: int) -> int:
        i = self.symbols.find(bytes([byte]))
        if i < 0:
            raise ValueError(f"byte {bytes([byte])!r} is not a symbol of the chain {self.symbols!r}")
        return i


def two_state_chain(length: int = 10) -> MarkovChain:
    """The canonical source: {A,B}, P(A|A)=0.7, P(A|B)=0.4, π uniform (bytelm.md "Tokenization bias")."""
    return MarkovChain(b"AB", np.array([0.5, 0.5]), np.array([[0.7, 0.3], [0.4, 0.6]]), length)


def three_state_chain(length: int = 8) -> MarkovChain:
    """A 3-symbol chain {A,B,C} with unequal transitions (the full-scale oracle)."""
    trans = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]])
    return MarkovChain(b"ABC", np.full(3, 1 / 3), trans, length)


def prefix_probability(chain: MarkovChain, prefix: bytes) -> float:
    """P(the byte stream starts with prefix); a trailing EOS is allowed as byte 256 only via true_next_byte."""
    if len(prefix) > chain.length:
        return 0.0
    p, prev = 1.0, None
    for b in prefix:
        i = chain.index(b)
        p *= chain.init[i] if prev is None else chain.trans[prev, i]
        prev = i
    return float(p)


def true_next_byte(chain: MarkovChain, prefix: bytes) -> np.ndarray:
    """(257,) the source's P(b | prefix): transition row (or π), EOS with probability 1 after L symbols."""
    dist = np.zeros(N_SYMBOLS)
    n = len(prefix)
    if n >= chain.length:
        dist[EOS] = 1.0 if n == chain.length else 0.0
        return dist
    row = chain.init if n == 0 else chain.trans[chain.index(prefix[-1])]
    dist[list(chain.symbols)] = row
    return dist


def enumerate_documents(chain: MarkovChain) -> Iterator[tuple[bytes, float]]:
    """All |A|^L documents with their probabilities."""
    k = len(chain.symbols)
    for idx in itertools.product(range(k), repeat=chain.length):
        p = chain.init[idx[0]] * np.prod(chain.trans[idx[:-1], idx[1:]]) if chain.length else 1.0
        yield bytes(chain.symbols[i] for i in idx), float(p)


def _cdf(p: np.ndarray) -> np.ndarray:
    """The cumulative distribution `Generator.choice(k, p=p)` searches (its cumsum, divided by the last entry)."""
    cdf = np.cumsum(np.asarray(p, dtype=np.float64))
    return cdf / cdf[-1]


def sample_documents(chain: MarkovChain, n: int, seed: int = 0) -> list[bytes]:
    """n documents drawn from the chain (seeded): the draws of `rng.choice(k, p=...)` per symbol, document by
    document, vectorised — one uniform per symbol in the same order, located in the same cumulative distribution
    (tests/bytelm/test_bytelm_oracle.py checks equality with the per-symbol loop)."""
    rng = np.random.default_rng(seed)
    u = rng.random((n, chain.length))  # choice(p=...) draws one double per call
    s = np.empty((n, chain.length), dtype=np.int64)
    s[:, 0] = np.searchsorted(_cdf(chain.init), u[:, 0], side="right")
    cdfs = [_cdf(row) for row in chain.trans]
    for t in range(1, chain.length):
        for j, cdf in enumerate(cdfs):
            rows = s[:, t - 1] == j
            s[rows, t] = np.searchsorted(cdf, u[rows, t], side="right")
    symbols = np.frombuffer(bytes(chain.symbols), dtype=np.uint8)
    return [bytes(doc) for doc in symbols[s]]


def exact_token_lm(chain: MarkovChain, tok: ByteTokenizer, L: int | None = None) -> TableTokenLM:
    """The token LM of the stream encode(doc) + [EOS], exact by enumeration of all documents (bytelm.md "Oracle")."""
    if tok.eos_id is None:
        raise ValueError("the oracle needs a tokenizer with an EOS token")
    if L is not None and chain.length != L:
        chain = MarkovChain(chain.symbols, chain.init, chain.trans, L)
    V = tok.vocab_size
    mass: dict[tuple[int, ...], np.ndarray] = {}
    for doc, p in enumerate_documents(chain):
        ids = tok.encode(doc) + [tok.eos_id]
        for k in range(len(ids)):
            key = tuple(ids[:k])
            row = mass.get(key)
            if row is None:
                row = mass[key] = np.zeros(V)
            row[ids[k]] += p
    return TableTokenLM.from_prefix_mass(mass, V)


def mpe_tokenizer() -> ByteTokenizer:
    """The canonical MPE tokenizer, vocabulary {A, B, AA} + EOS (bytelm.md "Tokenization bias")."""
    return ByteTokenizer.mpe([b"A", b"B", b"AA"])


def train_bpe_tokenizer(chain: MarkovChain, vocab_size: int = 8, n_docs: int = 2000, seed: int = 0) -> ByteTokenizer:
    """A `tokenizers` BPE without pre-tokenizer trained on sampled documents (vocab includes <eos>)."""
    from tokenizers import Tokenizer, models, trainers

    bpe = Tokenizer(models.BPE())
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<eos>"],
        initial_alphabet=[chr(c) for c in chain.symbols],
        show_progress=False,
    )
    bpe.train_from_iterator([d.decode() for d in sample_documents(chain, n_docs, seed)], trainer)
    return ByteTokenizer.from_hf(bpe, eos_token="<eos>")


def _prompts(chain: MarkovChain, max_len: int) -> list[bytes]:
    return [bytes(p) for n in range(1, max_len + 1) for p in itertools.product(chain.symbols, repeat=n)]


def bias_table(
    chain: MarkovChain | None = None,
    tokenizers: dict[str, ByteTokenizer] | None = None,
    prompts: Sequence[bytes] | None = None,
    max_prompt_len: int = 3,
) -> pd.DataFrame:
    """One row per (tokenizer, prompt, next symbol): true, naive, token-healing and byte-level (BTR, masked)
    P(symbol | prompt) under the exact token LM, plus P(prompt) by the source and by the BTR lemma (bytelm.md "Oracle").
    Defaults: the two-state chain (L=10), MPE {A,B,AA} and a BPE (vocab 8) trained on samples, all
    prompts of length 1..max_prompt_len."""
    chain = chain or two_state_chain()
    if tokenizers is None:
        tokenizers = {"mpe": mpe_tokenizer(), "bpe": train_bpe_tokenizer(chain)}
    prompts = list(prompts) if prompts is not None else _prompts(chain, max_prompt_len)
    rows = []
    for name, tok in tokenizers.items():
        lm = exact_token_lm(chain, tok)
        blm = ByteLM(lm, tok, mode="raw")
        for prompt in prompts:
            state = blm.prompt_state(prompt)
            btr = blm.next_byte_distribution(state)
            naive = naive_next_byte(lm, tok, prompt)
            healed = healed_next_byte(lm, tok, prompt)
            true = true_next_byte(chain, prompt)
            p_cover = float(np.exp(blm.logprob(prompt, eos=False)))
            for s in list(chain.symbols) + ([EOS] if len(prompt) == chain.length else []):
                rows.append(
                    {
                        "tokenizer": name,
                        "vocab": "|".join(tb.decode() for tb in tok.token_bytes if tb),
                        "prompt": prompt.decode(),
                        "encoding": "|".join(tok.token_bytes[t].decode() for t in tok.encode(prompt)),
                        "symbol": "EOS" if s == EOS else chr(s),
                        "true": true[s],
                        "naive": naive[s],
                        "token_healing": healed[s],
                        "byte_level": btr[s],
                        "p_prompt_true": prefix_probability(chain, prompt),
                        "p_prompt_cover": p_cover,
                    }
                )
    return pd.DataFrame(rows)
