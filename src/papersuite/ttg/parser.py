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

from .phrasing import (
    CLAUSES,
    CURRENCIES,
    ITEM_FORMATS,
    MONTH_NAMES,
    NUMBER_WORDS,
    ORDER_SUFFIXES,
    PREFIXES,
    RANGE_FORMATS,
    TEENS,
    TENS,
    TYPOS,
    WEEKDAYS,
)
from .schema import DEFAULTS, DEPART_TIMES, SchemaError, resolve_month_day, validate_request

__all__ = ["ParseFailure", "parse_text"]


class ParseFailure(ValueError):
    """A sentence the template grammar does not cover; names the sentence."""


_MONTH = "|".join(
    sorted({m.lower() for m in MONTH_NAMES} | {m[:3].lower() for m in MONTH_NAMES}, key=len, reverse=True)
)
_WEEKDAY = "|".join(w.lower() for w in WEEKDAYS)
_DAY = r"\d{1,2}"
_ORD = r"\d{1,2}(?:st|nd|rd|th)"
_DATE = (
    rf"(?:(?:{_WEEKDAY}) )?(?:the {_ORD} of (?:{_MONTH})|(?:{_MONTH}) the {_ORD}|(?:{_MONTH}) {_ORD}"
    rf"|(?:{_MONTH}) {_DAY}|{_ORD} (?:{_MONTH})|{_DAY} (?:{_MONTH})|\d{{1,2}}/\d{{1,2}})"
)
_NUM = "(?:" + "|".join(NUMBER_WORDS[1:]) + r"|\d)"
_NIGHTS = rf"(?:a night|{_NUM} nights?)"


def _range_regex(template: str) -> str:
    """The regex of a night-range format of :data:`RANGE_FORMATS`."""
    slots = {"a": _NUM, "b": _NUM, "da": r"\d", "db": r"\d", "x": _NIGHTS}
    parts = re.split(r"\{(\w+)\}", template)
    return "".join(slots[p] if i % 2 else re.escape(p) for i, p in enumerate(parts))


_RANGE = "(?:" + "|".join(_range_regex(f[0]) for f in RANGE_FORMATS.values()) + ")"
_AMOUNT_WORD = "|".join([*NUMBER_WORDS[1:], *TEENS, *TENS[2:], "hundred", "thousand", "and"])
_WORDS = rf"(?:(?:{_AMOUNT_WORD})(?:[ -](?:{_AMOUNT_WORD}))*)"
_SIGNS = "".join(re.escape(sign) for sign, _ in CURRENCIES.values())
_CURRENCY_WORDS = "|".join(word for _, word in CURRENCIES.values())
_MONEY = (
    rf"(?:[{_SIGNS}][\d,]+|(?:usd|eur) [\d,]+|[\d,]+€|[\d,]+ (?:{_CURRENCY_WORDS}|usd|bucks)"
    rf"|{_WORDS} (?:{_CURRENCY_WORDS}))"
)
_BUCKET = "|".join(DEPART_TIMES)
_ORDER = "|".join(re.escape(t.text.lower()) for ts in ORDER_SUFFIXES.values() for t in ts if t.text)
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
_UNTYPO = {typo: word for table in TYPOS.values() for word, typos in table.items() for typo in typos}
_PREFIXES = tuple(p.lower() for p, _ in PREFIXES)
_CLAUSE_VALUE = {"travelers_one": 1, "travelers_two": 2}


def _amount_from_words(text: str) -> int:
    """1550 from "one thousand five hundred (and) fifty" (the inverse of phrasing.amount_words)."""
    total, group = 0, 0
    for word in re.split(r"[ -]", text):
        if word in NUMBER_WORDS:
            group += NUMBER_WORDS.index(word)
        elif word in TEENS:
            group += 10 + TEENS.index(word)
        elif word in TENS[2:]:
            group += 10 * TENS.index(word)
        elif word == "hundred":
            group *= 100
        elif word == "thousand":
            total, group = total + group * 1000, 0
    return total + group


def _number(text: str) -> int:
    text = text.strip()
    return NUMBER_WORDS.index(text) if text in NUMBER_WORDS else int(text)


def _money(text: str) -> int:
    digits = re.sub(r"[^\d]", "", text)
    return int(digits) if digits else _amount_from_words(text)


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
        text = re.sub(rf"^(?:{_WEEKDAY}) ", "", text)
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
    items = []
    for i, (fmt, _) in enumerate(ITEM_FORMATS.values()):
        parts = re.split(r"\{(\w+)\}", fmt)
        slot = {"city": f"(?P<c{i}>{city})", "range": f"(?P<r{i}>{_RANGE})"}
        items.append("".join(slot[p] if j % 2 else re.escape(p) for j, p in enumerate(parts)))
    return compiled, re.compile("|".join(items))


def _sentences(text: str) -> list[str]:
    """Lower-cased sentences and "; "-joined clauses, typos mapped back, discourse prefixes dropped."""
    text = re.sub(r"[a-z]+", lambda m: _UNTYPO.get(m.group(0), m.group(0)), text.strip().lower())
    out = []
    for sentence in re.split(r"(?<=[.!?;])\s+", text):
        body = sentence.strip().rstrip(".!?;")
        for prefix in _PREFIXES:
            if body.startswith(prefix):
                body = body[len(prefix) :]
                break
        if body:
            out.append(body)
    return out


def _destinations(g: dict, item: re.Pattern, by_lower: dict[str, str]) -> tuple[list[dict], str]:
    """The stays of a destinations slot, in order of mention, and the order they imply."""
    dests = []
    for it in item.finditer(g["dests"]):
        found = {k[0]: v for k, v in it.groupdict().items() if v is not None}
        lo, hi = _nights(found["r"])
        dests.append({"city": by_lower[found["c"]], "min_nights": lo, "max_nights": hi})
    suffix = g.get("order") or ""
    listed = any(suffix == t.text.lower() for t in ORDER_SUFFIXES["listed"]) or g["dests"].startswith("first ")
    return dests, "listed" if listed else "any"


def parse_text(text: str, cities: Iterable[str], base_date: str | dt.date) -> dict:
    """The request a template text encodes (destinations in order of mention).

    Raises ParseFailure naming a sentence outside the grammar, or SchemaError for an incomplete
    request (no origin, window or destination).
    """
    names = tuple(cities)
    by_lower = {c.lower(): c for c in names}
    clauses, item = _grammar(names)
    request: dict = dict(DEFAULTS)
    for body in _sentences(text):
        for clause, regex in clauses:  # noqa: B007 - read after the loop: the template that matched
            m = regex.match(body)
            if m:
                break
        else:
            raise ParseFailure(f"no template matches the sentence {body!r}")
        g = m.groupdict()
        if g.get("origin"):
            request["origin"] = by_lower[g["origin"]]
        if g.get("e"):
            request["earliest_departure"] = _date(g["e"], base_date)
        if g.get("l"):
            request["latest_return"] = _date(g["l"], base_date)
        if g.get("dests"):
            request["destinations"], request["order"] = _destinations(g, item, by_lower)
        if clause in _CLAUSE_VALUE:
            request["travelers"] = _CLAUSE_VALUE[clause]
        elif clause == "travelers_many":
            request["travelers"] = _number(g["n"])
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
