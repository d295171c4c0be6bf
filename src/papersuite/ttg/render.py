"""NL rendering of symbolic requests: a template grammar with paraphrases (``docs/papers/ttg.md``,
"Data"; issue #19, item 2).

[recon] How the paper wrote its NL requests is not retrievable (most likely an instruction LLM
prompted with the symbolic request). Offline we use a grammar (the families in
:mod:`papersuite.ttg.phrasing`): each field group is a clause with 5-17 paraphrases in several word
orders; the window may be one sentence or two, origin and destinations one or two; clauses are
shuffled, sometimes joined by "; " or opened by "Also, "; values have several formats (dates "June 5",
"Monday June 2", "6/5"; night ranges "2-4 nights", "between two and four nights", "3 or 4 nights";
money "$1,500", "1,500 euros", "£1,500", "one thousand five hundred euros"; counts as digits or words;
"my partner and I", "a family of four"); a listed order may be said as "first A, then B"; one word in
three texts is misspelt ("betwen", "nigths"), and filler sentences are added.

Every clause template, value format, typo and prefix is either *in-template* (training and the
in-template test split) or *held-out* (only in the held-out-template test split, the harder OOD split).

The destinations are shuffled when the order is free, and the target lists them **in order of
mention** (targets in sampling order capped EM at about 0.37 in an early prototype: the text
cannot tell the sampling order).
Every rendering can be parsed back exactly by :mod:`papersuite.ttg.parser` (round-trip test).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from papersuite.core import io

from .phrasing import (
    CLAUSES,
    DATE_FORMATS,
    ITEM_FORMATS,
    MONEY_FORMATS,
    MONTH_NAMES,
    NUMBER_WORDS,
    ORDER_SUFFIXES,
    PREFIXES,
    RANGE_FORMATS,
    TYPOS,
    Template,
)
from .schema import linearize, validate_request

CLAUSE_END = {"filler": "!"}  # every other clause ends with "."
__all__ = [
    "CLAUSES",
    "MONTH_NAMES",
    "ORDER_SUFFIXES",
    "Template",
    "DATE_FORMATS",
    "MONEY_FORMATS",
    "NUMBER_WORDS",
    "RANGE_FORMATS",
    "ITEM_FORMATS",
    "render_request",
    "render_requests",
]

log = logging.getLogger("papersuite.ttg.render")

P_SPLIT_WINDOW = 0.35  # the window as two sentences ("I can leave from ... . I must be back by ...")
P_ORIGIN_DESTS = 0.25  # origin and destinations in one sentence ("From Paris to Rome for 3 nights")
P_FIRST_THEN = 0.4  # a listed order said as "first A, then B" instead of a suffix
P_PREFIX = 0.1  # a discourse prefix per sentence ("Also, ...")
P_JOIN = 0.15  # two adjacent clauses in one sentence, joined by "; "
P_TYPO = 0.3  # one misspelt word per text


def _pick(rng: np.random.Generator, options: Sequence, held: bool, held_of: Callable[[Any], bool]):
    """An option of the split's kind: in-template options for train/test_in, held-out ones for
    test_held (falling back to the in-template ones where a slot has no held-out variant)."""
    pool = [o for o in options if held_of(o) == held] or [o for o in options if not held_of(o)]
    return pool[int(rng.integers(len(pool)))]


def _pick_format(rng: np.random.Generator, formats: Mapping[str, tuple], held: bool, kind: str | None = None) -> str:
    """Value formats: in-template only for train/test_in; every format for test_held."""
    names = [n for n, f in formats.items() if (held or not f[-1]) and (kind is None or f[1] == kind)]
    return names[int(rng.integers(len(names)))]


def _count(n: int, rng: np.random.Generator) -> str:
    """A small number as digits or as a word."""
    return NUMBER_WORDS[n] if rng.random() < 0.5 else str(n)


def _nights(n: int, rng: np.random.Generator) -> str:
    if n == 1:
        return str(rng.choice(["a night", "one night", "1 night"]))
    return f"{_count(n, rng)} nights"


def _date(iso: str, rng: np.random.Generator, held: bool) -> str:
    return DATE_FORMATS[_pick_format(rng, DATE_FORMATS, held)][0](dt.date.fromisoformat(iso))


def _money(n: int, rng: np.random.Generator, held: bool) -> str:
    return MONEY_FORMATS[_pick_format(rng, MONEY_FORMATS, held)][0](int(n))


def _item(d: Mapping[str, Any], rng: np.random.Generator, held: bool) -> str:
    lo, hi = int(d["min_nights"]), int(d["max_nights"])
    template = RANGE_FORMATS[_pick_format(rng, RANGE_FORMATS, held, "exact" if lo == hi else "range")][0]
    stay = template.format(a=_count(lo, rng), b=_count(hi, rng), da=lo, db=hi, x=_nights(lo, rng))
    names = [n for n, f in ITEM_FORMATS.items() if held or not f[1]]
    fmt = ITEM_FORMATS[names[int(rng.integers(len(names)))]][0]
    return fmt.format(city=d["city"], range=stay)


def _join(items: list[str], rng: np.random.Generator, first_then: bool = False) -> str:
    if len(items) == 1:
        return items[0]
    if first_then:  # only for a listed order: the parser reads "first" as one
        return "first " + ", then ".join(items)
    style = int(rng.integers(3))
    if style == 0:
        return ", ".join(items[:-1]) + " and " + items[-1]
    if style == 1:
        return ", then ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _typo(text: str, rng: np.random.Generator, held: bool) -> str:
    """One word of ``text`` misspelt from the split's typo table (none when no word has one)."""
    table = TYPOS[held]
    spots = [m for m in re.finditer(r"[A-Za-z]+", text) if m.group(0).lower() in table]
    if not spots:
        return text
    m = spots[int(rng.integers(len(spots)))]
    options = table[m.group(0).lower()]
    typo = options[int(rng.integers(len(options)))]
    typo = typo[0].upper() + typo[1:] if m.group(0)[0].isupper() else typo
    return text[: m.start()] + typo + text[m.end() :]


