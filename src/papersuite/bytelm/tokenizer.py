"""Byte view of a tokenizer: token byte strings, canonical encoding, stable boundary (spec bytelm_bounds.md A1, A5).

The byte alphabet is 0..255 plus EOS = 256. A token sequence t is *valid* (canonical) iff
`encode(decode(t)) == t` (A1 "Validity"). The *stable boundary* of a byte string x is an offset B such
that for every extension y, `encode(x + y) == encode(x[:B]) + encode((x + y)[B:])`: the tokens before B
never change, so validity only needs the part after B re-encoded (A1 "Stable boundary", A5 notes).

Constructors:
  ByteTokenizer.from_hf          — Hugging Face byte-level BPE (GPT-2 / SmolLM2 style, bytes↔unicode map),
                                   SentencePiece-style BPE (▁ for space, <0xNN> byte fallback), or a plain
                                   `tokenizers` model without pre-tokenizer (token strings are the bytes);
  ByteTokenizer.mpe              — maximum-prefix encoding (greedy longest match, A1 "Objects");
  ByteTokenizer.from_encode_fn   — any encode function.
The boundary rule of from_hf is checked on probe strings at construction and weakened (whitespace →
space only → none) until it holds, so a tokenizer whose pre-tokenizer joins e.g. ":\n" stays exact.

encode/encode_batch raise ValueError when the ids would not decode to the input (a byte with no token of its
own, e.g. 21 byte values in SmolLM2's vocabulary, which the HF tokenizer silently drops); validity checks
use the unchecked encoder, since a lossy encoding simply never equals the ids being checked.
"""

from __future__ import annotations

import bisect
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

import numpy as np

__all__ = [
    "EOS",
    "N_SYMBOLS",
    "ByteTokenizer",
    "bytes_to_unicode",
    "indent_boundary",
    "whitespace_boundary",
    "space_boundary",
    "no_boundary",
    "check_stable_boundary",
    "BOUNDARY_PROBES",
    "PREFIX_PROBES",
]

EOS = 256  # byte-alphabet id of end-of-document
N_SYMBOLS = 257  # 256 bytes + EOS

_WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")
_WORD_START = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")

# Continuations that realise the end-of-text pre-token contexts of regex pre-tokenizers (is_prefix_valid):
# whitespace, letter, digit, punctuation, and a rarely merged byte.
PREFIX_PROBES: tuple[bytes, ...] = (b"\x7f", b" ", b"\n", b"\t", b"a", b"0", b"(")

# Strings whose every prefix is used to verify a boundary rule (code, prose, digits, unicode, odd spacing).
BOUNDARY_PROBES: tuple[str, ...] = (
    "def f(x):\n    return x+12345  # done\n\n\tif a  b:\n\r\n  pass\n",
    "Hello, world! It's 2024; we're    here.\n\n  \t x = [1, 2, 3]  ",
    "caf\u00e9 na\u00efve \u00fcber \u4e2d\u6587 \U0001f600 emoji  end.\n",
    "a):\n b\t\tc )\n\n)\r\nd 'll 's 're 7e-3 __init__(self, *args, **kw):\n",
    "  leading spaces\n\n\nthree newlines   trailing   ",
    "class A:\n    def f_(self):\n        x_1 = 2\n\t\tif y:\n  \t  z\n   1\n   (a)\n    _b  c\n        return",
)


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable-unicode map used by ByteLevel pre-tokenizers/decoders."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def _utf8_missing(data: bytes) -> int:
    """How many continuation bytes the UTF-8 character at the end of data still needs (0 if complete/invalid)."""
    for back in range(1, min(4, len(data)) + 1):
        c = data[-back]
        if 0x80 <= c < 0xC0:
            continue
        width = 2 if 0xC0 <= c < 0xE0 else 3 if 0xE0 <= c < 0xF0 else 4 if 0xF0 <= c < 0xF8 else 1
        return max(width - back, 0)
    return 0


