"""What the planner understood, field by field (papersuite.ttg.understanding), on the hand-written free-English
requests (tests/ttg/data/free_english_requests.yaml) and on misreadings of them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from papersuite.ttg.schema import FIELDS
from papersuite.ttg.understanding import field_report, stated

FIXTURE = Path(__file__).parent / "data" / "free_english_requests.yaml"


def _gold(item: dict) -> dict:
    out = dict(item["expected"])
    for key in ("earliest_departure", "latest_return"):
        out[key] = out[key].isoformat() if isinstance(out[key], dt.date) else out[key]
    return out


ITEMS = yaml.safe_load(FIXTURE.read_text())["requests"]


def test_no_field_of_a_right_reading_is_flagged():
    """Measured: 0 of the 451 fields of the 41 right readings is 'unsure' (each is stated or a true default)."""
    sources = [r["source"] for item in ITEMS for r in field_report(item["text"], _gold(item)).values()]
    assert len(sources) == len(ITEMS) * len(FIELDS)
    assert sources.count("unsure") == 0


@pytest.mark.parametrize(
    "text, change, field, source",
    [
        # "my partner and I" read as one traveller: the text talks about its party, so 1 is not a safe default
        (
            "My partner and I live in London. Could you plan 2 nights in Prague and 3 nights in Vienna? "
            "Dates: June 5 to June 16.",
            {"travelers": 1},
            "travelers",
            "unsure",
        ),
        # three nights read as two
        (
            "I'm in Paris and want to spend three nights in Rome sometime between June 10 and June 20.",
            {"destinations": [{"city": "Rome", "min_nights": 2, "max_nights": 2}]},
            "destinations",
            "unsure",
        ),
        # a budget the text states, dropped
        (
            "Warsaw to Barcelona, a week, August 3 to August 17, direct flights only, max 1,800 all in.",
            {"budget": None},
            "budget",
            "unsure",
        ),
        # a date the text does not name
        (
            "Going from Vienna to Warsaw for one night only, on or after June 8 and home by June 11.",
            {"latest_return": "2025-06-13"},
            "latest_return",
            "unsure",
        ),
        # no word about stars: the default is reported as a default
        (
            "Going from Vienna to Warsaw for one night only, on or after June 8 and home by June 11.",
            {},
            "hotel_min_stars",
            "default",
        ),
    ],
)
def test_misreadings_are_flagged(text, change, field, source):
    item = next(i for i in ITEMS if i["text"] == text)
    report = field_report(text, {**_gold(item), **change})
    assert report[field]["source"] == source


def test_stated_reads_numbers_in_words_and_digits():
    assert stated("budget", 1800, "max 1,800 all in") and not stated("budget", 1800, "max 1,500 all in")
    assert stated("travelers", 3, "three of us") and stated("travelers", 4, "a family of four")
    assert stated("hotel_min_stars", 4, "4-star hotels") and stated("hotel_min_stars", 5, "five star")
    assert not stated("hotel_min_stars", 4, "three stars")
    with pytest.raises(ValueError, match="unknown field 'stops'"):
        stated("stops", 0, "")


def test_the_hand_written_requests_read_as_english_and_possible():
    from papersuite.ttg.understanding import impossible_window, looks_english
    from papersuite.ttg.world import CITIES

    cities = [c[0] for c in CITIES[:20]]
    for item in ITEMS:
        assert looks_english(item["text"], cities), item["text"]
        assert impossible_window(item["text"], "2025-06-01") is None, item["text"]


@pytest.mark.parametrize(
    "text",
    [
        "Je voudrais aller à Rome depuis Paris pour trois nuits en juin",
        "Ich möchte von Berlin nach Wien fahren, drei Nächte im Juli",
        "Quiero ir de Madrid a Roma tres noches en julio",
    ],
)
def test_other_languages_are_recognised(text):
    from papersuite.ttg.understanding import looks_english

    assert not looks_english(text, ["Paris", "Rome", "Berlin", "Madrid"])


@pytest.mark.parametrize(
    "text, why",
    [
        (
            "I live in Paris and want to visit Rome for 3 nights between June 10 and June 11",
            "3 nights do not fit between June 10 and June 11",
        ),
        (
            "under 100 euros for 10 nights in 5 cities from London between June 1 and June 6",
            "10 nights do not fit between June 1 and June 6",
        ),
        (
            "From Oslo: Rome for between 3 and 5 nights, then a week in Lisbon, 1st of July to the 9th of July",
            "10 nights do not fit between July 1 and July 9",
        ),
        # ranges count by their lower end, hotel prices "a night" are not stays: these fit
        ("From Oslo: Rome for between 3 and 5 nights, max 90 a night, July 1 to July 4", None),
        ("From Oslo to Rome for 3 nights in July", None),
    ],
)
def test_impossible_windows_are_named(text, why):
    from papersuite.ttg.understanding import impossible_window

    assert impossible_window(text, "2025-06-01") == why


def test_rendered_requests_are_called_impossible_only_when_their_nights_do_not_fit(tables):
    """Template renderings of sampled candidate requests (before the solver's feasibility filter, so some windows
    are too short for their nights): never called impossible when the nights fit (measured 0 of 236), called
    impossible for most that do not (measured 93 of 164 with the widened renderer of issue #19, 105 of 164 before:
    the rest name a date as "7/25", "the 20th" or "June the 20th", or misspell "nights", which the check does not
    read), and always read as English."""
    import datetime as dt

    import numpy as np

    from papersuite.ttg.render import render_request
    from papersuite.ttg.sampling import REQUEST_DEFAULTS, sample_candidate
    from papersuite.ttg.understanding import impossible_window, looks_english

    rng = np.random.default_rng(5)
    cities = list(tables.city_names)
    fits_flagged, short, short_flagged = 0, 0, 0
    for i in range(200):
        request, _ = sample_candidate(rng, tables, REQUEST_DEFAULTS)
        window = dt.date.fromisoformat(request["latest_return"]) - dt.date.fromisoformat(request["earliest_departure"])
        fits = sum(d["min_nights"] for d in request["destinations"]) <= window.days
        for held in (False, True):
            text = render_request(request, np.random.default_rng([5, i]), held=held)[0]
            assert looks_english(text, cities), text
            flagged = impossible_window(text, str(tables.base_date)) is not None
            fits_flagged += fits and flagged
            short += not fits
            short_flagged += (not fits) and flagged
    assert fits_flagged == 0
    assert short > 100 and short_flagged / short >= 0.5
