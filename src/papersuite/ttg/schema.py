"""The symbolic travel request: canonical form, equality, and the linearised translator target.

[recon] The abstract only gives the scope (flights, accommodation, budget, travel preferences as
JSON); ``docs/papers/ttg.md`` ("Symbolic schema") gives the full reconstruction and this is the
subset our MILP consumes. Field names are stable: exact match is computed over them.

    origin              home city; the trip starts and ends there (return_to_origin is always true)
    earliest_departure  ISO date: no flight before it
    latest_return       ISO date: back home on or before it
    destinations        [{city, min_nights, max_nights}], in order of mention
    order               "any" or "listed" (visit in the listed order)
    travelers           party size: fares are per traveller, hotel rooms take two travellers
    budget              total cost cap or null
    hotel_min_stars     null or 1..5
    hotel_max_price     price cap per room and night, or null
    nonstop_only        bool
    depart_time         null or a departure bucket: morning | afternoon | evening (every flight)

The objective is always the minimum total cost ("min_total_cost", the default objective of the
reconstructed schema).

Canonical form (``docs/papers/ttg.md``, "Metrics"): values normalised, and ``destinations`` sorted
by city when ``order`` is "any" (an order-free field compares as a multiset), kept in mention order
when "listed".

Linearisation: the translator's target is a compact key–value token string with every field in a
fixed order and the destinations in order of mention, e.g.

    from paris leave jun 5 back jun 1 8 to rome 2 4 berlin 3 3 order any people 2
    budget 1 5 0 0 stars 4 hotelmax none nonstop no time morning

(Leaving default fields out shortens the target by a third but learned slower at tiny: 0.50 vs 0.70
EM after 12 epochs.)

Digits are single tokens (the tokenizer splits them), nights are single digits (≤ 9).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "DEFAULTS",
    "FIELDS",
    "MONTHS",
    "ORDERS",
    "SchemaError",
    "canonicalize",
    "delinearize",
    "exact_match",
    "field_matches",
    "linearize",
    "validate_request",
]

FIELDS = (
    "origin",
    "earliest_departure",
    "latest_return",
    "destinations",
    "order",
    "travelers",
    "budget",
    "hotel_min_stars",
    "hotel_max_price",
    "nonstop_only",
    "depart_time",
)
# The values validate_request gives the optional fields a request leaves out.
DEFAULTS: dict[str, Any] = {
    "order": "any",
    "travelers": 1,
    "budget": None,
    "hotel_min_stars": None,
    "hotel_max_price": None,
    "nonstop_only": False,
    "depart_time": None,
}
ORDERS = ("any", "listed")
DEPART_TIMES = ("morning", "afternoon", "evening")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MAX_NIGHTS = 9
MAX_TRAVELERS = 9
# keywords of the linearised target after the destinations, in field order
_KEYS = ("order", "people", "budget", "stars", "hotelmax", "nonstop", "time")


class SchemaError(ValueError):
    """A request (or a translator output) that is not a valid symbolic request; says which field."""


def _int(value: Any, name: str, lo: int, hi: int | None = None, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise SchemaError(f"{name}: expected an integer, got {value!r}")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        raise SchemaError(f"{name}: {value} is outside {lo}..{hi if hi is not None else '∞'}")
    return value


def _date(value: Any, name: str) -> str:
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise SchemaError(f"{name}: not an ISO date: {value!r}") from None


def validate_request(request: Mapping[str, Any], cities: Iterable[str] | None = None) -> dict:
    """A normalised copy of ``request`` (every field present); SchemaError names the bad field.

    ``cities``, when given, is the set of known city names.
    """
    if not isinstance(request, Mapping):
        raise SchemaError(f"a request must be a mapping, got {type(request).__name__}")
    unknown = sorted(set(request) - set(FIELDS))
    if unknown:
        raise SchemaError(f"unknown field(s) {unknown}; fields are {list(FIELDS)}")
    missing = [f for f in ("origin", "earliest_departure", "latest_return", "destinations") if f not in request]
    if missing:
        raise SchemaError(f"missing field(s) {missing}")
    known = set(cities) if cities is not None else None
    out: dict[str, Any] = {}
    origin = request["origin"]
    if not isinstance(origin, str) or not origin:
        raise SchemaError(f"origin: expected a city name, got {origin!r}")
    if known is not None and origin not in known:
        raise SchemaError(f"origin: unknown city {origin!r}")
    out["origin"] = origin
    out["earliest_departure"] = _date(request["earliest_departure"], "earliest_departure")
    out["latest_return"] = _date(request["latest_return"], "latest_return")
    if out["latest_return"] <= out["earliest_departure"]:
        raise SchemaError(
            f"latest_return {out['latest_return']} is not after earliest_departure {out['earliest_departure']}"
        )
    dests = request["destinations"]
    if not isinstance(dests, Sequence) or isinstance(dests, str) or not dests:
        raise SchemaError(f"destinations: expected a non-empty list, got {dests!r}")
    clean = []
    for i, d in enumerate(dests):
        if not isinstance(d, Mapping) or set(d) != {"city", "min_nights", "max_nights"}:
            raise SchemaError(f"destinations[{i}]: expected {{city, min_nights, max_nights}}, got {d!r}")
        city = d["city"]
        if not isinstance(city, str) or not city:
            raise SchemaError(f"destinations[{i}].city: expected a city name, got {city!r}")
        if known is not None and city not in known:
            raise SchemaError(f"destinations[{i}].city: unknown city {city!r}")
        lo = _int(d["min_nights"], f"destinations[{i}].min_nights", 1, MAX_NIGHTS)
        hi = _int(d["max_nights"], f"destinations[{i}].max_nights", lo, MAX_NIGHTS)
        clean.append({"city": city, "min_nights": lo, "max_nights": hi})
    names = [d["city"] for d in clean]
    if len(set(names)) != len(names):
        raise SchemaError(f"destinations: a city is listed twice: {names}")
    if origin in names:
        raise SchemaError(f"destinations: the origin {origin!r} cannot be a destination")
    out["destinations"] = clean
    optional = {**DEFAULTS, **request}  # the fields a request leaves out take DEFAULTS
    order = optional["order"]
    if order not in ORDERS:
        raise SchemaError(f"order: expected one of {list(ORDERS)}, got {order!r}")
    out["order"] = order
    out["travelers"] = _int(optional["travelers"], "travelers", 1, MAX_TRAVELERS)
    out["budget"] = _int(optional["budget"], "budget", 1, allow_none=True)
    out["hotel_min_stars"] = _int(optional["hotel_min_stars"], "hotel_min_stars", 1, 5, allow_none=True)
    out["hotel_max_price"] = _int(optional["hotel_max_price"], "hotel_max_price", 1, allow_none=True)
    nonstop = optional["nonstop_only"]
    if not isinstance(nonstop, bool):
        raise SchemaError(f"nonstop_only: expected true or false, got {nonstop!r}")
    out["nonstop_only"] = nonstop
    depart = optional["depart_time"]
    if depart is not None and depart not in DEPART_TIMES:
        raise SchemaError(f"depart_time: expected null or one of {list(DEPART_TIMES)}, got {depart!r}")
    out["depart_time"] = depart
    return out


def canonicalize(request: Mapping[str, Any]) -> dict:
    """The canonical form (validated, destinations sorted by city when order is "any"); idempotent."""
    out = validate_request(request)
    if out["order"] == "any":
        out["destinations"] = sorted(out["destinations"], key=lambda d: d["city"])
    return out


def exact_match(predicted: Mapping[str, Any] | None, gold: Mapping[str, Any]) -> bool:
    """EM: the canonical forms are equal (an unparseable prediction, None, never matches)."""
    if predicted is None:
        return False
    try:
        return canonicalize(predicted) == canonicalize(gold)
    except SchemaError:
        return False


def field_matches(
    predicted: Mapping[str, Any] | None, gold: Mapping[str, Any], partial: bool = False
) -> dict[str, bool]:
    """Per field: is the prediction's value right? ``destinations`` is compared as a multiset when
    the gold order is "any", as a sequence when "listed". None (unparseable) gets every field wrong.

    ``partial``: ``predicted`` holds only the fields read so far (:func:`lenient_fields`), each
    judged on its own; absent fields are wrong.
    """
    gold = validate_request(gold)
    if predicted is None:
        return {f: False for f in FIELDS}
    if partial:
        pred = dict(predicted)
    else:
        try:
            pred = validate_request(predicted)
        except SchemaError:
            return {f: False for f in FIELDS}
    out = {f: f in pred and pred[f] == gold[f] for f in FIELDS}
    if gold["order"] == "any" and isinstance(pred.get("destinations"), list):
        key = lambda d: d["city"]  # noqa: E731
        out["destinations"] = sorted(pred["destinations"], key=key) == sorted(gold["destinations"], key=key)
    return out


# --------------------------------------------------------------------------- linearisation


def _digits(n: int) -> list[str]:
    return list(str(int(n)))


def _date_tokens(iso: str) -> list[str]:
    d = dt.date.fromisoformat(iso)
    return [MONTHS[d.month - 1], *_digits(d.day)]


def linearize(request: Mapping[str, Any]) -> str:
    """The translator's target: space-separated tokens, every field in the fixed order (defaults
    spelled out as none / no / any), destinations as given."""
    r = validate_request(request)
    toks = [
        "from",
        r["origin"].lower(),
        "leave",
        *_date_tokens(r["earliest_departure"]),
        "back",
        *_date_tokens(r["latest_return"]),
        "to",
    ]
    for d in r["destinations"]:
        toks += [d["city"].lower(), str(d["min_nights"]), str(d["max_nights"])]
    toks += [
        "order",
        r["order"],
        "people",
        str(r["travelers"]),
        "budget",
        *(_digits(r["budget"]) if r["budget"] is not None else ["none"]),
        "stars",
        str(r["hotel_min_stars"]) if r["hotel_min_stars"] is not None else "none",
        "hotelmax",
        *(_digits(r["hotel_max_price"]) if r["hotel_max_price"] is not None else ["none"]),
        "nonstop",
        "yes" if r["nonstop_only"] else "no",
        "time",
        r["depart_time"] or "none",
    ]
    return " ".join(toks)


def resolve_month_day(month: int, day: int, base_date: str | dt.date) -> str:
    """The first date on or after ``base_date`` with this month and day (the NL never names a year)."""
    base = dt.date.fromisoformat(base_date) if isinstance(base_date, str) else base_date
    for year in (base.year, base.year + 1):
        try:
            d = dt.date(year, month, day)
        except (ValueError, OverflowError):  # a translator may emit any digit string as the day
            raise SchemaError(f"no such date: month {month} day {day}") from None
        if d >= base:
            return d.isoformat()
    raise SchemaError(f"cannot place month {month} day {day} after {base}")  # pragma: no cover


class _Tokens:
    def __init__(self, tokens: list[str]):
        self.toks, self.i = tokens, 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, what: str = "a token") -> str:
        if self.i >= len(self.toks):
            raise SchemaError(f"target ends early: expected {what}")
        self.i += 1
        return self.toks[self.i - 1]

    def expect(self, key: str) -> None:
        got = self.take(f"'{key}'")
        if got != key:
            raise SchemaError(f"expected '{key}' at token {self.i - 1}, got {got!r}")

    def number(self, what: str) -> int:
        digits = ""
        while (t := self.peek()) is not None and t.isdigit():
            digits += self.take()
        if not digits:
            raise SchemaError(f"expected a number for {what} at token {self.i}, got {self.peek()!r}")
        return int(digits)

    def optional_number(self, what: str) -> int | None:
        if self.peek() == "none":
            self.take()
            return None
        return self.number(what)


def _city(token: str, cities: Mapping[str, str] | None) -> str:
    if cities is None:
        return token.capitalize()
    if token not in cities:
        raise SchemaError(f"unknown city {token!r}")
    return cities[token]


def delinearize(text: str, base_date: str | dt.date, cities: Iterable[str] | None = None) -> dict:
    """Parse a linearised target back into a validated request; SchemaError says what is wrong.

    ``cities`` (known names) maps the lower-case tokens back to names and rejects unknown ones.
    """
    lookup = {c.lower(): c for c in cities} if cities is not None else None
    t = _Tokens(text.split())

    def date() -> str:
        month = t.take("a month")
        if month not in MONTHS:
            raise SchemaError(f"expected a month, got {month!r}")
        return resolve_month_day(MONTHS.index(month) + 1, t.number("a day"), base_date)

    t.expect("from")
    origin = _city(t.take("the origin"), lookup)
    t.expect("leave")
    earliest = date()
    t.expect("back")
    latest = date()
    t.expect("to")
    dests = []
    while t.peek() is not None and t.peek() not in _KEYS:
        city = _city(t.take("a city"), lookup)
        lo, hi = t.take("min nights"), t.take("max nights")
        if not (lo.isdigit() and hi.isdigit()):
            raise SchemaError(f"nights of {city}: expected two digits, got {lo!r} {hi!r}")
        dests.append({"city": city, "min_nights": int(lo), "max_nights": int(hi)})
    t.expect("order")
    order = t.take("the order")
    t.expect("people")
    travelers = t.number("people")
    t.expect("budget")
    budget = t.optional_number("budget")
    t.expect("stars")
    stars = t.optional_number("stars")
    t.expect("hotelmax")
    hotel_max = t.optional_number("hotelmax")
    t.expect("nonstop")
    nonstop = t.take("yes/no")
    if nonstop not in ("yes", "no"):
        raise SchemaError(f"nonstop: expected yes or no, got {nonstop!r}")
    t.expect("time")
    depart = t.take("a departure time")
    if t.peek() is not None:
        raise SchemaError(f"unexpected tokens after the last field: {' '.join(t.toks[t.i :])!r}")
    return validate_request(
        {
            "origin": origin,
            "earliest_departure": earliest,
            "latest_return": latest,
            "destinations": dests,
            "order": order,
            "travelers": travelers,
            "budget": budget,
            "hotel_min_stars": stars,
            "hotel_max_price": hotel_max,
            "nonstop_only": nonstop == "yes",
            "depart_time": None if depart == "none" else depart,
        },
        cities,
    )


def lenient_fields(text: str, base_date: str | dt.date, cities: Iterable[str] | None = None) -> dict[str, Any]:
    """Every field that can be read from a (possibly malformed) linearised target, each on its own.

    Field accuracy of outputs that do not parse as a whole: a key followed by a well-formed value
    counts for that field. Returns {field: value} for the fields found (missing ones are absent).
    """
    lookup = {c.lower(): c for c in cities} if cities is not None else None
    toks = text.split()
    out: dict[str, Any] = {}

    def after(key: str) -> _Tokens | None:
        if key not in toks:
            return None
        t = _Tokens(toks)
        t.i = toks.index(key) + 1
        return t

    def read(field: str, key: str, fn) -> None:
        t = after(key)
        if t is None:
            return
        with contextlib.suppress(SchemaError, ValueError):
            out[field] = fn(t)

    def date(t: _Tokens) -> str:
        month = t.take()
        if month not in MONTHS:
            raise SchemaError(month)
        return resolve_month_day(MONTHS.index(month) + 1, t.number("a day"), base_date)

    def dests(t: _Tokens) -> list[dict]:
        found = []
        while t.peek() is not None and t.peek() not in _KEYS:
            city, lo, hi = _city(t.take(), lookup), t.take(), t.take()
            if not (lo.isdigit() and hi.isdigit()):
                raise SchemaError("nights")
            found.append({"city": city, "min_nights": int(lo), "max_nights": int(hi)})
        return found

    def choice(options):
        def fn(t: _Tokens):
            value = t.take()
            if value not in options:
                raise SchemaError(value)
            return value

        return fn

    read("origin", "from", lambda t: _city(t.take(), lookup))
    read("earliest_departure", "leave", date)
    read("latest_return", "back", date)
    read("destinations", "to", dests)
    read("order", "order", choice(ORDERS))
    read("travelers", "people", lambda t: t.number("people"))
    read("budget", "budget", lambda t: t.optional_number("budget"))
    read("hotel_min_stars", "stars", lambda t: t.optional_number("stars"))
    read("hotel_max_price", "hotelmax", lambda t: t.optional_number("hotelmax"))
    read("nonstop_only", "nonstop", lambda t: {"yes": True, "no": False}[choice(("yes", "no"))(t)])
    read(
        "depart_time",
        "time",
        lambda t: {"none": None, **{d: d for d in DEPART_TIMES}}[choice(("none", *DEPART_TIMES))(t)],
    )
    return out


def with_changes(request: Mapping[str, Any], **changes: Any) -> dict:
    """A copy of ``request`` with some fields replaced (tests and samplers)."""
    out = copy.deepcopy(dict(request))
    out.update(changes)
    return out