def _sentences(clauses: list[tuple[str, str]], rng: np.random.Generator, held: bool) -> str:
    """Clauses as sentences: capitalised, a "." ("!" after filler), some with a discourse prefix,
    some pairs joined by "; "."""
    prefixes = [p for p, h in PREFIXES if h == held]
    out: list[str] = []
    i = 0
    while i < len(clauses):
        group = [clauses[i]]
        if i + 1 < len(clauses) and clauses[i][0] != "filler" and rng.random() < P_JOIN:
            group.append(clauses[i + 1])
        i += len(group)
        parts = []
        for _, text in group:
            if rng.random() < P_PREFIX:
                text = prefixes[int(rng.integers(len(prefixes)))] + text
            parts.append(text[0].upper() + text[1:])
        out.append("; ".join(parts) + CLAUSE_END.get(group[-1][0], "."))
    return " ".join(out)


def render_request(
    request: Mapping[str, Any], rng: np.random.Generator, held: bool = False
) -> tuple[str, dict, list[str]]:
    """(text, the request with destinations in mention order, the clauses used)."""
    r = validate_request(request)
    dests = list(r["destinations"])
    if r["order"] == "any":
        dests = [dests[i] for i in rng.permutation(len(dests))]
    mentioned = {**r, "destinations": dests}
    clauses: list[tuple[str, str]] = []  # (clause name, text)

    def add(name: str, **slots: str) -> None:
        template = _pick(rng, CLAUSES[name], held, lambda t: t.held)
        clauses.append((name, template.text.format(**slots)))

    first_then = r["order"] == "listed" and len(dests) > 1 and rng.random() < P_FIRST_THEN
    # an order is only worth saying for several destinations
    order = ""
    if len(dests) > 1 and not first_then:
        order = _pick(rng, ORDER_SUFFIXES[r["order"]], held, lambda t: t.held).text
    items = _join([_item(d, rng, held) for d in dests], rng, first_then)
    if rng.random() < P_ORIGIN_DESTS:
        add("origin_dests", origin=r["origin"], dests=items, order=order)
    else:
        add("origin", origin=r["origin"])
        add("destinations", dests=items, order=order)
    e, l = _date(r["earliest_departure"], rng, held), _date(r["latest_return"], rng, held)
    if rng.random() < P_SPLIT_WINDOW:
        add("window_e", e=e)
        add("window_l", l=l)
    else:
        add("window", e=e, l=l)
    if r["travelers"] == 2 and rng.random() < 0.5:
        add("travelers_two")
    elif r["travelers"] > 1:
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
    text = _sentences(clauses, rng, held)
    if rng.random() < P_TYPO:
        text = _typo(text, rng, held)
    return text, mentioned, [name for name, _ in clauses]


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
