"""What the planner understood, field by field: which fields the text states, which were filled by default,
which it cannot find in the text, and where the rule parser reads the text differently.

A field is *stated* when the text carries evidence of its value (the city's name, the date's day and month, the
number of travellers, the budget's digits, a star count next to "star", "nonstop"/"direct", the time of day,
"first ... then" for an order); *default* when its value is the schema's default and the text says nothing
about the field at all (no party words for the travellers, no "budget", no "stars", ...); *unsure* otherwise:
a value the text does not show, which the person should check
(docs/papers/ttg.md, "The planner").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .render import NUMBER_WORDS
from .schema import DEFAULTS, FIELDS, canonicalize

__all__ = ["date_said", "field_report", "impossible_window", "looks_english", "rule_reading", "stated"]

_PARTY_WORDS = r"\b(we|us|our|couple|partner|wife|husband|family|friends|colleagues|kids|children|adults|people)\b"
_ORDER_WORDS = r"\b(first|then|afterwards|after that|in (this|that) order|followed by)\b|->"
_NONSTOP_WORDS = r"\b(non-?stop|direct)\b"
_SOLO_WORDS = r"\b(solo|alone|single traveller|just me|(one|1) (traveller|traveler|person|adult))\b"
# Words by which a text talks about an optional field at all: a default value there is a misreading to check.
_MENTIONS = {
    "order": _ORDER_WORDS,
    "travelers": _PARTY_WORDS + r"|\b\d+ (travell?ers|persons|adults)\b",
    "budget": r"\b(budget|spending|in total|all in|for the whole trip)\b|\bspend\b(?!\s+\S+\s+nights?\b)",
    "hotel_min_stars": r"\bstars?\b",
    "hotel_max_price": r"\b(a|per) night\b",
    "nonstop_only": _NONSTOP_WORDS,
    "depart_time": r"\b(morning|afternoon|evening)\b",
}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def _number_said(n: int, text: str) -> bool:
    """The number n in digits (thousands separators allowed) or, up to twelve, as a word."""
    low = text.lower().replace(",", "")
    if re.search(rf"(?<![\d.]){n}(?![\d])", low):
        return True
    return n < len(NUMBER_WORDS) and re.search(rf"\b{NUMBER_WORDS[n]}\b", low) is not None


def date_said(iso: str, text: str) -> bool:
    """The date's day number and its month (by name or abbreviation), or month/day."""
    d = dt.date.fromisoformat(iso)
    low = text.lower()
    month = d.strftime("%B").lower()
    if re.search(rf"\b{d.month}/{d.day}\b", low):
        return True
    has_day = re.search(rf"\b{d.day}(st|nd|rd|th)?\b", low) is not None
    return has_day and re.search(rf"\b({month}|{month[:3]})\b", low) is not None


def _stay_said(stay: Mapping[str, Any], text: str) -> bool:
    """The city is named and its nights are (both ends of a range; "a week" for 7)."""
    if stay["city"].lower() not in _words(text):
        return False
    if stay["min_nights"] == stay["max_nights"] == 7 and re.search(r"\ba week\b", text.lower()):
        return True
    return _number_said(stay["min_nights"], text) and _number_said(stay["max_nights"], text)


def stated(field: str, value: Any, text: str) -> bool:
    """Does the text carry evidence of this field's value?"""
    low = text.lower()
    if field == "origin":
        return value.lower() in _words(text)
    if field in ("earliest_departure", "latest_return"):
        return date_said(value, text)
    if field == "destinations":
        return all(_stay_said(d, text) for d in value)
    if field == "order":
        return re.search(_ORDER_WORDS, low) is not None if value == "listed" else "order" in low
    if field == "travelers":
        if value == 1:
            return re.search(_SOLO_WORDS, low) is not None
        return _number_said(value, text) or re.search(_PARTY_WORDS, low) is not None
    if field in ("budget", "hotel_max_price"):
        return value is not None and _number_said(value, text)
    if field == "hotel_min_stars":
        star = rf"(\b{value}|\b{NUMBER_WORDS[value]})\s*-?\s*stars?" if value is not None else None
        return star is not None and re.search(star, low) is not None
    if field == "nonstop_only":
        return re.search(_NONSTOP_WORDS, low) is not None
    if field == "depart_time":
        return value is not None and value in low
    raise ValueError(f"unknown field {field!r}; fields are {list(FIELDS)}")


def rule_reading(text: str, cities: Iterable[str], base_date: str) -> dict | None:
    """The rule parser's canonical request for the text, or None where its template grammar does not cover it."""
    from .parser import ParseFailure, parse_text
    from .schema import SchemaError

    try:
        return canonicalize(parse_text(text, cities, base_date))
    except (ParseFailure, SchemaError):
        return None


