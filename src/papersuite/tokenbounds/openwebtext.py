"""OpenWebText as one token stream for the full-scale bounds (the paper's from-scratch rows train on it and its
pretrained GPT-2 rows are bounded on it; nanoGPT's preparation with the GPT-2 tokenizer, EOT 50256 between documents;
docs/papers/tokenbounds.md "Full scale").

The corpus is distributed as ``urlsf_subsetNN.tar`` files; each holds ``*.xz`` members, each an xz-compressed tar of
``*.txt`` documents. The stream is [EOT, doc_1, EOT, doc_2, EOT, ...] as uint16, written in chunks to a raw file and
then into ``stream.npy`` (read back as a memory map: about 9e9 tokens do not fit in memory).
"""

from __future__ import annotations

import io
import itertools
import lzma
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

__all__ = ["documents", "write_stream"]


def documents(subset_tars: Sequence[str | Path]) -> Iterator[str]:
    """Every document's text, in the order of the subset files and of their members."""
    for path in subset_tars:
        with tarfile.open(path) as outer:
            for member in outer:
                if not (member.isfile() and member.name.endswith(".xz")):
                    continue
                inner_bytes = lzma.decompress(outer.extractfile(member).read())
                with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
                    for doc in inner:
                        if doc.isfile() and doc.name.endswith(".txt"):
                            yield inner.extractfile(doc).read().decode("utf-8", errors="replace")


def write_stream(texts: Iterator[str], tokenizer, eot_id: int, out_npy: str | Path, batch: int = 1024) -> dict:
    """Tokenize documents in batches into ``out_npy`` (uint16, EOT first and after every document); returns counts."""
    if tokenizer.get_vocab_size() > np.iinfo(np.uint16).max + 1:
        raise ValueError(f"vocabulary of {tokenizer.get_vocab_size()} tokens does not fit uint16")
    raw = Path(out_npy).with_suffix(".bin.partial")
    n_tokens, n_docs = 1, 0
    with open(raw, "wb") as f:
        np.array([eot_id], dtype=np.uint16).tofile(f)
        pending: list[str] = []
        for text in itertools.chain(texts, [None]):  # None flushes the last batch
            if text is not None:
                pending.append(text)
            if pending and (text is None or len(pending) == batch):
                for enc in tokenizer.encode_batch(pending, add_special_tokens=False):
                    ids = np.append(np.asarray(enc.ids, dtype=np.uint16), np.uint16(eot_id))
                    ids.tofile(f)
                    n_tokens, n_docs = n_tokens + len(ids), n_docs + 1
                pending = []
    flat = np.memmap(raw, dtype=np.uint16, mode="r", shape=(n_tokens,))
    out = np.lib.format.open_memmap(out_npy, mode="w+", dtype=np.uint16, shape=(n_tokens,))
    for lo in range(0, n_tokens, 1 << 26):
        out[lo : lo + (1 << 26)] = flat[lo : lo + (1 << 26)]
    out.flush()
    del out, flat
    raw.unlink()
    return {"n_tokens": int(n_tokens), "n_docs": int(n_docs)}
