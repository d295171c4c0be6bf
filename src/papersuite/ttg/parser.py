"""Rule-based parser of template NL: proves the targets are recoverable from the text
(``docs/papers/ttg.md``, "Known answers").

It aligns each sentence with the clause templates of :mod:`papersuite.ttg.render` (in-template and
held-out ones), reads the slot values with the value formats' grammars, and assembles the request
with the destinations in order of mention. On any rendering it must give exact match 1; it also
serves as the "rule_parser" row of the evaluation (an upper bound that knows the grammar). It is
not a general English parser: a sentence outside the grammar raises :class:`ParseFailure`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from functools import lru_cache

from .render import CLAUSES, MONTH_NAMES, NUMBER_WORDS, ORDER_SUFFIXES
from .schema import DEFAULTS, DEPART_TIMES, SchemaError, resolve_month_day, validate_request

__all__ = ["ParseFailure", "parse_text"]


class ParseFailure(ValueError):
    """A sentence the template grammar does not cover; names the sentence."""


_MONTH = "|".join(
    sorted({m.lower() for m in MONTH_NAMES} | {m[:3].lower() for m in MONTH_NAMES}, key=len, reverse=True)
)
_DAY = r"\d{1,2}"
_ORD = r"\d{1,2}(?:st|nd|rd|th)"
_DATE = (
    rf"(?:the {_ORD} of (?:{_MONTH})|(?:{_MONTH}) {_ORD}|(?:{_MONTH}) {_DAY}|{_ORD} (?:{_MONTH})"
    rf"|{_DAY} (?:{_MONTH})|\d{{1,2}}/\d{{1,2}})"
)
_NUM = "(?:" + "|".join(NUMBER_WORDS[1:]) + r"|\d)"
_NIGHTS = rf"(?:a night|{_NUM} nights?)"
_RANGE = (
    rf"(?:\d-\d nights|{_NUM} to {_NUM} nights|between {_NUM} and {_NUM} nights|exactly {_NIGHTS}"
    rf"|at least {_NUM} and at most {_NUM} nights|{_NUM} up to {_NUM} nights|precisely {_NIGHTS}|{_NIGHTS})"
)
_MONEY = r"(?:\$[\d,]+|[\d,]+ dollars|[\d,]+ usd|[\d,]+ bucks|usd [\d,]+)"
_BUCKET = "|".join(DEPART_TIMES)
_ORDER = "|".join(re.escape(t.text) for ts in ORDER_SUFFIXES.values() for t in ts if t.text)
_SLOTS = {
    "e": _DATE,
    "l": _DATE,
    "n": _NUM,
    "money": _MONEY,
    "s": _NUM,
    "bucket": _BUCKET,
    "dests": ".+?",
    "order": f"(?:{_ORDER})?",
}


def _number(text: str) -> int:
    text = text.strip()
    return NUMBER_WORDS.index(text) if text in NUMBER_WORDS else int(text)


def _money(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def _month(text: str) -> int:
    for i, name in enumerate(MONTH_NAMES):
        if text in (name.lower(), name[:3].lower()):
            return i + 1
    raise ParseFailure(f"not a month: {text!r}")


def _date(text: str, base_date: str | dt.date) -> str:
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})", text)
    if m:
        month, day = int(m.group(1)), int(m.group(2))
    else:
        day_m = re.search(r"\d{1,2}", text)
        month_m = re.search(_MONTH, re.sub(_ORD, "", text))
        if day_m is None or month_m is None:
            raise ParseFailure(f"not a date: {text!r}")
        month, day = _month(month_m.group(0)), int(day_m.group(0))
    return resolve_month_day(month, day, base_date)


def _nights(text: str) -> tuple[int, int]:
    nums = [_number(t) for t in re.findall(rf"\b{_NUM}\b", re.sub(r"\bnights?\b", "", text.replace("-", " ")))]
    if text.startswith("a night") or text.endswith("a night"):
        nums = [1]
    if len(nums) == 1:
        return nums[0], nums[0]
    if len(nums) == 2:
        return nums[0], nums[1]
    raise ParseFailure(f"not a night range: {text!r}")


@lru_cache(maxsize=8)
def _grammar(cities: tuple[str, ...]):
    city = "|".join(sorted((re.escape(c.lower()) for c in cities), key=len, reverse=True))
    slots = {**_SLOTS, "origin": f"(?:{city})"}
    compiled = []
    for clause, templates in CLAUSES.items():
        for t in templates:
            pattern, pos = "", 0
            for m in re.finditer(r"\{(\w+)\}", t.text):
                pattern += re.escape(t.text[pos : m.start()].lower())
                pattern += f"(?P<{m.group(1)}>{slots[m.group(1)]})"
                pos = m.end()
            pattern += re.escape(t.text[pos:].lower())
            compiled.append((clause, re.compile(pattern + "$")))
    item = re.compile(
        rf"(?P<c1>{city}) for (?P<r1>{_RANGE})|(?P<r2>{_RANGE}) in (?P<c2>{city})"
        rf"|(?P<c3>{city}) \((?P<r3>{_RANGE})\)"
    )
    return compiled, item


def parse_text(text: str, cities: Iterable[str], base_date: str | dt.date) -> dict:
    """The request a template text encodes (destinations in order of mention).

    Raises ParseFailure naming a sentence outside the grammar, or SchemaError for an incomplete
    request (no origin, window or destination).
    """
    names = tuple(cities)
    by_lower = {c.lower(): c for c in names}
    clauses, item = _grammar(names)
    request: dict = dict(DEFAULTS)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip().lower()) if s.strip()]
    for sentence in sentences:
        body = sentence.rstrip(".!?")
        for clause, regex in clauses:  # noqa: B007 - read after the loop: the template that matched
            m = regex.match(body)
            if m:
                break
        else:
            raise ParseFailure(f"no template matches the sentence {sentence!r}")
        g = m.groupdict()
        if clause == "origin":
            request["origin"] = by_lower[g["origin"]]
        elif clause == "window":
            request["earliest_departure"] = _date(g["e"], base_date)
            request["latest_return"] = _date(g["l"], base_date)
        elif clause == "destinations":
            dests = []
            for it in item.finditer(g["dests"]):
                city = it.group("c1") or it.group("c2") or it.group("c3")
                lo, hi = _nights(it.group("r1") or it.group("r2") or it.group("r3"))
                dests.append({"city": by_lower[city], "min_nights": lo, "max_nights": hi})
            request["destinations"] = dests
            suffix = g.get("order") or ""
            request["order"] = "listed" if any(suffix == t.text.lower() for t in ORDER_SUFFIXES["listed"]) else "any"
        elif clause == "travelers_many":
            request["travelers"] = _number(g["n"])
        elif clause == "travelers_one":
            request["travelers"] = 1
        elif clause == "budget":
            request["budget"] = _money(g["money"])
        elif clause == "stars":
            request["hotel_min_stars"] = _number(g["s"])
        elif clause == "hotel_cap":
            request["hotel_max_price"] = _money(g["money"])
        elif clause == "nonstop":
            request["nonstop_only"] = True
        elif clause == "depart_time":
            request["depart_time"] = g["bucket"]
    try:
        return validate_request(request, names)
    except SchemaError as exc:
        raise ParseFailure(f"incomplete request: {exc}") from None
