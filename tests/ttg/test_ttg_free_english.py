"""The hand-written free-English requests (tests/ttg/data/free_english_requests.yaml): a fixed test set for the
planner's understanding, checked field by field against the symbolic request each one means.

This module checks the set itself: every expected request is a valid request of the tiny world (its cities, its
flight horizon, a window long enough for the nights), the texts are distinct and none is a renderer template's
output. How well a trained translator reads them is measured by `tools/ttg_free_english.py` after a tiny run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import yaml

from papersuite.ttg.render import render_request
from papersuite.ttg.schema import FIELDS, canonicalize, field_matches, validate_request
from papersuite.ttg.world import CITIES

FIXTURE = Path(__file__).parent / "data" / "free_english_requests.yaml"
TINY = yaml.safe_load((Path(__file__).parents[2] / "config" / "ttg.yaml").read_text())["tiny"]["world"]


def _items() -> list[dict]:
    return yaml.safe_load(FIXTURE.read_text())["requests"]


def _iso(value) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def expected_request(item: dict) -> dict:
    """The item's expected symbolic request with ISO-string dates (YAML reads them as dates)."""
    out = dict(item["expected"])
    for key in ("earliest_departure", "latest_return"):
        out[key] = _iso(out[key])
    return out


def test_the_set_has_at_least_40_distinct_requests():
    texts = [item["text"] for item in _items()]
    assert len(texts) >= 40
    assert len(set(texts)) == len(texts)


@pytest.mark.parametrize("index", range(len(_items())))
def test_each_expected_request_is_valid_in_the_tiny_world(index):
    item = _items()[index]
    cities = [c[0] for c in CITIES[: TINY["n_cities"]]]
    request = validate_request(expected_request(item), cities)
    first = dt.date.fromisoformat(TINY["base_date"])
    last = first + dt.timedelta(days=TINY["n_days"] - 1)
    start = dt.date.fromisoformat(request["earliest_departure"])
    end = dt.date.fromisoformat(request["latest_return"])
    assert first <= start < end <= last, (start, end)
    assert (end - start).days >= sum(d["min_nights"] for d in request["destinations"])
    # every city of the request is named in the text, and the party size is not left to the default silently
    text = item["text"].lower()
    for city in [request["origin"], *(d["city"] for d in request["destinations"])]:
        assert city.lower() in text, city


def test_field_by_field_scoring_of_the_set():
    """The measure the planner is held to: a request is understood when every field is right. The expected
    requests score 1 on every field; changing one field costs exactly that field."""
    items = _items()
    golds = [expected_request(item) for item in items]
    for gold in golds:
        assert all(field_matches(gold, gold).values())
    wrong = dict(golds[0], travelers=canonicalize(golds[0])["travelers"] + 1)
    matches = field_matches(wrong, golds[0])
    assert [f for f in FIELDS if not matches[f]] == ["travelers"]


def test_no_text_is_a_renderer_output():
    """The texts were written by hand: none equals what the renderer writes for its own request."""
    rng = np.random.default_rng(0)
    texts = {item["text"] for item in _items()}
    for item in _items():
        request = canonicalize(expected_request(item))
        for held in (False, True):
            rendered = [render_request(request, rng, held=held)[0] for _ in range(20)]
            assert all(isinstance(t, str) and t for t in rendered)
            assert not texts & set(rendered)
