"""Byte-level BPE tokenizers trained with ``tokenizers`` (the learned toy's BPE, the ensemble's
code vocabularies; docs/papers/bytelm.md "Experiments").

Both kinds keep all 256 bytes in the vocabulary (GPT-2 byte-to-unicode alphabet), so every byte string
has an encoding (byte fallback, bytelm.md "Objects"), and one special token ``<|endoftext|>`` (id 0) that
separates documents and serves as BOS and EOS:
- ``"plain"`` (learned toy): no pre-tokenization, merges may cross any byte (the toy's Markov strings);
- ``"code"`` (ensemble): the GPT-2 ByteLevel regex pre-tokenizer and decoder, the tokenizer of GPT-2 style LMs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from papersuite.core import io

__all__ = ["EOT", "KINDS", "train_bpe", "save_tokenizer", "eot_id"]

EOT = "<|endoftext|>"
KINDS = ("plain", "code")


def train_bpe(docs: Iterable[bytes | str], vocab_size: int, kind: str = "code", min_frequency: int = 2) -> Any:
    """A ``tokenizers.Tokenizer`` with ``vocab_size`` entries (256 bytes + EOT + merges) trained on ``docs``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if vocab_size < 257:
        raise ValueError(f"vocab_size must be >= 257 (256 bytes + {EOT}), got {vocab_size}")
    tok = Tokenizer(models.BPE())
    # use_regex=False: ByteLevel only maps bytes to its unicode alphabet, a single pre-token per document.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=(kind == "code"))
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=int(vocab_size),
        min_frequency=int(min_frequency),
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # The ByteLevel pre-tokenizer works on str; bytes are decoded as latin-1 only if not valid UTF-8.
    texts = (d if isinstance(d, str) else _text(d) for d in docs)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"BPE training documents must be UTF-8: {exc}") from exc


def eot_id(tokenizer: Any) -> int:
    """Id of ``<|endoftext|>`` in a tokenizer trained by :func:`train_bpe`."""
    tid = tokenizer.token_to_id(EOT)
    if tid is None:
        raise ValueError(f"tokenizer has no {EOT} token")
    return int(tid)


def save_tokenizer(tokenizer: Any, path: str | Path) -> Path:
    """Write ``tokenizer.json`` atomically."""
    with io.atomic_path(path) as tmp:
        tokenizer.save(str(tmp))
    return Path(path)
