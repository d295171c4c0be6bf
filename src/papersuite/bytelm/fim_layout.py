"""FIM prompt layout (docs/papers/bytelm.md "FIM"): CodeLlama's special tokens and their order, the FIM byte
tokenizer (its special tokens never stand for bytes; <EOT> is the byte-level EOS), the SentencePiece dummy
prefix, and each task's (fixed token context, byte prompt). Re-exported by fim.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .tokenizer import ByteTokenizer

__all__ = [
    "FimLayout",
    "fim_byte_tokenizer",
    "fim_layout",
    "fim_prompt",
    "mid_token",
    "reference_prompt_ids",
]


@dataclass(frozen=True)
class FimLayout:
    """FIM prompt layout (bytelm.md "FIM"): the order and the ids of the special tokens, and the bytes `encode`
    puts before the prefix (SentencePiece's dummy-prefix space; empty for byte-level BPE)."""

    mode: str  # "spm" | "psm"
    bos_id: int | None
    prefix_id: int
    suffix_id: int
    middle_id: int
    eot_id: int
    lead: bytes = b""

    def __post_init__(self) -> None:
        if self.mode not in ("spm", "psm"):
            raise ValueError(f"FIM mode must be 'spm' or 'psm', got {self.mode!r}")


def _vocab(hf_tokenizer: Any) -> dict[str, int]:
    return dict(hf_tokenizer.get_vocab())


def _dummy_prefix(hf_tokenizer: Any, tok: ByteTokenizer) -> bytes:
    """b" " if the HF tokenizer's own encoding adds SentencePiece's dummy prefix (ByteTokenizer strips it)."""
    from tokenizers import Tokenizer

    probe = "def"
    enc = hf_tokenizer.encode(probe, add_special_tokens=False)
    ids = list(enc.ids) if isinstance(hf_tokenizer, Tokenizer) else list(enc)
    if ids == tok.encode(probe.encode()):
        return b""
    if ids == tok.encode(b" " + probe.encode()):
        return b" "
    raise ValueError(
        f"cannot tell the tokenizer's dummy prefix: {probe!r} encodes to {ids}, the byte tokenizer "
        f"gives {tok.encode(probe.encode())} without and {tok.encode(b' ' + probe.encode())} with a space"
    )


def fim_layout(hf_tokenizer: Any, params: Mapping[str, Any], tok: ByteTokenizer | None = None) -> FimLayout:
    """Look up the FIM special tokens in the HF tokenizer's vocabulary; a missing one fails naming it
    (bytelm.md "FIM"). Unset keys take fim.DEFAULT_PARAMS."""
    from .fim import DEFAULT_PARAMS  # fim imports this module; the defaults live with the other FIM settings

    p = {**DEFAULT_PARAMS, **params}
    vocab = _vocab(hf_tokenizer)
    ids = {}
    for key in ("prefix_token", "suffix_token", "middle_token", "eot_token", "bos_token"):
        name = p[key]
        if name is None and key == "bos_token":
            ids[key] = None
            continue
        if name not in vocab:
            raise ValueError(
                f"FIM {key} {name!r} is not in the tokenizer's vocabulary "
                f"({len(vocab)} tokens); this model may not be trained for fill-in-the-middle"
            )
        ids[key] = int(vocab[name])
    dummy = p["dummy_prefix"]
    if dummy == "auto":
        if tok is None:
            raise ValueError("dummy_prefix 'auto' needs the byte tokenizer to compare encodings")
        lead = _dummy_prefix(hf_tokenizer, tok)
    elif isinstance(dummy, bool):
        lead = b" " if dummy else b""
    else:
        raise ValueError(f"dummy_prefix must be 'auto', true or false, got {dummy!r}")
    return FimLayout(
        p["mode"],
        ids["bos_token"],
        ids["prefix_token"],
        ids["suffix_token"],
        ids["middle_token"],
        ids["eot_token"],
        lead,
    )


def fim_byte_tokenizer(hf_tokenizer: Any, layout: FimLayout) -> ByteTokenizer:
    """ByteTokenizer whose EOS is <EOT> (the end of the middle) and in which every FIM token is special.

    A vocabulary may list the FIM tokens as ordinary pieces ("▁<EOT>" would then be the bytes " <EOT>"); they
    must never be byte tokens, or generation would write them into the middle, so they are re-marked here."""
    names = {i: name for name, i in _vocab(hf_tokenizer).items()}
    fim_ids = [
        i for i in (layout.prefix_id, layout.suffix_id, layout.middle_id, layout.eot_id, layout.bos_id) if i is not None
    ]
    tok = ByteTokenizer.from_hf(
        hf_tokenizer, eos_token=names[layout.eot_id], special_tokens=[names[i] for i in fim_ids]
    )
    if tok.eos_id != layout.eot_id:
        raise ValueError(f"byte tokenizer EOS {tok.eos_id} is not the end-of-infill token {layout.eot_id}")
    return tok


def fim_prompt(layout: FimLayout, tok: ByteTokenizer, prefix: str, suffix: str) -> tuple[list[int], bytes]:
    """(fixed context ids, byte prompt) of one task: the tokens before the jointly tokenized byte stream in which
    the middle is generated, and that stream's visible start (bytelm.md "FIM").

    SPM: context [bos, <PRE>, <SUF>] + encode_infilling(suffix) + [<MID>], byte prompt lead + prefix.
    PSM: context [bos, <PRE>] + encode(lead + prefix) + [<SUF>] + encode_infilling(suffix) + [<MID>],
         byte prompt b"" (the middle starts at a token boundary)."""
    bos = [layout.bos_id] if layout.bos_id is not None else []
    suf = tok.encode(suffix.encode("utf-8"))  # encode_infilling: no dummy prefix (ByteTokenizer never adds one)
    pre = layout.lead + prefix.encode("utf-8")
    if layout.mode == "spm":
        return bos + [layout.prefix_id, layout.suffix_id] + suf + [layout.middle_id], pre
    return bos + [layout.prefix_id] + tok.encode(pre) + [layout.suffix_id] + suf + [layout.middle_id], b""


def reference_prompt_ids(layout: FimLayout, tok: ByteTokenizer, prefix: str, suffix: str) -> list[int]:
    """The whole token prompt the naive method feeds the model (CodeLlama's infilling_prompt_tokens)."""
    ctx, prompt = fim_prompt(layout, tok, prefix, suffix)
    return ctx + tok.encode(prompt)


def mid_token(tok: ByteTokenizer, prompt: bytes, middle: bytes) -> bool:
    """The prompt ends strictly inside a token of the canonical encoding of prompt + middle."""
    ends = np.cumsum([0] + [len(tok.token_bytes[i]) for i in tok.encode(prompt + middle)])
    return len(prompt) not in set(ends.tolist())