def whitespace_boundary(data: bytes) -> int:
    """Offset of the last whitespace byte that follows a non-whitespace byte, 0 if none (A1 "div_enc")."""
    for i in range(len(data) - 1, 0, -1):
        if data[i] in _WHITESPACE and data[i - 1] not in _WHITESPACE:
            return i
    return 0


def indent_boundary(data: bytes) -> int:
    r"""whitespace_boundary, or later: the offset of the last byte of the last whitespace run that an ASCII letter
    or "_" follows. GPT-2-style `\s+(?!\S)` ends such a run's piece one byte early and that byte starts the
    word's piece, so a code line's indentation falls before the boundary (fewer covers to track)."""
    b = whitespace_boundary(data)
    for i in range(len(data) - 2, b, -1):
        if data[i] in _WHITESPACE and data[i + 1] in _WORD_START:
            return i
    return b


def space_boundary(data: bytes) -> int:
    """Offset of the last ASCII space that follows a non-whitespace byte, 0 if none (conservative rule)."""
    i = len(data)
    while True:
        i = data.rfind(b" ", 0, i)
        if i <= 0:
            return 0
        if data[i - 1] not in _WHITESPACE:
            return i


def no_boundary(data: bytes) -> int:
    """No stable boundary: always re-encode from the start (MPE and un-pre-tokenized BPE)."""
    return 0


def check_stable_boundary(
    encode: Callable[[bytes], list[int]], boundary: Callable[[bytes], int], texts: Iterable[bytes]
) -> bool:
    """True iff encode(t) == encode(t[:B]) + encode(t[B:]) with B = boundary(t[:i]) for every text t and cut i."""
    for text in texts:
        full = encode(text)
        seen: set[int] = set()
        for i in range(len(text) + 1):
            b = boundary(text[:i])
            if b in seen:
                continue
            seen.add(b)
            if encode(text[:b]) + encode(text[b:]) != full:
                return False
    return True


