"""The tiny training set: Python standard-library sources as documents, a byte-level BPE, one token stream
(docs/papers/tokenbounds.md "Scales"; the paper trains on OpenWebText with the GPT-2 tokenizer, Section 5).

Documents are whole ``*.py`` files under ``sysconfig``'s stdlib (test directories, site-packages, ``__pycache__``,
``config-*`` and ``_sysconfigdata_*`` excluded). A file is held out when sha256("{seed}:{path}") maps below
``heldout_frac``; training files are taken in hash order up to ``max_train_bytes``. The manifest records path, size,
sha256, split and use of every candidate file. The candidate files, their split and the hash order come from
``papersuite.core.corpus`` (shared with bytelm, whose documents are chunks of the same files).
"""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path
from typing import Any

import numpy as np

from papersuite.core.corpus import file_split, hash_unit, stdlib_files, stdlib_root

__all__ = ["EOT", "stdlib_documents", "train_tokenizer", "encode_stream"]

EOT = "<|endoftext|>"  # special token id 0: separates documents in the stream


def stdlib_documents(
    max_train_bytes: int, heldout_frac: float, seed: int, root: str | Path | None = None
) -> tuple[list[str], list[str], dict[str, Any]]:
    """(training documents, held-out documents, manifest): whole UTF-8 files, training capped by bytes."""
    root = Path(root) if root is not None else stdlib_root()
    files, train, heldout, used_bytes = [], [], [], 0
    for rel in sorted(stdlib_files(root), key=lambda r: hash_unit(f"{seed}:order:{r.as_posix()}")):
        data = (root / rel).read_bytes()
        key = rel.as_posix()
        split = file_split(key, seed, heldout_frac)
        entry = {"path": key, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "split": split}
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        use = text is not None and text.strip() != ""
        if split == "train":
            use = use and used_bytes + len(data) <= max_train_bytes
            used_bytes += len(data) if use else 0
        (train if split == "train" else heldout).extend([text] if use else [])
        files.append({**entry, "used": bool(use)})
    files.sort(key=lambda f: f["path"])
    manifest = {
        "source": "python-stdlib",
        "python": platform.python_version(),
        "seed": int(seed),
        "params": {"max_train_bytes": int(max_train_bytes), "heldout_frac": float(heldout_frac)},
        "documents": {"train": len(train), "heldout": len(heldout)},
        "train_bytes": used_bytes,
        "files": files,
    }
    return train, heldout, manifest


def train_tokenizer(documents: list[str], vocab_size: int):
    """A byte-level BPE (``tokenizers``) with ``vocab_size`` entries, EOT = id 0."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(documents, trainer=trainer)
    if tok.token_to_id(EOT) != 0 or tok.get_vocab_size() != vocab_size:
        raise RuntimeError(f"tokenizer: EOT id {tok.token_to_id(EOT)}, vocab {tok.get_vocab_size()} != {vocab_size}")
    return tok


def encode_stream(tokenizer, documents: list[str]) -> np.ndarray:
    """(n,) uint16 stream [EOT, doc_1, EOT, doc_2, ..., EOT] (Section 4: the training set is one sequence)."""
    eot = tokenizer.token_to_id(EOT)
    parts = [np.array([eot], dtype=np.uint16)]
    for enc in tokenizer.encode_batch(documents, add_special_tokens=False):
        parts.append(np.asarray(enc.ids, dtype=np.uint16))
        parts.append(np.array([eot], dtype=np.uint16))
    return np.concatenate(parts)