def field_report(text: str, request: Mapping[str, Any], rule: Mapping[str, Any] | None = None) -> dict[str, dict]:
    """Per field: {"value", "source": stated | default | unsure, and "rule_parser": its value where the rule
    parser read the text and disagrees}."""
    canonical = canonicalize(request)
    rule_canonical = canonicalize(rule) if rule is not None else None
    report: dict[str, dict] = {}
    for field in FIELDS:
        value = canonical[field]
        if stated(field, value, text):
            source = "stated"
        elif field in DEFAULTS and value == DEFAULTS[field] and not re.search(_MENTIONS[field], text.lower()):
            source = "default"
        else:
            source = "unsure"
        entry = {"value": value, "source": source}
        if rule_canonical is not None and rule_canonical[field] != value:
            entry["rule_parser"] = rule_canonical[field]
        report[field] = entry
    return report


# Common English words of travel requests: a text without them is taken for another language (the translator
# knows template English only).
_ENGLISH = frozenset(
    re.findall(
        r"\w+",
        "i we me us my our you the a an to in for from and or of on at by with want would like need go going fly "
        "visit see stay travel trip leave back return home nights night days day week people between before after "
        "under budget hotel hotels please can could is are",
    )
)
_MONTH_NUMBER = {m: i + 1 for i, m in enumerate(dt.date(2025, k, 1).strftime("%B").lower() for k in range(1, 13))}
_MONTH_NUMBER.update({m[:3]: n for m, n in list(_MONTH_NUMBER.items())})
_MONTH_RE = "|".join(sorted(_MONTH_NUMBER, key=len, reverse=True))
_NUM_RE = r"\d+|" + "|".join(NUMBER_WORDS[1:])


def looks_english(text: str, cities: Iterable[str]) -> bool:
    """False for a text of three or more words (city names aside) with no common English word, or with only one
    in five or more words (a Spanish "a" is not English)."""
    names = {c.lower() for c in cities}
    words = [w for w in re.findall(r"[^\W\d_]+", text.lower()) if w not in names]
    english = sum(w in _ENGLISH for w in words)
    return len(words) < 3 or english >= (2 if len(words) >= 5 else 1)


def _dates(text: str, year: int) -> list[dt.date]:
    """The distinct calendar dates a text names as "June 10", "10 June" or "the 10th of June", sorted."""
    low = text.lower()
    found = set()
    patterns = (
        rf"\b(?P<m>{_MONTH_RE}) (?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b",
        rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?: of)? (?P<m>{_MONTH_RE})\b",
    )
    for pattern in patterns:
        for m in re.finditer(pattern, low):
            with contextlib.suppress(ValueError):
                found.add(dt.date(year, _MONTH_NUMBER[m["m"]], int(m["d"])))
    return sorted(found)


def _number(token: str) -> int:
    return int(token) if token.isdigit() else NUMBER_WORDS.index(token)


_N = rf"({_NUM_RE})"
# A range of nights, read as its lower end: "between 2 and 4 nights", "at least 1 and at most 3 nights",
# "2 up to 4 nights", "min 2 max 4 nights", "2-4 nights", "2 to 4 nights", "3 or 4 nights".
_NIGHT_RANGES = (
    rf"\bmin {_N} max {_N} nights?\b",
    rf"\bbetween {_N} and {_N} nights?\b",
    rf"\bat least {_N} and at most {_N} nights?\b",
    rf"\b{_N} up to {_N} nights?\b",
    rf"\b{_N}\s*(?:-|to|or)\s*{_N}[ -]nights?\b",
)


def _nights(text: str) -> int:
    """The fewest nights a text asks for, summed over its stays: ranges by their lower end, "for a night" and "a
    week" (7) included."""
    low = text.lower()
    total = 0
    for pattern in _NIGHT_RANGES:
        total += sum(_number(m[1]) for m in re.finditer(pattern, low))
        low = re.sub(pattern, " ", low)
    total += sum(_number(m[1]) for m in re.finditer(rf"\b{_N}[ -]nights?\b", low))
    # "for a night" is a stay; "120 a night" is a hotel price
    total += len(re.findall(r"\bfor a night\b", low)) + 7 * len(re.findall(r"\ba week\b", low))
    return total


def impossible_window(text: str, base_date: str) -> str | None:
    """Why a text's own numbers cannot be met, or None: two dates named and more nights asked than days between."""
    dates = _dates(text, dt.date.fromisoformat(str(base_date)).year)
    if len(dates) != 2:
        return None
    nights, days = _nights(text), (dates[1] - dates[0]).days
    if nights > days:
        return f"{nights} nights do not fit between {dates[0]:%B} {dates[0].day} and {dates[1]:%B} {dates[1].day}"
    return None