class ByteTokenizer:
    """Tokens as byte strings with a canonical encoder, a first-byte index and a prefix search (A1, A5 notes)."""

    def __init__(
        self,
        token_bytes: Sequence[bytes | None],
        encode_fn: Callable[[bytes], list[int]],
        eos_id: int | None,
        stable_boundary_fn: Callable[[bytes], int] | None = None,
        encode_batch_fn: Callable[[list[bytes]], list[list[int]]] | None = None,
        name: str = "",
        mask_cache_size: int = 4096,
        local_start_fn: Callable[[bytes], int] | None = None,
        prefix_probes: Sequence[bytes] = (),
    ):
        self.token_bytes: list[bytes | None] = list(token_bytes)
        self.vocab_size = len(self.token_bytes)
        self.eos_id = eos_id
        self.name = name
        self._encode_fn = encode_fn
        self._encode_batch_fn = encode_batch_fn
        self._boundary_fn = stable_boundary_fn or no_boundary
        # first symbol of each token: byte 0..255, EOS=256 for eos_id, -1 for other special tokens
        first = np.full(self.vocab_size, -1, dtype=np.int64)
        for i, tb in enumerate(self.token_bytes):
            if tb:
                first[i] = tb[0]
        if eos_id is not None:
            first[eos_id] = EOS
        self.first_symbol = first  # (V,)
        self.token_len = np.array([len(tb) if tb else 0 for tb in self.token_bytes], dtype=np.int64)  # (V,)
        self._bytes_or_empty = [tb or b"" for tb in self.token_bytes]  # decode without a None branch
        singles = {tb[0] for tb in self.token_bytes if tb is not None and len(tb) == 1}
        # BPE reaches a byte only through its single-byte token (merges are built from those; SentencePiece's
        # <0xNN> fallbacks are single-byte tokens too), so these bytes make encode() raise and get P = 0 —
        # except inside a character that is a piece of its own in a vocabulary without byte fallback
        self.unencodable_bytes: frozenset[int] = frozenset(set(range(256)) - singles)
        self.is_byte_token = np.array([tb is not None and len(tb) > 0 for tb in self.token_bytes])  # (V,)
        # sorted byte strings for "tokens whose bytes start with q" (the code's supertoken search)
        order = sorted((tb, i) for i, tb in enumerate(self.token_bytes) if tb)
        self._sorted_bytes = [tb for tb, _ in order]
        self._sorted_ids = np.array([i for _, i in order], dtype=np.int64)
        # per last pre-token: (checked (V,), valid (V,), its encoding)
        self._mask_cache: OrderedDict[bytes, tuple[np.ndarray, np.ndarray, list[int]]] = OrderedDict()
        self._mask_cache_size = mask_cache_size
        self._byte_matrix: np.ndarray | None = None
        self._local_start_fn = local_start_fn
        self.prefix_probes = tuple(prefix_probes)  # continuations tried by is_prefix_valid
        self.boundary_rule = self._boundary_fn.__name__  # which rule passed the probe check (from_hf)
        self.hf_backend = None  # the wrapped `tokenizers.Tokenizer` (from_hf)
        self.encode_emulated: Callable[[bytes], list[int]] | None = None  # pure-Python path (from_hf)

    # ---------------------------------------------------------------- encoding
    def encode(self, data: bytes) -> list[int]:
        """Canonical token ids of raw bytes (no special tokens added, special-token text is plain text);
        ValueError naming the byte values and offsets if the vocabulary cannot represent the input."""
        data = bytes(data)
        ids = self._encode_raw(data)
        if self.decode(ids) != data:
            raise self.lossy_error(data, ids)
        return ids

    def encode_batch(self, datas: Sequence[bytes]) -> list[list[int]]:
        """encode() over many byte strings (the wrapped tokenizer's batch path when it has one)."""
        datas = [bytes(d) for d in datas]
        encs = self._encode_batch_raw(datas)
        for d, e in zip(datas, encs):  # ~0.5 µs a string: a few % of the HF batch call (valid_next_mask skips it)
            if self.decode(e) != d:
                raise self.lossy_error(d, e)
        return encs

    def _encode_raw(self, data: bytes) -> list[int]:
        """The wrapped encoder without the round-trip check (validity tests: lossy ids never match)."""
        return list(self._encode_fn(data)) if data else []

    def _encode_batch_raw(self, datas: list[bytes]) -> list[list[int]]:
        """_encode_raw over many byte strings."""
        if self._encode_batch_fn is not None:
            return self._encode_batch_fn(datas)
        return [self._encode_raw(d) for d in datas]

    def _encode_lenient(self, data: bytes) -> list[int] | None:
        """_encode_raw, or None where the encoder itself refuses the bytes (MPE, a missing <0xNN> token)."""
        try:
            return self._encode_raw(data)
        except ValueError:
            return None

    def _encode_batch_lenient(self, datas: list[bytes]) -> list[list[int] | None]:
        """_encode_batch_raw, with None for the strings the encoder refuses (validity: never valid); one
        refusal sends the whole batch down the per-string path (also when the wrapped encoder is another
        ByteTokenizer's checked encode_batch, as in fim.fim_byte_tokenizer)."""
        try:
            return self._encode_batch_raw(datas)
        except ValueError:
            return [self._encode_lenient(d) for d in datas]

    def lossy_error(self, data: bytes, ids: Sequence[int]) -> ValueError:
        """The error for ids that do not decode to data: the unencodable bytes with their offsets when the
        loss starts at one (a dropped byte), else the first offset where the decoded bytes differ (a character
        outside a vocabulary without byte fallback, or one a normaliser rewrote)."""
        got = self.decode(ids)
        i = next((k for k, (a, b) in enumerate(zip(data, got)) if a != b), min(len(data), len(got)))
        bad = [(k, b) for k, b in enumerate(data) if b in self.unencodable_bytes]
        if bad and bad[0][0] == i:
            where = ", ".join(f"{b:#04x} at offset {k}" for k, b in bad[:8]) + (" ..." if len(bad) > 8 else "")
            return ValueError(
                f"{self.name or 'tokenizer'} has no token for byte(s) {where} "
                f"({len(bad)} in all); the encoding would drop them"
            )
        return ValueError(
            f"{self.name or 'tokenizer'} cannot encode {data[i : i + 8]!r} at offset {i}: "
            f"its tokens decode to {got[i : i + 8]!r} there"
        )

    def decode(self, ids: Iterable[int]) -> bytes:
        """Concatenated bytes of the tokens; special tokens (EOS included) contribute nothing."""
        return b"".join(map(self._bytes_or_empty.__getitem__, ids))

    def stable_boundary(self, data: bytes) -> int:
        """Offset B ≤ len(data) before which the tokenization of every extension of data is fixed (A1)."""
        return self._boundary_fn(data)

    def context_free_boundary(self, data: bytes) -> int:
        """A stable boundary after which which tokens are valid does not depend on the bytes before it, even for
        tokens that disagree with data (indent_boundary's is not: its last byte would join a longer run)."""
        return whitespace_boundary(data) if self._boundary_fn is indent_boundary else self._boundary_fn(data)

    def is_valid(self, ids: Sequence[int]) -> bool:
        """Canonical: encode(decode(ids)) == ids, ignoring a trailing EOS (A1 "Validity")."""
        ids = list(ids)
        if ids and ids[-1] == self.eos_id:
            ids = ids[:-1]
        if any(self.token_bytes[i] is None for i in ids):
            return False
        return self._encode_lenient(self.decode(ids)) == ids

    def is_prefix_valid(self, ids: Sequence[int]) -> bool:
        r"""ids is a prefix of the canonical encoding of some text: canonical, or a probe continuation y of
        its text (see probe_continuations) gives encode(decode(ids) + y)[:len(ids)] == ids.

        This is the validity the BTR lemma needs. For regex pre-tokenizers it is wider than is_valid, because
        the end of a text is a context of its own: GPT-2's `\s+(?!\S)` keeps a trailing whitespace run whole
        but splits off its last character once a non-space follows ("a␣␣" → [a, ␣␣] but "a␣␣(" → [a, ␣, ␣(]),
        and an unfinished UTF-8 character is not yet a letter, so canonical encodings are not prefix-closed."""
        ids = list(ids)
        if ids and ids[-1] == self.eos_id:
            return self.is_valid(ids)
        if self.is_valid(ids):
            return True
        data = self.decode(ids)
        encs = (self._encode_lenient(data + y) for y in self.probe_continuations(data))
        return any(e is not None and e[: len(ids)] == ids for e in encs)

    def probe_continuations(self, data: bytes) -> list[bytes]:
        """Continuations that realise the contexts the end of `data` can be in: PREFIX_PROBES after trailing
        whitespace, every next continuation byte (rest filled with 0x80) after an unfinished UTF-8 character;
        none for tokenizers without a regex pre-tokenizer (their canonical encodings are prefix-closed)."""
        if not self.prefix_probes or not data:
            return []
        if data[-1] in _WHITESPACE:
            return list(self.prefix_probes)
        need = _utf8_missing(data)
        if need:
            return [bytes([c]) + b"\x80" * (need - 1) for c in range(0x80, 0xC0)]
        return []

    # ---------------------------------------------------------------- indices
    def tokens_with_prefix(self, q: bytes) -> np.ndarray:
        """Ids of the byte tokens whose bytes start with q (all byte tokens for q = b"")."""
        lo = bisect.bisect_left(self._sorted_bytes, q)
        hi = lo
        n = len(self._sorted_bytes)
        while hi < n and self._sorted_bytes[hi].startswith(q):
            hi += 1
        return self._sorted_ids[lo:hi]

    @property
    def byte_matrix(self) -> np.ndarray:
        """(V, Lmax) int16: byte j of token i, −1 past its end (vectorised cover filtering)."""
        if self._byte_matrix is None:
            m = np.full((self.vocab_size, max(1, int(self.token_len.max()))), -1, dtype=np.int16)
            for i, tb in enumerate(self.token_bytes):
                if tb:
                    m[i, : len(tb)] = np.frombuffer(tb, dtype=np.uint8)
            self._byte_matrix = m
        return self._byte_matrix

    def local_context_start(self, tail: bytes) -> int:
        """Offset in `tail` (which starts at a stable boundary) from which appending bytes can change the
        encoding: the start of its last pre-token for regex pre-tokenizers, else 0 (see valid_next_mask)."""
        return self._local_start_fn(tail) if (self._local_start_fn is not None and tail) else 0

    def valid_next_mask(
        self, tail: bytes, tail_ids: Sequence[int] | None = None, candidates: np.ndarray | None = None
    ) -> np.ndarray:
        """(V,) bool: which candidate tokens t keep `tail_ids + [t]` prefix-valid (see is_prefix_valid), where
        `tail` = decode(tail_ids) starts at a stable boundary and tail_ids (default encode(tail)) is itself
        prefix-valid (the code's `isvalid` mask, A1). EOS is valid after a canonical tail, other special
        tokens never; tokens outside `candidates` (default: all) are reported False.

        Only the last pre-token of `tail` matters (a regex pre-tokenizer scans left to right without
        look-behind, so appending bytes can only change its last match), so results are cached per
        (last pre-token, its tokens)."""
        ids = list(self.encode(tail) if tail_ids is None else tail_ids)
        ls = self.local_context_start(tail)
        k, pos = 0, 0
        while pos < ls and k < len(ids):
            pos += len(self.token_bytes[ids[k]])
            k += 1
        if pos != ls:  # tokens do not align with the pre-token start: use the whole tail
            ls, k = 0, 0
        local, local_ids = bytes(tail[ls:]), tuple(ids[k:])
        key = (local, local_ids)
        entry = self._mask_cache.get(key)
        if entry is None:
            entry = (np.zeros(self.vocab_size, dtype=bool), np.zeros(self.vocab_size, dtype=bool))
            self._mask_cache[key] = entry
            if len(self._mask_cache) > self._mask_cache_size:
                self._mask_cache.popitem(last=False)
        else:
            self._mask_cache.move_to_end(key)
        checked, valid = entry
        cand = self.is_byte_token.copy()
        if candidates is not None:
            cand &= np.isin(np.arange(self.vocab_size), candidates)
        todo = np.flatnonzero(cand & ~checked)
        if len(todo):
            n, want = len(local_ids), list(local_ids)
            texts = [local + self.token_bytes[i] for i in todo]
            # unchecked encoder: a lossy encoding never equals want + [i], and e.g. a SentencePiece tail
            # ending in b"\xe2\x96" + <0x81> (U+2581, read back as a space) must give False, not raise
            encs = self._encode_batch_lenient(texts)
            ok = np.array(
                [
                    e is not None and len(e) == n + 1 and e[n] == i and e[:n] == want
                    for e, i in zip(encs, todo.tolist())
                ],
                dtype=bool,
            )
            retry = [(j, y) for j in np.flatnonzero(~ok) for y in self.probe_continuations(texts[j])]
            if retry:  # prefix of the canonical encoding of a longer text?
                encs = self._encode_batch_lenient([texts[j] + y for j, y in retry])
                for (j, _), e in zip(retry, encs):
                    if not ok[j] and e is not None and e[: n + 1] == want + [int(todo[j])]:
                        ok[j] = True
            valid[todo] = ok
            checked[todo] = True
        out = valid & cand
        if self.eos_id is not None:
            out[self.eos_id] = local_ids == tuple(self._encode_lenient(local) or ())  # ends canonically
        return out

    # ---------------------------------------------------------------- constructors
    @classmethod
    def from_encode_fn(
        cls,
        token_bytes: Sequence[bytes | None],
        encode_fn: Callable[[bytes], list[int]],
        eos_id: int | None,
        stable_boundary_fn: Callable[[bytes], int] | None = None,
        name: str = "custom",
    ) -> ByteTokenizer:
        """Any deterministic encoder; without a boundary function every validity check re-encodes from 0."""
        return cls(token_bytes, encode_fn, eos_id, stable_boundary_fn, name=name)

    @classmethod
    def mpe(cls, vocab: Sequence[bytes], eos: bool = True) -> ByteTokenizer:
        """Maximum-prefix encoding (greedy longest match) over `vocab`; EOS appended as the last id (A1)."""
        vocab = [bytes(v) for v in vocab]
        index = {v: i for i, v in enumerate(vocab)}
        max_len = max(map(len, vocab))

        def encode(data: bytes) -> list[int]:
            out, i = [], 0
            while i < len(data):
                for k in range(min(max_len, len(data) - i), 0, -1):
                    j = index.get(data[i : i + k])
                    if j is not None:
                        out.append(j)
                        i += k
                        break
                else:
                    raise ValueError(f"MPE vocabulary cannot encode byte {data[i]!r} at offset {i}")
            return out

        token_bytes: list[bytes | None] = list(vocab) + ([None] if eos else [])
        return cls(token_bytes, encode, len(vocab) if eos else None, no_boundary, name="mpe")

    @classmethod
    def from_hf(
        cls, tokenizer, eos_token: str | None = None, check_boundary: bool = True, special_tokens: Sequence[str] = ()
    ) -> ByteTokenizer:
        """Wrap a `tokenizers.Tokenizer` or a transformers fast tokenizer (byte-level BPE, SentencePiece-style
        BPE, or a plain model without pre-tokenizer). eos_token: the document-end token (default
        `<|endoftext|>` when present, else the tokenizer's eos token); special_tokens: more tokens that must
        never stand for bytes (e.g. FIM markers a vocabulary lists as ordinary pieces)."""
        return _from_hf(cls, tokenizer, eos_token, check_boundary, special_tokens)


