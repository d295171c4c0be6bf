"""The NL renderer: a rule-based parser recovers every rendering exactly, splits and seeds
(docs/papers/ttg.md, "Known answers")."""

from __future__ import annotations

import json

import numpy as np
import pytest

from papersuite.ttg.parser import ParseFailure, parse_text
from papersuite.ttg.render import CLAUSES, render_request, render_requests
from papersuite.ttg.sampling import REQUEST_DEFAULTS, sample_candidate
from papersuite.ttg.schema import delinearize, exact_match, linearize


def _requests(tables, n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        req, factor = sample_candidate(rng, tables, REQUEST_DEFAULTS)
        if factor is not None:
            req["budget"] = int(rng.integers(2, 80)) * 50
        out.append(req)
    return out


@pytest.mark.parametrize("held", [False, True])
def test_rule_parser_recovers_every_rendering_exactly(tables, held):
    reqs = _requests(tables, 400, seed=1 + held)
    hits = 0
    for i, req in enumerate(reqs):
        text, mentioned, _ = render_request(req, np.random.default_rng([7, i]), held=held)
        parsed = parse_text(text, tables.city_names, "2025-06-01")
        hits += exact_match(parsed, req)
        assert parsed["destinations"] == mentioned["destinations"], text  # the target's order is the text's
        assert delinearize(linearize(mentioned), "2025-06-01", tables.city_names) == parsed
    assert hits == len(reqs)  # EM = 1


def test_shuffled_mention_order_is_what_the_target_follows(tables):
    req = next(r for r in _requests(tables, 50, seed=4) if len(r["destinations"]) >= 3 and r["order"] == "any")
    orders = set()
    for i in range(20):
        text, mentioned, _ = render_request(req, np.random.default_rng([3, i]))
        cities = [d["city"] for d in mentioned["destinations"]]
        positions = [text.index(c) for c in cities]
        assert positions == sorted(positions), text
        orders.add(tuple(cities))
    assert len(orders) > 1  # the renderer does shuffle


def test_held_out_split_uses_only_held_out_templates(tables):
    in_texts = {t.text.split("{")[0] for ts in CLAUSES.values() for t in ts if not t.held and t.text.split("{")[0]}
    held_texts = {t.text.split("{")[0] for ts in CLAUSES.values() for t in ts if t.held and t.text.split("{")[0]}
    for i, req in enumerate(_requests(tables, 60, seed=5)):
        held, _, _ = render_request(req, np.random.default_rng([1, i]), held=True)
        plain, _, _ = render_request(req, np.random.default_rng([1, i]), held=False)
        sentences_held = [s.strip() for s in held.split(".") if s.strip()]
        assert any(s.startswith(tuple(held_texts)) for s in sentences_held), held
        assert not any(
            s.startswith(p)
            for s in sentences_held
            for p in in_texts
            if p not in held_texts and len(p) > 6 and not any(h.startswith(p) for h in held_texts)
        ), held
        assert not any(s.strip().startswith(tuple(p for p in held_texts if len(p) > 6)) for s in plain.split(".")), (
            plain
        )


def test_parser_rejects_text_outside_the_grammar():
    with pytest.raises(ParseFailure, match="no template"):
        parse_text("I want to go somewhere warm next week.", ["Paris", "Rome"], "2025-06-01")
    with pytest.raises(ParseFailure, match="incomplete"):
        parse_text("I live in Paris.", ["Paris", "Rome"], "2025-06-01")


def test_rendering_is_deterministic_by_seed(tmp_path, tables):
    rows = [
        {"id": f"{s}-{i:05d}", "split": s, "request": r, "optimal_cost": 100.0}
        for i, (s, r) in enumerate(zip(["train", "train", "test_in", "test_held"] * 5, _requests(tables, 20, 9)))
    ]
    src = tmp_path / "requests.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    outs = []
    for run in ("a", "b", "c"):
        paths = [tmp_path / run / f"{n}.jsonl" for n in ("train", "test_in", "test_held")]
        summary = render_requests(
            src,
            2,
            seed=0 if run != "c" else 1,
            out_train=paths[0],
            out_test_in=paths[1],
            out_test_held=paths[2],
            out_summary=tmp_path / run / "render.json",
        )
        outs.append(summary["sha256"])
    assert outs[0] == outs[1] and outs[0] != outs[2]
    train = [json.loads(line) for line in (tmp_path / "a" / "train.jsonl").read_text().splitlines()]
    assert len(train) == 2 * 10 and all(r["target"] == linearize(r["request"]) for r in train)


def test_round_trip_renderings_use_every_family(tables, monkeypatch):
    """The 400 + 400 renderings of the round-trip test use every clause template, order suffix and value
    format of the widened renderer (issue #19 item 2), so the parser's EM of 1 covers every family."""
    import papersuite.ttg.render as render

    used: set = set()
    pick, pick_format = render._pick, render._pick_format

    def spy_pick(rng, options, held, held_of):
        used.add(chosen := pick(rng, options, held, held_of))
        return chosen

    def spy_format(rng, formats, held, kind=None):
        used.add(chosen := pick_format(rng, formats, held, kind))
        return chosen

    monkeypatch.setattr(render, "_pick", spy_pick)
    monkeypatch.setattr(render, "_pick_format", spy_format)
    for held in (False, True):
        for i, req in enumerate(_requests(tables, 400, seed=1 + held)):
            render_request(req, np.random.default_rng([7, i]), held=held)
    templates = [t for ts in [*CLAUSES.values(), *render.ORDER_SUFFIXES.values()] for t in ts]
    formats = [*render.DATE_FORMATS, *render.MONEY_FORMATS, *render.RANGE_FORMATS]
    assert [t.text for t in templates if t not in used] == []
    assert [f for f in formats if f not in used] == []
