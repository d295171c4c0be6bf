"""Hugging Face tokenizers as ByteTokenizers: byte-level BPE (GPT-2 / SmolLM2 style, bytes <-> unicode map),
SentencePiece-style BPE ("▁" for space, <0xNN> byte fallback), or a plain `tokenizers` model without
pre-tokenizer (token strings are the bytes). Sections in quotes refer to docs/papers/bytelm.md.

`from_hf` (called by `ByteTokenizer.from_hf`) builds, from the tokenizer's JSON spec:
  - the byte string of every token, None for special tokens ("Objects"; the special tokens are the spec's
    added special tokens, the unknown token and any extra names the caller lists, e.g. FIM markers);
  - an encoder defined on any bytes: the HF tokenizer on valid UTF-8, else each byte of a broken UTF-8
    sequence as its <0xNN> token (SentencePiece) or a Python re-implementation of the pre-tokenizer in front of
    the HF BPE model (byte-level BPE);
  - the strongest stable-boundary rule that holds on the probe strings ("Stable boundary");
  - the start of the last pre-token, which bounds the part of a text that validity checks re-encode.
SentencePiece's dummy prefix is stripped: the byte stream must not gain a leading space.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .alphabet import bytes_to_unicode
from .boundary import (
    BOUNDARY_PROBES,
    PREFIX_PROBES,
    check_stable_boundary,
    indent_boundary,
    no_boundary,
    space_boundary,
    whitespace_boundary,
)

if TYPE_CHECKING:
    from .tokenizer import ByteTokenizer

__all__ = ["from_hf"]

_GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def _backend(tokenizer):
    """The `tokenizers.Tokenizer` behind a transformers tokenizer (a copy, so settings can change safely)."""
    from tokenizers import Tokenizer

    backend = tokenizer if isinstance(tokenizer, Tokenizer) else tokenizer.backend_tokenizer
    return Tokenizer.from_str(backend.to_str())


def _pre_tokenizer_fn(spec: dict | None) -> tuple[Callable[[str], list[str]], bool, str]:
    """Python re-implementation of the HF pre-tokenizer for byte-level BPE, used on strings that are not
    valid UTF-8 (decoded with surrogateescape: lone bytes behave as punctuation). Returns
    (split function, whether pieces are byte-level mapped, boundary rule name)."""
    import regex

    steps: list[Callable[[list[str]], list[str]]] = []
    byte_level = False
    rule = "none"

    def split_with(pattern: str, behavior: str, invert: bool) -> Callable[[list[str]], list[str]]:
        rx = regex.compile(pattern)

        def run(pieces: list[str]) -> list[str]:
            out: list[str] = []
            for p in pieces:
                spans, last = [], 0
                for m in rx.finditer(p):
                    if m.start() == m.end():
                        continue
                    if m.start() > last:
                        spans.append((last, m.start(), invert))
                    spans.append((m.start(), m.end(), not invert))
                    last = m.end()
                if last < len(p):
                    spans.append((last, len(p), invert))
                out.extend(_apply_behavior(p, spans, behavior))
            return out

        return run

    def visit(s: dict) -> None:
        nonlocal byte_level, rule
        kind = s["type"]
        if kind == "Sequence":
            for sub in s["pretokenizers"]:
                visit(sub)
        elif kind == "ByteLevel":
            if s.get("add_prefix_space"):
                raise ValueError("ByteLevel(add_prefix_space=True) adds bytes absent from the text")
            byte_level = True
            if s.get("use_regex", True):
                steps.append(split_with(_GPT2_PATTERN, "Isolated", False))
                rule = "whitespace" if rule in ("none", "whitespace") else rule
        elif kind == "Split":
            pat = s["pattern"]
            pattern = pat["Regex"] if "Regex" in pat else regex.escape(pat["String"])
            steps.append(split_with(pattern, s.get("behavior", "Isolated"), s.get("invert", False)))
            rule = "whitespace" if pattern == _GPT2_PATTERN else "space"
        elif kind == "Digits":
            steps.append(split_with(r"\p{N}" if s.get("individual_digits") else r"\p{N}+", "Isolated", False))
        else:
            raise ValueError(f"unsupported pre-tokenizer for raw bytes: {kind}")

    if spec is not None:
        visit(spec)

    def pre_tokenize(text: str) -> list[str]:
        pieces = [text]
        for step in steps:
            pieces = step(pieces)
        return pieces

    return pre_tokenize, byte_level, rule


def _apply_behavior(p: str, spans: list[tuple[int, int, bool]], behavior: str) -> list[str]:
    """HF SplitDelimiterBehavior over (start, end, is_delimiter) spans of p."""
    if behavior == "Isolated":
        return [p[a:b] for a, b, _ in spans]
    if behavior == "Removed":
        return [p[a:b] for a, b, d in spans if not d]
    out: list[str] = []
    if behavior == "MergedWithPrevious":
        for a, b, d in spans:
            if d and out:
                out[-1] += p[a:b]
            else:
                out.append(p[a:b])
        return out
    if behavior == "MergedWithNext":
        carry = ""
        for a, b, d in spans:
            if d:
                carry += p[a:b]
            else:
                out.append(carry + p[a:b])
                carry = ""
        if carry:
            out.append(carry)
        return out
    if behavior == "Contiguous":
        for a, b, d in spans:
            if out and d and out[-1][1]:
                out[-1] = (out[-1][0] + p[a:b], True)
            else:
                out.append((p[a:b], d))
        return [s for s, _ in out]
    raise ValueError(f"unsupported split behavior {behavior}")


def _pick_eos(backend, tokenizer, eos_token: str | None) -> int | None:
    """The document-end token: eos_token if given, else `<|endoftext|>` (GPT-2/SmolLM2 document separator),
    else the tokenizer's own eos token, else `</s>` / `<eos>` / `<|end_of_text|>`."""
    if eos_token is not None:
        candidates = [eos_token]
    else:
        own = None if _is_raw_tokenizers(tokenizer) else getattr(tokenizer, "eos_token", None)
        candidates = ["<|endoftext|>"] + ([own] if own else []) + ["</s>", "<eos>", "<|end_of_text|>"]
    for c in candidates:
        i = backend.token_to_id(c)
        if i is not None:
            return i
    return None