# -------------------------------------------------------------------- Hugging Face adapters
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


def _from_hf(
    cls, tokenizer, eos_token: str | None, check_boundary: bool, special_tokens: Sequence[str] = ()
) -> ByteTokenizer:
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
    eos_id = _pick_eos(backend, tokenizer, eos_token)
    vocab_size = backend.get_vocab_size(with_added_tokens=True)
    special = {t["id"] for t in spec.get("added_tokens", []) if t.get("special", True)}
    for name in special_tokens:
        if backend.token_to_id(name) is None:
            raise ValueError(f"special token {name!r} is not in the tokenizer's vocabulary")
        special.add(backend.token_to_id(name))
    model = spec["model"]
    if model.get("unk_token") is not None and backend.token_to_id(model["unk_token"]) is not None:
        special.add(backend.token_to_id(model["unk_token"]))  # stands for lost text, never for "<unk>"

    token_bytes: list[bytes | None] = [None] * vocab_size
    if byte_level:
        inverse = {c: b for b, c in bytes_to_unicode().items()}
    for i in range(vocab_size):
        if i in special:
            continue
        s = backend.id_to_token(i)
        if s is None:
            continue
        if byte_level:
            token_bytes[i] = bytes(inverse[c] for c in s)
        elif sentencepiece:
            if len(s) == 6 and s.startswith("<0x") and s.endswith(">"):
                token_bytes[i] = bytes([int(s[3:5], 16)])
            else:
                token_bytes[i] = s.replace("\u2581", " ").encode("utf-8")
        else:
            token_bytes[i] = s.encode("utf-8")

    if sentencepiece:
        split, rule = None, "space"
    else:
        split, mapped, rule = _pre_tokenizer_fn(pre)
    to_unicode = bytes_to_unicode()
    hf_model = backend.model

    def encode_valid(text: str) -> list[int]:
        return backend.encode(text, add_special_tokens=False).ids

    fallback = [backend.token_to_id(f"<0x{b:02X}>") for b in range(256)]

    def encode(data: bytes) -> list[int]:
        try:
            return encode_valid(data.decode("utf-8"))
        except UnicodeDecodeError:
            pass
        return encode_sp(data) if sentencepiece else encode_emulated(data)

    def encode_sp(data: bytes) -> list[int]:
        """SentencePiece-style encoding of any bytes: valid UTF-8 runs through the HF tokenizer, each byte of
        an invalid or unfinished sequence as its <0xNN> token — what byte fallback does for a character
        outside the vocabulary (no merge involves a fallback piece, so runs tokenize independently)."""
        ids: list[int] = []
        pos = 0
        while pos < len(data):
            try:
                ids.extend(encode_valid(data[pos:].decode("utf-8")))
                break
            except UnicodeDecodeError as err:
                start, end = pos + err.start, pos + err.end
            if start > pos:
                ids.extend(encode_valid(data[pos:start].decode("utf-8")))
            for k in range(start, end):
                j = fallback[data[k]]
                if j is None:
                    raise ValueError(f"no byte-fallback token <0x{data[k]:02X}> for byte {data[k]:#04x} at offset {k}")
                ids.append(j)
            pos = end
        return ids

    def encode_emulated(data: bytes) -> list[int]:
        """Python pre-tokenizer + the HF BPE model per piece; defined for any bytes (lone bytes of a broken
        UTF-8 sequence act as punctuation). Agrees with the HF tokenizer on valid UTF-8 (tested)."""
        text = data.decode("utf-8", "surrogateescape")
        ids = []
        for piece in split(text):
            raw = piece.encode("utf-8", "surrogateescape")
            word = "".join(to_unicode[b] for b in raw) if byte_level else raw.decode("utf-8", "surrogateescape")
            ids.extend(t.id for t in hf_model.tokenize(word))
        return ids

    def encode_batch(datas: list[bytes]) -> list[list[int]]:
        texts, bad = [], []
        for k, d in enumerate(datas):
            try:
                texts.append(d.decode("utf-8"))
            except UnicodeDecodeError:
                texts.append("")
                bad.append(k)
        out = [e.ids for e in backend.encode_batch_fast(texts, add_special_tokens=False)]
        for k in bad:
            out[k] = encode(datas[k])
        return out

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
    local_start = None
    if split is not None and pre is not None and "(?<" not in pre_json and '"Removed"' not in pre_json:

        def local_start(tail: bytes) -> int:
            pieces = split(tail.decode("utf-8", "surrogateescape"))
            return len(tail) - len(pieces[-1].encode("utf-8", "surrogateescape")) if pieces else 0

    tok = cls(
        token_bytes,
        encode,
        eos_id,
        boundary,
        encode_batch,
        name=f"hf:{model.get('type', '?')}",
        local_start_fn=local_start,
        prefix_probes=PREFIX_PROBES if split is not None and pre else (),
    )
    tok.boundary_rule = boundary.__name__
    tok.hf_backend = backend
    if not sentencepiece:

        def encode_emulated_checked(data: bytes) -> list[int]:
            """encode_emulated with encode()'s round-trip check (ValueError on unencodable bytes)."""
            ids = encode_emulated(bytes(data))
            if tok.decode(ids) != data:
                raise tok.lossy_error(bytes(data), ids)
            return ids

    tok.encode_emulated = None if sentencepiece else encode_emulated_checked
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
