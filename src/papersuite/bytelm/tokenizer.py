"""Byte view of a tokenizer: token byte strings, canonical encoding, validity, stable boundary. Sections in quotes
refer to docs/papers/bytelm.md.

The byte alphabet is 0..255 plus EOS = 256 (alphabet.py). A token sequence t is *valid* (canonical) iff
`encode(decode(t)) == t` ("Validity"; the paper's token-induced zero probability: a tokenized process never
emits a non-canonical sequence). The *stable boundary* of a byte string x is an offset B such that for every
extension y, `encode(x + y) == encode(x[:B]) + encode((x + y)[B:])`: the tokens before B never change, so
validity only needs the part after B re-encoded ("Stable boundary", boundary.py).

Constructors:
  ByteTokenizer.from_hf          — Hugging Face byte-level BPE (GPT-2 / SmolLM2 style, bytes↔unicode map),
                                   SentencePiece-style BPE (▁ for space, <0xNN> byte fallback), or a plain
                                   `tokenizers` model without pre-tokenizer (token strings are the bytes);
                                   built by hf_tokenizer.py;
  ByteTokenizer.mpe              — maximum-prefix encoding (greedy longest match, "Objects");
  ByteTokenizer.from_encode_fn   — any encode function.
The boundary rule of from_hf is checked on probe strings at construction and weakened (whitespace →
space only → none) until it holds, so a tokenizer whose pre-tokenizer joins e.g. ":\n" stays exact.

encode/encode_batch raise ValueError when the ids would not decode to the input (a byte with no token of its
own, e.g. 21 byte values in SmolLM2's vocabulary, which the HF tokenizer silently drops); validity checks
use the unchecked encoder, since a lossy encoding simply never equals the ids being checked.

The alphabet and boundary names are re-exported here (EOS, N_SYMBOLS, bytes_to_unicode, the boundary rules,
check_stable_boundary and the probes), so `from papersuite.bytelm.tokenizer import EOS` keeps working.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from .alphabet import EOS, N_SYMBOLS, WHITESPACE, bytes_to_unicode, utf8_missing
from .boundary import (
    BOUNDARY_PROBES,
    PREFIX_PROBES,
    check_stable_boundary,
    indent_boundary,
    no_boundary,
    space_boundary,
    whitespace_boundary,
)

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


class ByteTokenizer:
    """Tokens as byte strings with a canonical encoder, a first-byte index and a prefix search ("Objects")."""

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
        """Offset B ≤ len(data) before which the tokenization of every extension of data is fixed
        ("Stable boundary")."""
        return self._boundary_fn(data)

    def context_free_boundary(self, data: bytes) -> int:
        """A stable boundary after which which tokens are valid does not depend on the bytes before it, even for
        tokens that disagree with data (indent_boundary's is not: its last byte would join a longer run)."""
        return whitespace_boundary(data) if self._boundary_fn is indent_boundary else self._boundary_fn(data)

    def is_valid(self, ids: Sequence[int]) -> bool:
        """Canonical: encode(decode(ids)) == ids, ignoring a trailing EOS ("Validity")."""
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
        if data[-1] in WHITESPACE:
            return list(self.prefix_probes)
        need = utf8_missing(data)
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
        prefix-valid (the original code's `isvalid` mask, "Validity"). EOS is valid after a canonical tail, other
        special tokens never; tokens outside `candidates` (default: all) are reported False.

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
        if candidates is None:
            cand = self.is_byte_token.copy()
        else:
            cand = np.zeros(self.vocab_size, dtype=bool)
            cand[candidates] = True
            cand &= self.is_byte_token
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
        """Maximum-prefix encoding (greedy longest match) over `vocab`; EOS appended as the last id ("Objects")."""
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
        from .hf_tokenizer import from_hf

        return from_hf(cls, tokenizer, eos_token, check_boundary, special_tokens)
