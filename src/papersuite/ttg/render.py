"""NL rendering of symbolic requests: a template grammar with paraphrases (``docs/papers/ttg.md``,
"Data").

[recon] How the paper wrote its NL requests is not retrievable (most likely an instruction LLM
prompted with the symbolic request). Offline we use a grammar: each field group is a clause with
3–4 paraphrases, clauses are shuffled, values have several formats (dates "June 5", "5 June",
"the 5th of June", "6/5"; night ranges "2-4 nights", "between two and four nights"; money
"$1,500", "1500 dollars"; number words), and optional filler sentences are added.

Every clause template and value format is either *in-template* (training and the in-template
test split) or *held-out* (only in the held-out-template test split, the harder OOD split).

The destinations are shuffled when the order is free, and the target lists them **in order of
mention** (targets in sampling order capped EM at about 0.37 in an early prototype: the text
cannot tell the sampling order).
Every rendering can be parsed back exactly by :mod:`papersuite.ttg.parser` (round-trip test).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from papersuite.core import io

from .schema import linearize, validate_request

__all__ = [
    "CLAUSES",
    "DATE_FORMATS",
    "MONEY_FORMATS",
    "NUMBER_WORDS",
    "RANGE_FORMATS",
    "ITEM_FORMATS",
    "render_request",
    "render_requests",
]

log = logging.getLogger("papersuite.ttg.render")

MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class Template:
    text: str
    held: bool = False  # held-out: only in the held-out-template split


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# ---------------------------------------------------------------- value formats: name -> (render, held)

DATE_FORMATS: dict[str, tuple[Callable[[dt.date], str], bool]] = {
    "month_day": (lambda d: f"{MONTH_NAMES[d.month - 1]} {d.day}", False),
    "day_month": (lambda d: f"{d.day} {MONTH_NAMES[d.month - 1]}", False),
    "month_ordinal": (lambda d: f"{MONTH_NAMES[d.month - 1]} {_ordinal(d.day)}", False),
    "the_ordinal_of": (lambda d: f"the {_ordinal(d.day)} of {MONTH_NAMES[d.month - 1]}", False),
    "slash": (lambda d: f"{d.month}/{d.day}", False),
    "abbrev": (lambda d: f"{MONTH_NAMES[d.month - 1][:3]} {d.day}", True),
    "ordinal_month": (lambda d: f"{_ordinal(d.day)} {MONTH_NAMES[d.month - 1]}", True),
}


def _count(n: int, rng: np.random.Generator) -> str:
    """A small number as digits or as a word."""
    return NUMBER_WORDS[n] if rng.random() < 0.5 else str(n)


def _nights(n: int, rng: np.random.Generator) -> str:
    if n == 1:
        return str(rng.choice(["a night", "one night", "1 night"]))
    return f"{_count(n, rng)} nights"


# night ranges: (render(lo, hi, rng), applies to exact ranges lo == hi?, held)
RANGE_FORMATS: dict[str, tuple[Callable[[int, int, np.random.Generator], str], str, bool]] = {
    "dash": (lambda a, b, r: f"{a}-{b} nights", "range", False),
    "to": (lambda a, b, r: f"{_count(a, r)} to {_count(b, r)} nights", "range", False),
    "between": (lambda a, b, r: f"between {_count(a, r)} and {_count(b, r)} nights", "range", False),
    "exact": (lambda a, b, r: _nights(a, r), "exact", False),
    "exactly": (lambda a, b, r: f"exactly {_nights(a, r)}", "exact", False),
    "at_least_most": (lambda a, b, r: f"at least {_count(a, r)} and at most {_count(b, r)} nights", "range", True),
    "up_to": (lambda a, b, r: f"{_count(a, r)} up to {_count(b, r)} nights", "range", True),
    "precisely": (lambda a, b, r: f"precisely {_nights(a, r)}", "exact", True),
}

ITEM_FORMATS: dict[str, tuple[str, bool]] = {
    "city_for": ("{city} for {range}", False),
    "range_in": ("{range} in {city}", False),
    "city_paren": ("{city} ({range})", True),
}

MONEY_FORMATS: dict[str, tuple[Callable[[int], str], bool]] = {
    "dollar_sign": (lambda n: f"${n:,}", False),
    "dollars": (lambda n: f"{n} dollars", False),
    "usd_after": (lambda n: f"{n:,} USD", False),
    "bucks": (lambda n: f"{n} bucks", True),
    "usd_before": (lambda n: f"USD {n:,}", True),
}

ORDER_SUFFIXES: dict[str, list[Template]] = {
    "listed": [Template(" in that order"), Template(", in this order"), Template(" in exactly this sequence", True)],
    "any": [Template(""), Template(" in any order"), Template(" in whatever order", True)],
}

# clause -> templates; slots: {origin} {e} {l} {dests} {order} {n} {money} {s} {bucket}
CLAUSES: dict[str, list[Template]] = {
    "origin": [
        Template("I am flying out of {origin}"),
        Template("My trip starts from {origin}"),
        Template("I live in {origin}"),
        Template("Home base is {origin}"),
        Template("Departing from {origin}", True),
        Template("I'll be leaving from {origin}", True),
    ],
    "window": [
        Template("Leave no earlier than {e} and be back by {l}"),
        Template("The trip must fit between {e} and {l}"),
        Template("I can travel from {e} to {l}"),
        Template("Dates are {e} until {l}"),
        Template("Available {e} through {l}", True),
        Template("Out on or after {e} and home on or before {l}", True),
    ],
    "destinations": [
        Template("I want to visit {dests}{order}"),
        Template("Stops are {dests}{order}"),
        Template("Please plan {dests}{order}"),
        Template("I'd like to see {dests}{order}", True),
        Template("The itinerary should cover {dests}{order}", True),
    ],
    "travelers_many": [
        Template("We are {n} people"),
        Template("Book for {n} travelers"),
        Template("There are {n} of us"),
        Template("Party of {n}", True),
        Template("Tickets for {n} adults", True),
    ],
    "travelers_one": [
        Template("Just me"),
        Template("I am traveling alone"),
        Template("Only one traveler", True),
    ],
    "budget": [
        Template("My budget is {money}"),
        Template("Keep the total under {money}"),
        Template("I can spend up to {money}"),
        Template("The whole trip can't cost more than {money}", True),
        Template("Spending cap {money}", True),
    ],
    "stars": [
        Template("Hotels need at least {s} stars"),
        Template("{s}-star hotels or better"),
        Template("Minimum {s} stars for hotels"),
        Template("No hotel below {s} stars", True),
        Template("Accommodation rated {s} stars or more", True),
    ],
    "hotel_cap": [
        Template("No more than {money} a night for hotels"),
        Template("Hotel rooms under {money} per night"),
        Template("Cap the hotel at {money} nightly", True),
    ],
    "nonstop": [
        Template("Nonstop flights only"),
        Template("No layovers please"),
        Template("Direct flights only"),
        Template("Only flights without stops", True),
        Template("I refuse connecting flights", True),
    ],
    "depart_time": [
        Template("All flights should leave in the {bucket}"),
        Template("I only fly in the {bucket}"),
        Template("{bucket} departures only"),
        Template("I'd rather take off in the {bucket}", True),
        Template("Flights must depart in the {bucket}", True),
    ],
    "filler": [
        Template("Hi"),
        Template("Please help me plan a trip"),
        Template("Thanks"),
        Template("Cheers", True),
        Template("Looking forward to it", True),
    ],
}
CLAUSE_END = {"filler": "!"}  # every other clause ends with "."


def _pick(rng: np.random.Generator, options: Sequence, held: bool, held_of: Callable[[Any], bool]):
    """An option of the split's kind: in-template options for train/test_in, held-out ones for
    test_held (falling back to the in-template ones where a slot has no held-out variant)."""
    pool = [o for o in options if held_of(o) == held] or [o for o in options if not held_of(o)]
    return pool[int(rng.integers(len(pool)))]


def _pick_format(rng: np.random.Generator, formats: Mapping[str, tuple], held: bool, kind: str | None = None) -> str:
    """Value formats: in-template only for train/test_in; every format for test_held."""
    names = [n for n, f in formats.items() if (held or not f[-1]) and (kind is None or f[1] == kind)]
    return names[int(rng.integers(len(names)))]


def _date(iso: str, rng: np.random.Generator, held: bool) -> str:
    return DATE_FORMATS[_pick_format(rng, DATE_FORMATS, held)][0](dt.date.fromisoformat(iso))


def _money(n: int, rng: np.random.Generator, held: bool) -> str:
    return MONEY_FORMATS[_pick_format(rng, MONEY_FORMATS, held)][0](int(n))


def _item(d: Mapping[str, Any], rng: np.random.Generator, held: bool) -> str:
    kind = "exact" if d["min_nights"] == d["max_nights"] else "range"
    rng_text = RANGE_FORMATS[_pick_format(rng, RANGE_FORMATS, held, kind)][0](d["min_nights"], d["max_nights"], rng)
    names = [n for n, f in ITEM_FORMATS.items() if held or not f[1]]
    fmt = ITEM_FORMATS[names[int(rng.integers(len(names)))]][0]
    return fmt.format(city=d["city"], range=rng_text)


def _join(items: list[str], rng: np.random.Generator) -> str:
    if len(items) == 1:
        return items[0]
    style = int(rng.integers(3))
    if style == 0:
        return ", ".join(items[:-1]) + " and " + items[-1]
    if style == 1:
        return ", then ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def render_request(
    request: Mapping[str, Any], rng: np.random.Generator, held: bool = False
) -> tuple[str, dict, list[str]]:
    """(text, the request with destinations in mention order, the templates used)."""
    r = validate_request(request)
    dests = list(r["destinations"])
    if r["order"] == "any":
        dests = [dests[i] for i in rng.permutation(len(dests))]
    mentioned = {**r, "destinations": dests}
    clauses: list[tuple[str, str]] = []  # (clause name, text)

    def add(name: str, **slots: str) -> None:
        template = _pick(rng, CLAUSES[name], held, lambda t: t.held)
        clauses.append((name, template.text.format(**slots)))

    add("origin", origin=r["origin"])
    add("window", e=_date(r["earliest_departure"], rng, held), l=_date(r["latest_return"], rng, held))
    # an order is only worth saying for several destinations
    order = _pick(rng, ORDER_SUFFIXES[r["order"]], held, lambda t: t.held).text if len(dests) > 1 else ""
    add("destinations", dests=_join([_item(d, rng, held) for d in dests], rng), order=order)
    if r["travelers"] > 1:
        add("travelers_many", n=_count(r["travelers"], rng))
    elif rng.random() < 0.5:  # a single traveller is the default and often not said
        add("travelers_one")
    if r["budget"] is not None:
        add("budget", money=_money(r["budget"], rng, held))
    if r["hotel_min_stars"] is not None:
        add("stars", s=_count(r["hotel_min_stars"], rng))
    if r["hotel_max_price"] is not None:
        add("hotel_cap", money=_money(r["hotel_max_price"], rng, held))
    if r["nonstop_only"]:
        add("nonstop")
    if r["depart_time"] is not None:
        add("depart_time", bucket=r["depart_time"])
    if rng.random() < 0.3:
        add("filler")
    clauses = [clauses[i] for i in rng.permutation(len(clauses))]
    sentences = []
    for name, text in clauses:
        sentences.append(text[0].upper() + text[1:] + CLAUSE_END.get(name, "."))
    return " ".join(sentences), mentioned, [name for name, _ in clauses]


def render_requests(
    requests_jsonl,
    renders_per_request: int,
    seed: int,
    out_train,
    out_test_in,
    out_test_held,
    out_summary,
    log_path=None,
) -> dict:
    """Render every request of requests.jsonl: ``renders_per_request`` paraphrases of each training
    request, one of each test request (held-out templates for test_held). Rows: {id, split, text,
    target, request (mention order), optimal_cost}."""
    from papersuite.core import runtime

    from .sampling import read_requests

    runtime.setup_logging(log_path)
    rows = read_requests(requests_jsonl)
    out = {"train": [], "test_in": [], "test_held": []}
    for index, row in enumerate(rows):
        split = row["split"]
        copies = int(renders_per_request) if split == "train" else 1
        for copy in range(copies):
            rng = np.random.default_rng([int(seed), index, copy])
            text, mentioned, _ = render_request(row["request"], rng, held=split == "test_held")
            out[split].append(
                {
                    "id": f"{row['id']}-{copy}",
                    "split": split,
                    "text": text,
                    "target": linearize(mentioned),
                    "request": mentioned,
                    "optimal_cost": row["optimal_cost"],
                }
            )
    paths = {"train": out_train, "test_in": out_test_in, "test_held": out_test_held}
    for split, path in paths.items():
        io.write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in out[split]))
    lengths = {s: float(np.mean([len(r["text"].split()) for r in v])) if v else 0.0 for s, v in out.items()}
    summary = {
        "pairs": {s: len(v) for s, v in out.items()},
        "mean_words": lengths,
        "renders_per_request": int(renders_per_request),
        "seed": int(seed),
        "sha256": {s: io.sha256_file(p) for s, p in paths.items()},
    }
    io.write_json(out_summary, summary)
    log.info("rendered %s pairs (mean words %s)", summary["pairs"], {k: round(v, 1) for k, v in lengths.items()})
    return summary
