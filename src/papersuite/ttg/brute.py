"""Brute-force optimum of small requests, the known answer the MILP is tested against
(``docs/papers/ttg.md``, "Known answers").

Enumerates visiting orders × stay lengths × the first departure day, takes the cheapest eligible
flight per leg and day and the cheapest eligible hotel per city, and keeps the cheapest itinerary
within the window, the order constraint and the budget. It reads the raw tables with its own
pandas filters, so it shares no code path with the solver's indexed lookups.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from .schema import validate_request
from .world import Tables, rooms_for

__all__ = ["brute_force"]


def brute_force(request: Mapping[str, Any], tables: Tables) -> tuple[str, float | None]:
    """("optimal", cost) or ("infeasible", None) by enumeration; exponential, for ≤ 4 destinations."""
    r = validate_request(request, tables.city_names)
    dests = r["destinations"]
    cities = [r["origin"]] + [d["city"] for d in dests]
    e = max(tables.day_of(r["earliest_departure"]), 0)
    l = min(tables.day_of(r["latest_return"]), tables.n_days - 1)
    travelers, rooms = r["travelers"], rooms_for(r["travelers"])

    fl = tables.flights
    mask = fl["origin"].isin(cities) & fl["dest"].isin(cities) & (fl["day"] >= e) & (fl["day"] <= l)
    if r["nonstop_only"]:
        mask &= fl["stops"] == 0
    if r["depart_time"] is not None:
        mask &= fl["bucket"] == r["depart_time"]
    fare = {
        (a, b, int(t)): float(p) for (a, b, t), p in fl[mask].groupby(["origin", "dest", "day"])["price"].min().items()
    }

    hotel: dict[str, float] = {}
    for d in dests:
        h = tables.hotels[tables.hotels["city"] == d["city"]]
        if r["hotel_min_stars"] is not None:
            h = h[h["stars"] >= r["hotel_min_stars"]]
        if r["hotel_max_price"] is not None:
            h = h[h["price"] <= r["hotel_max_price"]]
        if h.empty:
            return "infeasible", None
        hotel[d["city"]] = float(h["price"].min())

    orders = [dests] if r["order"] == "listed" else list(itertools.permutations(dests))
    best = math.inf
    for order in orders:
        ranges = [range(d["min_nights"], d["max_nights"] + 1) for d in order]
        for nights in itertools.product(*ranges):
            span = sum(nights)
            for start in range(e, l - span + 1):
                legs, day, where = [], start, r["origin"]
                for d, n in zip(order, nights):
                    legs.append((where, d["city"], day))
                    where, day = d["city"], day + n
                legs.append((where, r["origin"], day))
                if not all(leg in fare for leg in legs):
                    continue
                cost = (
                    sum(fare[leg] for leg in legs) * travelers
                    + sum(hotel[d["city"]] * n for d, n in zip(order, nights)) * rooms
                )
                if r["budget"] is not None and cost > r["budget"]:
                    continue
                best = min(best, cost)
    if math.isinf(best):
        return "infeasible", None
    return "optimal", best