def _is_raw_tokenizers(tokenizer) -> bool:
    from tokenizers import Tokenizer

    return isinstance(tokenizer, Tokenizer)


@dataclass(frozen=True)
class _Flavour:
    """What kind of HF tokenizer a spec describes."""

    sentencepiece: bool  # "▁" stands for a space; byte fallback through <0xNN> pieces
    byte_level: bool  # token strings are GPT-2's unicode images of bytes
    pre: dict | None  # the pre-tokenizer spec
    pre_json: str  # the same as JSON text (ensure_ascii=False)


def _load_backend(tokenizer) -> tuple:
    """(backend, spec, flavour): a private `tokenizers.Tokenizer` configured for raw byte streams (no dummy
    prefix, special-token text encoded as plain text, no truncation or padding), the original JSON spec, and
    the tokenizer's flavour."""
    from tokenizers import Tokenizer

    backend = _backend(tokenizer)
    spec = json.loads(backend.to_str())
    pre = spec.get("pre_tokenizer")
    # ensure_ascii=False: json.dumps would write "▁" as the escape \u2581, hiding a Llama-style normaliser
    pre_json, decoder, normalizer = (
        json.dumps(spec.get(k), ensure_ascii=False) for k in ("pre_tokenizer", "decoder", "normalizer")
    )
    sentencepiece = (
        "Metaspace" in pre_json
        or "\u2581" in normalizer
        or "Metaspace" in decoder
        or '"Replace"' in decoder
        and "\u2581" in decoder
    )
    byte_level = "ByteLevel" in pre_json or "ByteLevel" in decoder
    if sentencepiece:  # same tokenizer without the dummy-prefix "▁" (the byte stream must not gain a space)
        backend = Tokenizer.from_str(json.dumps(_strip_dummy_prefix(spec)))
    backend.encode_special_tokens = True  # "<|endoftext|>" inside raw text is ordinary text
    backend.no_truncation()
    backend.no_padding()
    return backend, spec, _Flavour(sentencepiece, byte_level, pre, pre_json)


def _special_ids(backend, spec: dict, special_tokens: Sequence[str]) -> set[int]:
    """Ids that never stand for bytes: the spec's special added tokens, the caller's special_tokens (a missing
    one fails naming it) and the model's unknown token."""
    special = {t["id"] for t in spec.get("added_tokens", []) if t.get("special", True)}
    for name in special_tokens:
        if backend.token_to_id(name) is None:
            raise ValueError(f"special token {name!r} is not in the tokenizer's vocabulary")
        special.add(backend.token_to_id(name))
    model = spec["model"]
    if model.get("unk_token") is not None and backend.token_to_id(model["unk_token"]) is not None:
        special.add(backend.token_to_id(model["unk_token"]))  # stands for lost text, never for "<unk>"
    return special


