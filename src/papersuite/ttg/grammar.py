"""Grammar of the linearised target, for constrained decoding of the translator.

At each decoding step only the tokens that can continue a well-formed request are allowed: keys in
their fixed order, a month after "leave"/"back", one or two day digits, a city (one the request
mentions, when it mentions any; never the origin or a city already listed), two night digits with
max ≥ min, a real day of the month, a return later than the departure within one month, the value
sets of order/stars/nonstop/time, then the end. Every output therefore parses, except for a
return month before the departure month (taken as the next year) or 29 February. This is our addition for the
planner and a second evaluation row ("translator_constrained"); the paper's decoding is not known.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .schema import DEPART_TIMES, MONTHS

__all__ = ["allowed_next", "mentioned_cities"]

DIGITS = tuple(str(d) for d in range(10))
DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
NONZERO = DIGITS[1:]
END = "<end>"


class _Done(Exception):
    def __init__(self, allowed: set[str]):
        self.allowed = allowed


def mentioned_cities(text: str, cities: Iterable[str]) -> list[str]:
    """Known cities named in ``text`` (case-insensitive, whole words), lower-case."""
    import re

    words = set(re.findall(r"[a-z]+", text.lower()))
    return [c.lower() for c in cities if c.lower() in words]


class _Cursor:
    """Walks a prefix token by token; at its end, :class:`_Done` carries the tokens allowed next."""

    def __init__(self, tokens: Sequence[str]):
        self.tokens = list(tokens)
        self.pos = 0

    def take(self, allowed: set[str]) -> str:
        if self.pos == len(self.tokens):
            raise _Done(allowed)
        tok = self.tokens[self.pos]
        self.pos += 1
        if tok not in allowed:
            raise _Done(set())  # off-grammar prefix (cannot happen under the constraint)
        return tok

    def peek(self, allowed: set[str]) -> str:
        if self.pos == len(self.tokens):
            raise _Done(allowed)
        return self.tokens[self.pos]

    def number(self, first: set[str], more: set[str], then: str, max_len: int) -> None:
        self.take(first)
        for _ in range(max_len - 1):
            if self.peek(more | {then}) == then:
                break
            self.take(more)
        self.take({then})

    def day(self, month: str, then: str, after: int = 0) -> int:
        """One or two day digits of a real day of ``month`` later than ``after``, then ``then``."""
        valid = [str(d) for d in range(after + 1, DAYS_IN_MONTH[MONTHS.index(month)] + 1)]
        if not valid:
            raise _Done(set())
        d1 = self.take({v[0] for v in valid})
        second = {v[1] for v in valid if len(v) == 2 and v[0] == d1}
        ends = d1 in valid
        if second and self.peek(second | ({then} if ends else set())) != then:
            d1 += self.take(second)
        self.take({then})
        return int(d1)


def _dates(cur: _Cursor) -> None:
    """leave <month> <day> back <month> <day> to: a real return day after the departure."""
    cur.take({"leave"})
    leave_month = cur.take(set(MONTHS))
    leave_day = cur.day(leave_month, "back")
    back_month = cur.take(
        set(MONTHS) if leave_day < DAYS_IN_MONTH[MONTHS.index(leave_month)] else set(MONTHS) - {leave_month}
    )
    cur.day(back_month, "to", leave_day if back_month == leave_month else 0)


def _destinations(cur: _Cursor, cities: Sequence[str], origin: str, max_destinations: int) -> list[str]:
    """<city> <min nights> <max nights> ... until "order": new cities only, max ≥ min."""
    listed: list[str] = []
    while True:
        free = set(cities) - {origin} - set(listed)
        options = free if len(listed) < max_destinations else set()
        if listed:
            options = options | {"order"}
        tok = cur.take(options)
        if tok == "order":
            return listed
        listed.append(tok)
        lo = cur.take(set(NONZERO))
        cur.take({d for d in NONZERO if d >= lo})


def _preferences(cur: _Cursor, listed: list[str]) -> None:
    """The order value, then people, budget, stars, hotelmax, nonstop and time, then the end."""
    cur.take({"any", "listed"} if len(listed) > 1 else {"any"})
    cur.take({"people"})
    cur.take(set(NONZERO))
    cur.take({"budget"})
    if cur.peek({"none"} | set(NONZERO)) == "none":
        cur.take({"none"})
        cur.take({"stars"})
    else:
        cur.number(set(NONZERO), set(DIGITS), "stars", 6)
    cur.take({"none", "1", "2", "3", "4", "5"})
    cur.take({"hotelmax"})
    if cur.peek({"none"} | set(NONZERO)) == "none":
        cur.take({"none"})
        cur.take({"nonstop"})
    else:
        cur.number(set(NONZERO), set(DIGITS), "nonstop", 5)
    cur.take({"yes", "no"})
    cur.take({"time"})
    cur.take({"none", *DEPART_TIMES})
    cur.take({END})


def allowed_next(prefix: Sequence[str], cities: Sequence[str], max_destinations: int = 4) -> set[str]:
    """Tokens allowed after ``prefix`` (lower-case city tokens in ``cities``); ``END`` marks the end."""
    cur = _Cursor(prefix)
    try:
        cur.take({"from"})
        origin = cur.take(set(cities))
        _dates(cur)
        listed = _destinations(cur, cities, origin, max_destinations)
        _preferences(cur, listed)
        return set()
    except _Done as done:
        return done.allowed
