"""Independent plan validator: recompute the cost and check every constraint
(``docs/papers/ttg.md``, "Known answers").

It reads each flight and hotel of a plan back from the tables by id and never calls the solver, so
it can judge the solver's plans and the plans of a wrong translation against the true request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .schema import validate_request
from .world import Tables, rooms_for

__all__ = ["Validation", "validate_plan"]


@dataclass
class Validation:
    violations: list[str] = field(default_factory=list)
    cost: float | None = None  # recomputed from the tables, for the request's party

    @property
    def ok(self) -> bool:
        return not self.violations


def _flight_rows(plan: Mapping[str, Any], r: Mapping[str, Any], tables: Tables, bad) -> list | None:
    """The table row of each flight of the plan, checked against the plan and the flight filters;
    None at the first unknown flight id."""
    legs = []
    for i, f in enumerate(plan["flights"]):
        row = tables.flight(str(f.get("id")))
        if row is None:
            bad(f"flight {i}: unknown flight id {f.get('id')!r}")
            return None
        for key, col in (("from", "origin"), ("to", "dest"), ("date", "date"), ("price", "price")):
            if key in f and f[key] != row[col]:
                bad(f"flight {f['id']}: plan says {key}={f[key]!r}, the table says {row[col]!r}")
        if r["nonstop_only"] and int(row["stops"]) != 0:
            bad(f"flight {f['id']} has {row['stops']} stop(s); the request asks for nonstop flights")
        if r["depart_time"] is not None and row["bucket"] != r["depart_time"]:
            bad(f"flight {f['id']} leaves in the {row['bucket']}; the request asks for {r['depart_time']}")
        legs.append(row)
    return legs


def _check_route(legs: list, dates: list[dt.date], r: Mapping[str, Any], bad) -> None:
    """From the origin and back, connected flights in date order, inside the date window."""
    if legs[0]["origin"] != r["origin"]:
        bad(f"the first flight leaves from {legs[0]['origin']}, not the origin {r['origin']}")
    if legs[-1]["dest"] != r["origin"]:
        bad(f"the last flight goes to {legs[-1]['dest']}, not back to {r['origin']}")
    for a, b in zip(legs, legs[1:]):
        if a["dest"] != b["origin"]:
            bad(f"flight {b['id']} leaves {b['origin']} but the previous flight landed in {a['dest']}")
    if dates != sorted(dates):
        bad("the flights are not in date order")
    earliest = dt.date.fromisoformat(r["earliest_departure"])
    latest = dt.date.fromisoformat(r["latest_return"])
    if dates[0] < earliest:
        bad(f"the trip starts on {dates[0]}, before the earliest departure {earliest}")
    if dates[-1] > latest:
        bad(f"the trip ends on {dates[-1]}, after the latest return {latest}")


def _check_visits(legs: list, dates: list[dt.date], r: Mapping[str, Any], bad) -> tuple[list[str], dict[str, int]]:
    """(cities visited in order, nights in each): every destination once, in the listed order when
    asked, for a number of nights inside its range."""
    visited = [row["dest"] for row in legs[:-1]]
    wanted = {d["city"]: d for d in r["destinations"]}
    if sorted(visited) != sorted(wanted):
        bad(f"visits {visited}, the request asks for {sorted(wanted)} once each")
    if r["order"] == "listed" and visited != [d["city"] for d in r["destinations"]]:
        bad(f"visits {visited} in this order; the request lists {[d['city'] for d in r['destinations']]}")
    nights_at = {}
    for i, city in enumerate(visited):
        nights = (dates[i + 1] - dates[i]).days
        nights_at[city] = nights
        d = wanted.get(city)
        if d is not None and not d["min_nights"] <= nights <= d["max_nights"]:
            bad(f"{nights} night(s) in {city}; the request asks for {d['min_nights']}-{d['max_nights']}")
    return visited, nights_at


def _check_stays(
    plan: Mapping[str, Any],
    visited: list[str],
    nights_at: Mapping[str, int],
    dates: list[dt.date],
    r: Mapping[str, Any],
    tables: Tables,
    bad,
) -> float:
    """One stay per city visited covering its nights, in a known hotel of that city that passes the
    filters at the table's price; returns the hotel cost per room (price × nights, from the tables)."""
    hotel_cost = 0.0
    stays = list(plan.get("stays") or [])
    stay_cities = [s.get("city") for s in stays]
    if stay_cities != visited:
        bad(f"hotel stays in {stay_cities} do not match the cities visited {visited}")
    for i, s in enumerate(stays):
        row = tables.hotel(str(s.get("hotel")))
        if row is None:
            bad(f"stay {i}: unknown hotel id {s.get('hotel')!r}")
            continue
        if row["city"] != s.get("city"):
            bad(f"hotel {row['id']} is in {row['city']}, not {s.get('city')}")
        if s.get("city") in nights_at:
            arrival = dates[visited.index(s["city"])]
            if s.get("check_in") != arrival.isoformat() or s.get("nights") != nights_at[s["city"]]:
                bad(
                    f"hotel {row['id']}: check-in {s.get('check_in')} for {s.get('nights')} night(s) does not cover "
                    f"the {nights_at[s['city']]} night(s) from {arrival}"
                )
        if "price_per_night" in s and s["price_per_night"] != row["price"]:
            bad(f"hotel {row['id']}: plan says {s['price_per_night']} a night, the table says {row['price']}")
        if r["hotel_min_stars"] is not None and row["stars"] < r["hotel_min_stars"]:
            bad(f"hotel {row['id']} has {row['stars']} stars; the request asks for at least {r['hotel_min_stars']}")
        if r["hotel_max_price"] is not None and row["price"] > r["hotel_max_price"]:
            bad(f"hotel {row['id']} costs {row['price']} a night; the cap is {r['hotel_max_price']}")
        hotel_cost += float(row["price"]) * int(s.get("nights", 0))
    return hotel_cost


def validate_plan(
    plan: Mapping[str, Any] | None,
    request: Mapping[str, Any],
    tables: Tables,
    claimed_cost: float | None = None,
    tol: float = 1e-6,
) -> Validation:
    """Check ``plan`` against ``request``; ``claimed_cost`` (e.g. the solver's) must equal the
    recomputed cost. Violations are readable sentences; none means the plan is valid."""
    r = validate_request(request, tables.city_names)
    out = Validation()
    bad = out.violations.append
    if not plan or not plan.get("flights"):
        bad("the plan has no flights")
        return out
    travelers, rooms = r["travelers"], rooms_for(r["travelers"])
    if plan.get("travelers", travelers) != travelers:
        bad(f"booked for {plan.get('travelers')} travellers, the request has {travelers}")
    legs = _flight_rows(plan, r, tables, bad)
    if legs is None:
        return out
    dates = [dt.date.fromisoformat(str(row["date"])) for row in legs]
    _check_route(legs, dates, r, bad)
    visited, nights_at = _check_visits(legs, dates, r, bad)
    hotel_cost = _check_stays(plan, visited, nights_at, dates, r, tables, bad)
    out.cost = float(sum(float(row["price"]) for row in legs) * travelers + hotel_cost * rooms)
    if claimed_cost is not None and abs(float(claimed_cost) - out.cost) > tol * max(1.0, abs(out.cost)):
        bad(f"the plan claims cost {claimed_cost}, the tables give {out.cost}")
    if r["budget"] is not None and out.cost > r["budget"] + tol:
        bad(f"the plan costs {out.cost:.0f}, over the budget {r['budget']}")
    return out