def _token_bytes(backend, special: set[int], flavour: _Flavour) -> list[bytes | None]:
    """The byte string of every id (None for special ids and holes in the vocabulary)."""
    vocab_size = backend.get_vocab_size(with_added_tokens=True)
    token_bytes: list[bytes | None] = [None] * vocab_size
    if flavour.byte_level:
        inverse = {c: b for b, c in bytes_to_unicode().items()}
    for i in range(vocab_size):
        if i in special:
            continue
        s = backend.id_to_token(i)
        if s is None:
            continue
        if flavour.byte_level:
            token_bytes[i] = bytes(inverse[c] for c in s)
        elif flavour.sentencepiece:
            if len(s) == 6 and s.startswith("<0x") and s.endswith(">"):
                token_bytes[i] = bytes([int(s[3:5], 16)])
            else:
                token_bytes[i] = s.replace("\u2581", " ").encode("utf-8")
        else:
            token_bytes[i] = s.encode("utf-8")
    return token_bytes


class _Encoder:
    """Encoders of raw bytes through a configured backend: valid UTF-8 through the HF tokenizer, the rest by
    byte fallback (SentencePiece) or the emulated pre-tokenizer (byte-level and plain BPE)."""

    PIECE_CACHE = 65536  # pre-token pieces whose BPE is remembered by the emulated encoder

    def __init__(self, backend, flavour: _Flavour):
        self.backend = backend
        self.flavour = flavour
        self.sentencepiece = flavour.sentencepiece
        self.byte_level = flavour.byte_level
        self.split: Callable[[str], list[str]] | None
        if flavour.sentencepiece:
            self.split, self.rule = None, "space"
        else:
            self.split, _mapped, self.rule = _pre_tokenizer_fn(flavour.pre)
        self.to_unicode = bytes_to_unicode()
        self.hf_model = backend.model
        self.fallback = [backend.token_to_id(f"<0x{b:02X}>") for b in range(256)]
        self._piece_ids: dict[str, list[int]] = {}  # BPE of a pre-token piece (validity checks repeat pieces)

    def encode_valid(self, text: str) -> list[int]:
        return self.backend.encode(text, add_special_tokens=False).ids

    def encode(self, data: bytes) -> list[int]:
        try:
            return self.encode_valid(data.decode("utf-8"))
        except UnicodeDecodeError:
            pass
        return self.encode_sp(data) if self.sentencepiece else self.encode_emulated(data)

    def encode_sp(self, data: bytes) -> list[int]:
        """SentencePiece-style encoding of any bytes: valid UTF-8 runs through the HF tokenizer, each byte of
        an invalid or unfinished sequence as its <0xNN> token — what byte fallback does for a character
        outside the vocabulary (no merge involves a fallback piece, so runs tokenize independently)."""
        ids: list[int] = []
        pos = 0
        while pos < len(data):
            try:
                ids.extend(self.encode_valid(data[pos:].decode("utf-8")))
                break
            except UnicodeDecodeError as err:
                start, end = pos + err.start, pos + err.end
            if start > pos:
                ids.extend(self.encode_valid(data[pos:start].decode("utf-8")))
            for k in range(start, end):
                j = self.fallback[data[k]]
                if j is None:
                    raise ValueError(f"no byte-fallback token <0x{data[k]:02X}> for byte {data[k]:#04x} at offset {k}")
                ids.append(j)
            pos = end
        return ids

    def encode_emulated(self, data: bytes) -> list[int]:
        """Python pre-tokenizer + the HF BPE model per piece; defined for any bytes (lone bytes of a broken
        UTF-8 sequence act as punctuation). Agrees with the HF tokenizer on valid UTF-8 (tested)."""
        text = data.decode("utf-8", "surrogateescape")
        ids = []
        for piece in self.split(text):
            hit = self._piece_ids.get(piece)
            if hit is None:
                raw = piece.encode("utf-8", "surrogateescape")
                word = (
                    "".join(self.to_unicode[b] for b in raw)
                    if self.byte_level
                    else raw.decode("utf-8", "surrogateescape")
                )
                hit = [t.id for t in self.hf_model.tokenize(word)]
                if len(self._piece_ids) >= self.PIECE_CACHE:
                    self._piece_ids.clear()
                self._piece_ids[piece] = hit
            ids.extend(hit)
        return ids

    def encode_batch(self, datas: list[bytes]) -> list[list[int]]:
        texts, bad = [], []
        for k, d in enumerate(datas):
            try:
                texts.append(d.decode("utf-8"))
            except UnicodeDecodeError:
                texts.append("")
                bad.append(k)
        out = [e.ids for e in self.backend.encode_batch_fast(texts, add_special_tokens=False)]
        for k in bad:
            out[k] = self.encode(datas[k])
        return out

    def local_start_fn(self) -> Callable[[bytes], int] | None:
        """The start of the last pre-token of a tail, for pre-tokenizers that scan left to right without
        look-behind and drop nothing; None otherwise (validity then re-encodes the whole tail)."""
        pre_json = self.flavour.pre_json
        if self.split is None or self.flavour.pre is None or "(?<" in pre_json or '"Removed"' in pre_json:
            return None
        split = self.split

        def local_start(tail: bytes) -> int:
            pieces = split(tail.decode("utf-8", "surrogateescape"))
            return len(tail) - len(pieces[-1].encode("utf-8", "surrogateescape")) if pieces else 0

        return local_start


