"""Canonical form, exact match, field accuracy and the linearised target
(docs/papers/ttg.md, "Metrics" and "Known answers")."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from papersuite.ttg.sampling import REQUEST_DEFAULTS, request_hash, sample_candidate
from papersuite.ttg.schema import (
    FIELDS,
    SchemaError,
    canonicalize,
    delinearize,
    exact_match,
    field_matches,
    lenient_fields,
    linearize,
    validate_request,
)
from ttg_helpers import request

TWO = [{"city": "Alpha", "min_nights": 2, "max_nights": 3}, {"city": "Beta", "min_nights": 1, "max_nights": 1}]


def _random_requests(tables, n=200, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        req, factor = sample_candidate(rng, tables, REQUEST_DEFAULTS)
        if factor is not None:
            req["budget"] = int(rng.integers(2, 80)) * 50
        out.append(req)
    return out


def test_exact_match_with_itself_and_canonicalisation_is_idempotent(tables):
    for req in _random_requests(tables):
        assert exact_match(req, req)
        assert all(field_matches(req, req).values())
        once = canonicalize(req)
        assert canonicalize(once) == once
        assert request_hash(req) == request_hash(once)


def test_free_order_compares_as_multiset_listed_order_as_sequence():
    free = request(destinations=TWO)
    swapped = request(destinations=list(reversed(TWO)))
    assert exact_match(swapped, free)
    assert field_matches(swapped, free)["destinations"]
    listed, listed_swapped = request(destinations=TWO, order="listed"), request(destinations=TWO[::-1], order="listed")
    assert not exact_match(listed_swapped, listed)
    assert not field_matches(listed_swapped, listed)["destinations"]
    assert not exact_match(free, listed)  # the order field itself differs


def test_one_wrong_field_breaks_exact_match_and_only_that_field():
    gold = request(destinations=TWO, budget=1500, hotel_min_stars=3)
    for field, value in [
        ("budget", 1550),
        ("hotel_min_stars", 4),
        ("travelers", 2),
        ("nonstop_only", True),
        ("depart_time", "evening"),
        ("latest_return", "2025-06-09"),
        ("origin", "Gamma"),
    ]:
        pred = {**gold, field: value}
        assert not exact_match(pred, gold)
        wrong = [f for f, ok in field_matches(pred, gold).items() if not ok]
        assert wrong == [field], (field, wrong)
    assert not exact_match(None, gold)
    assert field_matches(None, gold) == {f: False for f in FIELDS}


def test_linearise_round_trip_and_mention_order(tables):
    for req in _random_requests(tables):
        text = linearize(req)
        back = delinearize(text, "2025-06-01", tables.city_names)
        assert back == validate_request(req)  # destinations keep their given order
        assert len(text.split()) < 64
    assert linearize(request(destinations=TWO)).split()[9:15] == ["alpha", "2", "3", "beta", "1", "1"]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "from home",
        "from home leave jun 1 back jun 8 to alpha 2 order any people 1 budget none stars none "
        "hotelmax none nonstop no time none",  # a night count missing
        "from home leave jun 1 back jun 8 to alpha 2 3 alpha 2 3 order any people 1 budget none stars none "
        "hotelmax none nonstop no time none",  # a city twice
        "from home leave foo 1 back jun 8 to alpha 2 3 order any people 1 budget none stars none hotelmax none "
        "nonstop no time none",
        "from home leave jun 1 back jun 8 to alpha 2 3 order any people 1 budget none stars none hotelmax none "
        "nonstop no time none extra",
        "from home leave jun 31 back jun 8 to alpha 2 3 order any people 1 budget none stars none hotelmax none "
        "nonstop no time none",  # no such day
        "from home leave jun 99999999999999999999 back jun 8 to alpha 2 3 order any people 1 budget none "
        "stars none hotelmax none nonstop no time none",  # a day too large for a C long (an untrained translator)
    ],
)
def test_delinearize_rejects_malformed_targets(bad):
    with pytest.raises(SchemaError):
        delinearize(bad, "2025-06-01", ["Home", "Alpha", "Beta"])


def test_validation_names_the_bad_field():
    with pytest.raises(SchemaError, match="destinations"):
        validate_request(request(destinations=[]))
    with pytest.raises(SchemaError, match="hotel_min_stars"):
        validate_request(request(hotel_min_stars=7))
    with pytest.raises(SchemaError, match="latest_return"):
        validate_request(request(latest_return="2025-05-01"))
    with pytest.raises(SchemaError, match="origin"):
        validate_request(request(destinations=[{"city": "Home", "min_nights": 1, "max_nights": 1}]))
    with pytest.raises(SchemaError, match="unknown field"):
        validate_request({**request(), "cabin": "business"})
    with pytest.raises(SchemaError, match="unknown city"):
        validate_request(request(), cities=["Alpha"])
    req = request()
    before = copy.deepcopy(req)
    canonicalize(req)
    assert req == before  # no mutation


def test_lenient_fields_give_credit_field_by_field():
    gold = request(destinations=TWO, budget=1500)
    broken = linearize(gold).replace("beta 1 1", "alpha 1 1")  # a city twice: the whole does not parse
    with pytest.raises(SchemaError):
        delinearize(broken, "2025-06-01", ["Home", "Alpha", "Beta"])
    fields = lenient_fields(broken, "2025-06-01", ["Home", "Alpha", "Beta"])
    matches = field_matches(fields, gold, partial=True)
    assert not matches["destinations"] and sum(matches.values()) == len(FIELDS) - 1
    truncated = " ".join(linearize(gold).split()[:8])  # "from home leave jun 1 back jun 8": three fields
    assert (
        sum(
            field_matches(
                lenient_fields(truncated, "2025-06-01", ["Home", "Alpha", "Beta"]), gold, partial=True
            ).values()
        )
        == 3
    )
    assert lenient_fields("", "2025-06-01") == {}
