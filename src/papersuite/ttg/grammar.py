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


def allowed_next(prefix: Sequence[str], cities: Sequence[str], max_destinations: int = 4) -> set[str]:
    """Tokens allowed after ``prefix`` (lower-case city tokens in ``cities``); ``END`` marks the end."""
    toks = list(prefix)
    pos = 0

    def take(allowed: set[str]) -> str:
        nonlocal pos
        if pos == len(toks):
            raise _Done(allowed)
        tok = toks[pos]
        pos += 1
        if tok not in allowed:
            raise _Done(set())  # off-grammar prefix (cannot happen under the constraint)
        return tok

    def peek(allowed: set[str]) -> str:
        if pos == len(toks):
            raise _Done(allowed)
        return toks[pos]

    def number(first: set[str], more: set[str], then: str, max_len: int) -> None:
        nonlocal pos
        take(first)
        for _ in range(max_len - 1):
            if peek(more | {then}) == then:
                break
            take(more)
        take({then})

    def day(month: str, then: str, after: int = 0) -> int:
        """One or two day digits of a real day of ``month`` later than ``after``, then ``then``."""
        valid = [str(d) for d in range(after + 1, DAYS_IN_MONTH[MONTHS.index(month)] + 1)]
        if not valid:
            raise _Done(set())
        d1 = take({v[0] for v in valid})
        second = {v[1] for v in valid if len(v) == 2 and v[0] == d1}
        ends = d1 in valid
        if second and peek(second | ({then} if ends else set())) != then:
            d1 += take(second)
        take({then})
        return int(d1)

    try:
        take({"from"})
        origin = take(set(cities))
        take({"leave"})
        leave_month = take(set(MONTHS))
        leave_day = day(leave_month, "back")
        back_month = take(
            set(MONTHS) if leave_day < DAYS_IN_MONTH[MONTHS.index(leave_month)] else set(MONTHS) - {leave_month}
        )
        day(back_month, "to", leave_day if back_month == leave_month else 0)
        listed: list[str] = []
        while True:
            free = set(cities) - {origin} - set(listed)
            options = free if len(listed) < max_destinations else set()
            if listed:
                options = options | {"order"}
            tok = take(options)
            if tok == "order":
                break
            listed.append(tok)
            lo = take(set(NONZERO))
            take({d for d in NONZERO if d >= lo})
        take({"any", "listed"} if len(listed) > 1 else {"any"})
        take({"people"})
        take(set(NONZERO))
        take({"budget"})
        if peek({"none"} | set(NONZERO)) == "none":
            take({"none"})
            take({"stars"})
        else:
            number(set(NONZERO), set(DIGITS), "stars", 6)
        take({"none", "1", "2", "3", "4", "5"})
        take({"hotelmax"})
        if peek({"none"} | set(NONZERO)) == "none":
            take({"none"})
            take({"nonstop"})
        else:
            number(set(NONZERO), set(DIGITS), "nonstop", 5)
        take({"yes", "no"})
        take({"time"})
        take({"none", *DEPART_TIMES})
        take({END})
        return set()
    except _Done as done:
        return done.allowed