def _pick_boundary(encode: Callable[[bytes], list[int]], rule: str, check_boundary: bool) -> Callable[[bytes], int]:
    """The strongest boundary rule, from the pre-tokenizer's rule down to none, that holds on every prefix of the
    probes the tokenizer can encode (the first candidate unchecked when check_boundary is False)."""
    rules = {"indent": indent_boundary, "whitespace": whitespace_boundary, "space": space_boundary, "none": no_boundary}
    order = list(rules)[list(rules).index("indent" if rule == "whitespace" else rule) :]
    boundary = no_boundary
    probes = []
    for text in BOUNDARY_PROBES:  # a vocabulary without byte fallback may not encode every probe
        try:
            encode(text.encode())
            probes.append(text.encode())
        except Exception:  # noqa: BLE001 - the HF tokenizer raises a bare Exception for unknown characters
            continue
    for r in order:
        if not check_boundary or check_stable_boundary(encode, rules[r], probes):
            boundary = rules[r]
            break
    return boundary


def _checked_emulator(tok: ByteTokenizer, emulate: Callable[[bytes], list[int]]) -> Callable[[bytes], list[int]]:
    """`emulate` with encode()'s round-trip check (ValueError on unencodable bytes)."""

    def encode_emulated_checked(data: bytes) -> list[int]:
        """encode_emulated with encode()'s round-trip check (ValueError on unencodable bytes)."""
        ids = emulate(bytes(data))
        if tok.decode(ids) != data:
            raise tok.lossy_error(bytes(data), ids)
        return ids

    return encode_emulated_checked


def from_hf(
    cls, tokenizer, eos_token: str | None, check_boundary: bool, special_tokens: Sequence[str] = ()
) -> ByteTokenizer:
    """A `cls` (ByteTokenizer) over a `tokenizers.Tokenizer` or a transformers fast tokenizer; see
    ByteTokenizer.from_hf for the arguments."""
    backend, spec, flavour = _load_backend(tokenizer)
    eos_id = _pick_eos(backend, tokenizer, eos_token)
    special = _special_ids(backend, spec, special_tokens)
    token_bytes = _token_bytes(backend, special, flavour)
    enc = _Encoder(backend, flavour)
    boundary = _pick_boundary(enc.encode, enc.rule, check_boundary)
    tok = cls(
        token_bytes,
        enc.encode,
        eos_id,
        boundary,
        enc.encode_batch,
        name=f"hf:{spec['model'].get('type', '?')}",
        local_start_fn=enc.local_start_fn(),
        prefix_probes=PREFIX_PROBES if enc.split is not None and flavour.pre else (),
    )
    tok.boundary_rule = boundary.__name__
    tok.hf_backend = backend
    tok.encode_emulated = None if flavour.sentencepiece else _checked_emulator(tok, enc.encode_emulated)
    return tok


def _strip_dummy_prefix(spec: dict) -> dict:
    """A copy of a SentencePiece-style tokenizer spec that does not prepend "▁" to the text: Prepend
    normalisers dropped, Metaspace pre-tokenizers set to prepend_scheme "never"; all else kept as is."""
    spec = json.loads(json.dumps(spec))

    def normalizer(n: dict | None) -> dict | None:
        if n is None or n.get("type") == "Prepend":
            return None
        if n.get("type") == "Sequence":
            kept = [m for m in (normalizer(x) for x in n["normalizers"]) if m is not None]
            return {**n, "normalizers": kept} if kept else None
        return n

    def pre_tokenizer(p: dict | None) -> dict | None:
        if p is None:
            return None
        if p.get("type") == "Metaspace":
            q = {k: v for k, v in p.items() if k != "add_prefix_space"}  # legacy spelling of the scheme
            return {**q, "prepend_scheme": "never"}
        if p.get("type") == "Sequence":
            return {**p, "pretokenizers": [pre_tokenizer(x) for x in p["pretokenizers"]]}
        return p

    spec["normalizer"] = normalizer(spec.get("normalizer"))
    spec["pre_tokenizer"] = pre_tokenizer(spec.get("pre_tokenizer"))
    return spec
