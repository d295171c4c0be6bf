"""The byte alphabet of the byte-level models: 256 bytes plus EOS, GPT-2's byte <-> unicode map, and the UTF-8
and whitespace facts the tokenizers and boundary rules use (docs/papers/bytelm.md "Objects")."""

from __future__ import annotations

from functools import lru_cache

__all__ = ["EOS", "N_SYMBOLS", "WHITESPACE", "WORD_START", "bytes_to_unicode", "utf8_missing"]

EOS = 256  # byte-alphabet id of end-of-document
N_SYMBOLS = 257  # 256 bytes + EOS

WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")
WORD_START = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")


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


def utf8_missing(data: bytes) -> int:
    """How many continuation bytes the UTF-8 character at the end of data still needs (0 if complete/invalid)."""
    for back in range(1, min(4, len(data)) + 1):
        c = data[-back]
        if 0x80 <= c < 0xC0:
            continue
        width = 2 if 0xC0 <= c < 0xE0 else 3 if 0xE0 <= c < 0xF0 else 4 if 0xF0 <= c < 0xF8 else 1
        return max(width - back, 0)
    return 0
