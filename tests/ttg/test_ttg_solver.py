"""The MILP against brute force, hand-built known optima, and the independent plan validator
(docs/papers/ttg.md, "Known answers")."""

from __future__ import annotations

import copy
import datetime as dt

import numpy as np
import pytest

from papersuite.ttg.brute import brute_force
from papersuite.ttg.sampling import REQUEST_DEFAULTS, sample_candidate
from papersuite.ttg.solver import INFEASIBLE, OPTIMAL, solve
from papersuite.ttg.validate import validate_plan
from ttg_helpers import hand_tables, request

SMALL_REQUESTS = {
    **REQUEST_DEFAULTS,
    "destination_probs": [0.35, 0.4, 0.25],
    "min_nights": [1, 3],
    "max_width": 1,
    "start_window_days": 25,
    "slack_days": 2,
    "p_hotel_max": 0.3,
    "p_nonstop": 0.3,
    "p_depart_time": 0.3,
    "p_stars": 0.5,
}


def _small_instances(tables, n: int, seed: int):
    """Random requests with ≤ 3 destinations and a window of ≤ 10 days; some get a random budget."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        req, factor = sample_candidate(rng, tables, SMALL_REQUESTS)
        days = (dt.date.fromisoformat(req["latest_return"]) - dt.date.fromisoformat(req["earliest_departure"])).days
        if days > 10:
            continue
        if factor is not None:
            req["budget"] = int(rng.integers(4, 40)) * 50  # often binding: exercises budget-infeasible
        out.append(req)
    return out


@pytest.mark.parametrize("formulation", ["stays", "nights"])
def test_milp_equals_brute_force_on_random_small_instances(tables, formulation):
    statuses = []
    for req in _small_instances(tables, 30, seed=11):
        status, cost, plan = solve(req, tables, formulation=formulation)
        b_status, b_cost = brute_force(req, tables)
        assert status == b_status, req
        statuses.append(status)
        if status == OPTIMAL:
            assert cost == pytest.approx(b_cost, abs=1e-6), req
            check = validate_plan(plan, req, tables, claimed_cost=cost)
            assert check.ok, (req, check.violations)
            assert check.cost == pytest.approx(cost, abs=1e-6)
    assert statuses.count(OPTIMAL) >= 5 and statuses.count(INFEASIBLE) >= 5, statuses


def test_single_destination_known_optimum_is_the_sum_of_its_parts():
    t = hand_tables([("Home", "Alpha", 1, 100), ("Alpha", "Home", 4, 120)], [("Alpha", 3, 50)])
    status, cost, plan = solve(request(), t)
    assert status == OPTIMAL
    assert cost == 100 + 120 + 3 * 50
    assert [f["id"] for f in plan["flights"]] == ["F0000000", "F0000001"]
    assert plan["stays"] == [
        {"city": "Alpha", "hotel": "H00000", "check_in": "2025-06-02", "nights": 3, "price_per_night": 50}
    ]
    assert brute_force(request(), t) == ("optimal", cost)


def test_travellers_multiply_fares_and_rooms():
    t = hand_tables([("Home", "Alpha", 1, 100), ("Alpha", "Home", 4, 120)], [("Alpha", 3, 50)])
    _, cost, _ = solve(request(travelers=3), t)
    assert cost == 3 * (100 + 120) + 2 * 3 * 50  # two rooms for three travellers


def test_cheapest_combination_is_chosen_among_options():
    flights = [
        ("Home", "Alpha", 1, 100),
        ("Home", "Alpha", 2, 60),
        ("Alpha", "Home", 4, 80),
        ("Alpha", "Home", 5, 300),
        ("Home", "Alpha", 2, 70),
    ]
    hotels = [("Alpha", 3, 50), ("Alpha", 4, 90), ("Alpha", 2, 40)]
    t = hand_tables(flights, hotels)
    # day 2 -> day 4 is 2 nights: 60 + 80 + 2 * 40
    assert solve(request(), t)[1] == 60 + 80 + 2 * 40
    # at least 3 stars: hotel 50; 2 nights still cheapest: 60 + 80 + 100
    assert solve(request(hotel_min_stars=3), t)[1] == 60 + 80 + 2 * 50
    # exactly 3 nights: day 1 -> 4 (100 + 80 + 120) or day 2 -> 5 (60 + 300 + 120)
    three = [{"city": "Alpha", "min_nights": 3, "max_nights": 3}]
    assert solve(request(destinations=three), t)[1] == 100 + 80 + 3 * 40


def test_doubling_every_price_doubles_the_optimum(tables):
    doubled = tables.scaled(2.0)
    found = 0
    for req in _small_instances(tables, 12, seed=3):
        req["budget"] = None
        status, cost, _ = solve(req, tables)
        cap = req["hotel_max_price"]
        status2, cost2, _ = solve({**req, "hotel_max_price": None if cap is None else 2 * cap}, doubled)
        assert status == status2
        if status == OPTIMAL:
            found += 1
            assert cost2 == pytest.approx(2 * cost, abs=1e-6)
    assert found >= 3


def test_removing_the_return_flights_makes_it_infeasible():
    flights = [("Home", "Alpha", 1, 100), ("Alpha", "Home", 4, 120), ("Alpha", "Beta", 3, 30)]
    t = hand_tables(flights, [("Alpha", 3, 50), ("Beta", 3, 50)])
    assert solve(request(), t)[0] == OPTIMAL
    no_return = hand_tables([f for f in flights if f[1] != "Home"], [("Alpha", 3, 50), ("Beta", 3, 50)])
    assert solve(request(), no_return) == (INFEASIBLE, None, None)
    assert brute_force(request(), no_return) == ("infeasible", None)


def test_budget_order_and_filters_bind():
    flights = [
        ("Home", "Alpha", 1, 100),
        ("Alpha", "Beta", 3, 50),
        ("Beta", "Home", 5, 100),
        ("Home", "Beta", 1, 90),
        ("Beta", "Alpha", 3, 40),
        ("Alpha", "Home", 5, 95, 1, "evening"),
    ]
    t = hand_tables(flights, [("Alpha", 3, 50), ("Beta", 3, 60)])
    two = [{"city": "Alpha", "min_nights": 2, "max_nights": 2}, {"city": "Beta", "min_nights": 2, "max_nights": 2}]
    base = request(destinations=two)
    via_beta = 90 + 40 + 95 + 2 * 60 + 2 * 50  # Home-Beta-Alpha-Home
    via_alpha = 100 + 50 + 100 + 2 * 50 + 2 * 60
    assert via_beta < via_alpha
    assert solve(base, t)[1] == via_beta
    assert solve({**base, "order": "listed"}, t)[1] == via_alpha  # Alpha first, as listed
    assert solve({**base, "nonstop_only": True}, t)[1] == via_alpha  # the Alpha-Home flight has a stop
    assert solve({**base, "depart_time": "morning"}, t)[1] == via_alpha
    assert solve({**base, "budget": via_beta}, t)[1] == via_beta
    assert solve({**base, "budget": via_beta - 1}, t)[1] == via_alpha if via_alpha <= via_beta - 1 else True
    assert solve({**base, "budget": min(via_alpha, via_beta) - 1}, t)[0] == INFEASIBLE
    assert solve({**base, "latest_return": "2025-06-05"}, t)[0] == INFEASIBLE  # day 5 is the 6th


def _plan(tables, seed=5):
    for req in _small_instances(tables, 40, seed=seed):
        req["budget"] = None
        status, cost, plan = solve(req, tables)
        if status == OPTIMAL and len(plan["flights"]) >= 3:
            return req, cost, plan
    raise AssertionError("no multi-city plan found")


def test_validator_rejects_hand_broken_plans(tables):
    req, cost, plan = _plan(tables)
    assert validate_plan(plan, req, tables, claimed_cost=cost).ok

    def broken(edit):
        p = copy.deepcopy(plan)
        edit(p)
        return validate_plan(p, req, tables, claimed_cost=cost)

    assert not broken(lambda p: p["flights"].pop()).ok  # never returns home
    assert not broken(lambda p: p["flights"].pop(1)).ok  # discontinuous, a city skipped
    assert not broken(lambda p: p["flights"][0].update(id="F9999999")).ok  # no such flight
    assert not broken(lambda p: p["flights"][0].update(price=p["flights"][0]["price"] - 1)).ok  # wrong fare
    assert not broken(lambda p: p["stays"][0].update(nights=p["stays"][0]["nights"] + 1)).ok  # hotel ≠ flights
    assert not broken(lambda p: p["stays"].pop()).ok  # a night without a hotel
    assert not broken(lambda p: p.update(travelers=p["travelers"] + 1)).ok
    assert not validate_plan(plan, req, tables, claimed_cost=cost + 1).ok  # cost does not add up
    assert not validate_plan(plan, {**req, "budget": int(cost) - 1}, tables).ok
    last = dt.date.fromisoformat(plan["flights"][-1]["date"])
    assert not validate_plan(
        plan,
        {
            **req,
            "earliest_departure": plan["flights"][0]["date"],
            "latest_return": (last - dt.timedelta(days=1)).isoformat(),
        },
        tables,
    ).ok
    first = dt.date.fromisoformat(plan["flights"][0]["date"])
    assert not validate_plan(
        plan,
        {**req, "earliest_departure": (first + dt.timedelta(days=1)).isoformat(), "latest_return": last.isoformat()},
        tables,
    ).ok
    first_city = plan["stays"][0]["city"]
    nights = plan["stays"][0]["nights"]
    tight = [
        {**d, "min_nights": nights + 1, "max_nights": nights + 1} if d["city"] == first_city else d
        for d in req["destinations"]
    ]
    assert not validate_plan(plan, {**req, "destinations": tight}, tables).ok
    hotel = tables.hotel(plan["stays"][0]["hotel"])
    if hotel["stars"] < 5:
        assert not validate_plan(plan, {**req, "hotel_min_stars": int(hotel["stars"]) + 1}, tables).ok
    assert not validate_plan(plan, {**req, "hotel_max_price": int(hotel["price"]) - 1}, tables).ok
    buckets = {f["bucket"] for f in plan["flights"]}
    other = next(b for b in ("morning", "afternoon", "evening") if b not in buckets or len(buckets) > 1)
    assert not validate_plan(plan, {**req, "depart_time": other}, tables).ok
    if any(f["stops"] for f in plan["flights"]):
        assert not validate_plan(plan, {**req, "nonstop_only": True}, tables).ok
    wrong = validate_plan(
        plan, {**req, "order": "listed", "destinations": list(reversed([s for s in req["destinations"]]))}, tables
    )
    visited = [s["city"] for s in plan["stays"]]
    if visited != list(reversed([d["city"] for d in req["destinations"]])):
        assert not wrong.ok
