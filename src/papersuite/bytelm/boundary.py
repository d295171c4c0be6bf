"""Stable boundaries of byte strings, and the probe strings that check a boundary rule against a tokenizer
(docs/papers/bytelm.md "Stable boundary").

A stable boundary of a byte string x is an offset B such that for every extension y,
`encode(x + y) == encode(x[:B]) + encode((x + y)[B:])`: the tokens before B never change, so validity only
needs the part after B re-encoded. `ByteTokenizer.from_hf` keeps the first rule of indent_boundary →
whitespace_boundary → space_boundary → no_boundary that check_stable_boundary accepts on every prefix of
BOUNDARY_PROBES.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .alphabet import WHITESPACE, WORD_START

__all__ = [
    "BOUNDARY_PROBES",
    "PREFIX_PROBES",
    "check_stable_boundary",
    "indent_boundary",
    "no_boundary",
    "space_boundary",
    "whitespace_boundary",
]

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


def whitespace_boundary(data: bytes) -> int:
    """Offset of the last whitespace byte that follows a non-whitespace byte, 0 if none (the original code's
    `div_enc`)."""
    for i in range(len(data) - 1, 0, -1):
        if data[i] in WHITESPACE and data[i - 1] not in WHITESPACE:
            return i
    return 0


def indent_boundary(data: bytes) -> int:
    r"""whitespace_boundary, or later: the offset of the last byte of the last whitespace run that an ASCII letter
    or "_" follows. GPT-2-style `\s+(?!\S)` ends such a run's piece one byte early and that byte starts the
    word's piece, so a code line's indentation falls before the boundary (fewer covers to track)."""
    b = whitespace_boundary(data)
    for i in range(len(data) - 2, b, -1):
        if data[i] in WHITESPACE and data[i + 1] in WORD_START:
            return i
    return b


def space_boundary(data: bytes) -> int:
    """Offset of the last ASCII space that follows a non-whitespace byte, 0 if none (conservative rule)."""
    i = len(data)
    while True:
        i = data.rfind(b" ", 0, i)
        if i <= 0:
            return 0
        if data[i - 1] not in WHITESPACE:
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
