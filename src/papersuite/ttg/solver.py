"""The Travel Solver: a time-expanded MILP solved by HiGHS in process (scipy's ``milp``) (paper:
abstract; [recon], ``docs/papers/ttg.md``, "Travel Solver").

One function, :func:`solve` (request, tables) -> (status, cost, plan); the generator, the
evaluation, the planner and the tests all call it.

Days t = e..l run from the earliest departure to the latest return (day indices of the world).
C = {origin} ∪ destinations. After pre-filtering flights by the hard preferences (nonstop,
departure bucket) and hotels by stars and price cap:

- f_{a,b,t} ∈ {0,1}: take the cheapest eligible flight a -> b on day t. Keeping only the cheapest
  flight per (route, day) and the cheapest eligible hotel per city is an exact presolve for the
  min-cost objective: every constraint other than the filters (already applied) is on routes,
  days and the total cost, which the cheapest option can only help.
- ℓ_{c,t} ∈ {0,1}: "in city c after day t's flight" (night t for t < l; t = l is the end state).
- Flow: ℓ_{c,t} = ℓ_{c,t−1} + Σ_in f − Σ_out f with ℓ_{c,e−1} = 1[c = origin]; Σ_c ℓ_{c,t} = 1;
  at most one flight per day (no same-day connections; one-stop options are single flights).
- Each city of C is entered exactly once and left exactly once, ℓ_{origin,l} = 1: with the flow
  this makes every stay contiguous and brings the traveller home by the latest return.
- Stay length: min_nights_c ≤ Σ_{t<l} ℓ_{c,t} ≤ max_nights_c; each night away costs the city's
  hotel × rooms (rooms = ⌈travelers / 2⌉); flights cost fare × travelers.
- Order "listed": arrival_day(d_i) + 1 ≤ arrival_day(d_{i+1}), arrival_day(c) = Σ_t t·in(c, t).
- Budget: total cost ≤ budget. Objective: minimum total cost.

The night-by-night form (ℓ_{c,t} with flow; ``docs/papers/ttg.md``, "Travel Solver") is kept as
``formulation="nights"``, in pulp with the bundled CBC: it gives the same optima (tested against
brute force) but its LP relaxation is weak, about 1 s of CBC for four destinations against about
10 ms for the stays model in HiGHS. The stays model ran in pulp + CBC too until the tiny run was
made faster: CBC is a subprocess per solve (an MPS file, a process start, a solution file), about
twice the CPU of HiGHS in process, and most of the wall time of the evaluation jobs
(``docs/papers/ttg.md``, "Tiny scale: sizes and speed"). Both solve to a proven optimum (HiGHS
with a relative gap of 0); between plans of equal cost they may choose differently.

Not modelled [recon]: hotel switching within a city (a hotel's price is the same every night, so
one hotel per stay is optimal), same-day connections (one-stop options are single flights),
cabins, airline preferences, attractions, and objectives other than the minimum cost.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

from .schema import SchemaError, validate_request
from .world import Tables, rooms_for

__all__ = ["INFEASIBLE", "OPTIMAL", "ERROR", "plan_cost", "solve"]

log = logging.getLogger("papersuite.ttg.solver")

OPTIMAL, INFEASIBLE, ERROR = "optimal", "infeasible", "error"


def _window(request: Mapping[str, Any], tables: Tables) -> tuple[int, int]:
    return tables.day_of(request["earliest_departure"]), tables.day_of(request["latest_return"])


def plan_cost(plan: Mapping[str, Any], travelers: int) -> int:
    """Total cost of a plan from its own prices: fares × travelers + hotel nights × rooms."""
    fares = sum(f["price"] for f in plan["flights"])
    hotels = sum(s["price_per_night"] * s["nights"] for s in plan["stays"])
    return fares * int(travelers) + hotels * rooms_for(travelers)


def _cheapest_hotels(r: Mapping[str, Any], tables: Tables) -> dict[str, tuple[str, int]] | None:
    """city -> (hotel id, price) of the cheapest eligible hotel; None if a destination has none."""
    hotel = {}
    for d in r["destinations"]:
        best = tables.cheapest_hotel(d["city"], r["hotel_min_stars"], r["hotel_max_price"])
        if best is None:
            return None
        hotel[d["city"]] = best
    return hotel


def _cheapest_flights(
    r: Mapping[str, Any], tables: Tables, cities: list[str], e: int, l: int
) -> dict[tuple[str, str, int], tuple[str, int]]:
    """(a, b, day) -> (flight id, fare) of the cheapest eligible flight between the request's cities."""
    flights: dict[tuple[str, str, int], tuple[str, int]] = {}
    for a in cities:
        for b in cities:
            if a != b:
                for day, option in tables.cheapest_route_flights(
                    a, b, e, l, r["nonstop_only"], r["depart_time"]
                ).items():
                    flights[(a, b, day)] = option
    return flights


def _run_cbc(prob, time_limit: float | None) -> str:
    """Solve ``prob`` with the bundled CBC: OPTIMAL, INFEASIBLE or ERROR (stopped without a proof)."""
    import pulp

    with warnings.catch_warnings():
        # PuLP 3.3 deprecates the bundled-CBC class in favour of a separate cbc install (PuLP 4)
        warnings.filterwarnings("ignore", message="PULP_CBC_CMD is deprecated", category=DeprecationWarning)
        # No "threads" option: the bundled CBC 2.10 with "-threads 1" stalls for exactly 10 s on about
        # 1 solve in 150 (measured: 2 of 300 runs of one model, 0 of 300 without the option); CBC
        # is single-threaded by default anyway.
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit)
    prob.solve(solver)
    status = pulp.LpStatus[prob.status]
    if status == "Infeasible":
        return INFEASIBLE
    if status != "Optimal" or prob.sol_status != pulp.LpSolutionOptimal:
        log.warning("CBC stopped with status %s (solution status %s)", status, prob.sol_status)
        return ERROR
    return OPTIMAL


def _plan_of(
    chosen: list[tuple[str, str, int]], flights: Mapping, hotel: Mapping, tables: Tables, travelers: int, rooms: int
) -> dict:
    """The itinerary of the chosen flight keys (in day order): flights, then a stay between
    consecutive flights in the cheapest eligible hotel of the city."""
    plan_flights = []
    for a, b, t in chosen:
        fid, fare = flights[(a, b, t)]
        row = tables.flight(fid)
        plan_flights.append(
            {
                "id": fid,
                "from": a,
                "to": b,
                "date": tables.date_of(t),
                "price": fare,
                "stops": int(row["stops"]),
                "airline": str(row["airline"]),
                "depart_hour": int(row["depart_hour"]),
                "bucket": str(row["bucket"]),
            }
        )
    stays = []
    for leg, nxt in zip(plan_flights, plan_flights[1:]):
        city = leg["to"]
        nights = tables.day_of(nxt["date"]) - tables.day_of(leg["date"])
        hid, price = hotel[city]
        stays.append({"city": city, "hotel": hid, "check_in": leg["date"], "nights": nights, "price_per_night": price})
    return {"flights": plan_flights, "stays": stays, "travelers": travelers, "rooms": rooms}


def solve(
    request: Mapping[str, Any], tables: Tables, time_limit: float | None = 30.0, formulation: str = "stays"
) -> tuple[str, float | None, dict | None]:
    """Solve the MILP of ``request`` over ``tables``.

    Returns ``(status, cost, plan)``: status "optimal" with the cost and the plan
    ``{flights: [...], stays: [...], travelers, rooms, cost}``, "infeasible" with (None, None), or
    "error" (the solver stopped without a proof, e.g. at the time limit, or the request is malformed).
    ``formulation`` "stays" (default) or "nights" (the night-by-night form; same optimum, slower).
    """
    try:
        r = validate_request(request, tables.city_names)
    except SchemaError as exc:
        log.debug("malformed request: %s", exc)
        return ERROR, None, None
    origin, dests = r["origin"], r["destinations"]
    cities = [origin] + [d["city"] for d in dests]
    e, l = _window(r, tables)
    e, l = max(e, 0), min(l, tables.n_days - 1)
    if l <= e:
        return INFEASIBLE, None, None
    travelers, rooms = r["travelers"], rooms_for(r["travelers"])
    hotel = _cheapest_hotels(r, tables)
    if hotel is None:
        return INFEASIBLE, None, None
    flights = _cheapest_flights(r, tables, cities, e, l)
    for c in cities:
        if not any(k[1] == c for k in flights) or not any(k[0] == c for k in flights):
            return INFEASIBLE, None, None

    if formulation == "stays":
        status, chosen, objective = _solve_stays(r, flights, hotel, e, l, travelers, rooms, time_limit)
    elif formulation == "nights":
        status, chosen, objective = _solve_nights(r, flights, hotel, e, l, travelers, rooms, time_limit)
    else:
        raise ValueError(f"formulation must be 'stays' or 'nights', got {formulation!r}")
    if status != OPTIMAL:
        return status, None, None

    plan = _plan_of(sorted(chosen, key=lambda k: k[2]), flights, hotel, tables, travelers, rooms)
    cost = plan_cost(plan, travelers)
    if abs(cost - objective) > 1e-6 * max(1.0, abs(cost)):
        log.warning("plan cost %s differs from the MILP objective %s", cost, objective)
    plan["cost"] = cost
    return OPTIMAL, float(cost), plan


def _solve_nights(r, flights, hotel, e, l, travelers, rooms, time_limit):
    """(status, chosen flight keys, objective) of the night-by-night model, in pulp with CBC."""
    import pulp

    prob, f = _nights_model(r, flights, hotel, e, l, travelers, rooms)
    status = _run_cbc(prob, time_limit)
    if status != OPTIMAL:
        return status, [], None
    return status, [k for k in sorted(flights) if f[k].value() > 0.5], pulp.value(prob.objective)


class _Rows:
    """Sparse constraint rows lower <= Σ coef·x <= upper of a MILP, for scipy's ``milp``."""

    def __init__(self) -> None:
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.row_of: list[int] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def add(self, terms: Mapping[int, float], lower: float, upper: float) -> None:
        row = len(self.lower)
        for col, val in terms.items():
            self.row_of.append(row)
            self.cols.append(col)
            self.vals.append(val)
        self.lower.append(lower)
        self.upper.append(upper)

    def equal(self, plus: list[int], minus: list[int] = (), value: float = 0.0) -> None:
        terms: dict[int, float] = {}
        for i in plus:
            terms[i] = terms.get(i, 0.0) + 1.0
        for i in minus:
            terms[i] = terms.get(i, 0.0) - 1.0
        self.add(terms, value, value)


def _stay_arcs(dests, inflow: Mapping, outflow: Mapping, e: int, l: int) -> list[tuple[str, int, int]]:
    """Stays (city, arrival day, departure day) that start at an arrival and end at a departure."""
    stays = []
    for d in dests:
        c = d["city"]
        for a in range(e, l):
            if (c, a) not in inflow:
                continue
            for nights in range(d["min_nights"], d["max_nights"] + 1):
                if a + nights > l:
                    break
                if (c, a + nights) in outflow:
                    stays.append((c, a, a + nights))
    return stays


def _solve_stays(r: Mapping[str, Any], flights: Mapping, hotel: Mapping, e: int, l: int, travelers, rooms, time_limit):
    """Stay-arc time-expanded network: s_{c,a,d} = stay in c from day a to day d (d − a nights),
    solved in process by HiGHS (scipy's ``milp``); (status, chosen flight keys, objective).

    Nodes are (city, day); a path leaves the origin by one flight, alternates flights (same day)
    and stays (min..max nights), and returns by one flight. Time strictly increases along stays,
    so no subtour can avoid the origin. Its LP relaxation is much tighter than the night-by-night
    form (about 10 ms of HiGHS for four destinations, against about 1 s of CBC for the nights).
    """
    import numpy as np

    origin, dests = r["origin"], r["destinations"]
    keys = sorted(flights)
    inflow: dict[tuple[str, int], list[int]] = {}
    outflow: dict[tuple[str, int], list[int]] = {}
    for i, (a, b, t) in enumerate(keys):
        outflow.setdefault((a, t), []).append(i)
        inflow.setdefault((b, t), []).append(i)
    stays = _stay_arcs(dests, inflow, outflow, e, l)
    by_city: dict[str, list[int]] = {d["city"]: [] for d in dests}
    starts: dict[tuple[str, int], list[int]] = {}
    ends: dict[tuple[str, int], list[int]] = {}
    for j, (c, a, b) in enumerate(stays, start=len(keys)):
        by_city[c].append(j)
        starts.setdefault((c, a), []).append(j)
        ends.setdefault((c, b), []).append(j)
    if any(not v for v in by_city.values()):
        return INFEASIBLE, [], None
    cost = np.array(
        [flights[k][1] * travelers for k in keys] + [hotel[c][1] * rooms * (b - a) for c, a, b in stays], dtype=float
    )
    rows = _Rows()
    for d in dests:
        c = d["city"]
        rows.equal(by_city[c], value=1.0)
        for t in range(e, l + 1):
            if (c, t) in inflow or (c, t) in starts:
                rows.equal(inflow.get((c, t), []), starts.get((c, t), []))
            if (c, t) in outflow or (c, t) in ends:
                rows.equal(outflow.get((c, t), []), ends.get((c, t), []))
    rows.equal([i for (c, _), ids in outflow.items() if c == origin for i in ids], value=1.0)
    rows.equal([i for (c, _), ids in inflow.items() if c == origin for i in ids], value=1.0)
    if r["order"] == "listed":
        for first, second in zip(dests, dests[1:]):
            terms = {j: float(stays[j - len(keys)][1]) for j in by_city[first["city"]]}
            for j in by_city[second["city"]]:
                terms[j] = terms.get(j, 0.0) - stays[j - len(keys)][1]
            rows.add(terms, -np.inf, -1.0)  # arrival(first) + 1 <= arrival(second)
    if r["budget"] is not None:
        rows.add(dict(enumerate(cost)), -np.inf, float(r["budget"]))
    status, x, objective = _run_highs(cost, rows, time_limit)
    return status, [k for i, k in enumerate(keys) if status == OPTIMAL and x[i] > 0.5], objective


def _run_highs(cost, rows: _Rows, time_limit: float | None):
    """Solve min cost·x over binary x subject to ``rows`` with HiGHS: (status, x, objective)."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix

    matrix = csr_matrix((rows.vals, (rows.row_of, rows.cols)), shape=(len(rows.lower), len(cost)))
    options = {"mip_rel_gap": 0.0, **({"time_limit": float(time_limit)} if time_limit else {})}
    res = milp(
        cost,
        constraints=LinearConstraint(matrix, np.asarray(rows.lower), np.asarray(rows.upper)),
        integrality=np.ones(len(cost)),
        bounds=Bounds(0, 1),
        options=options,
    )
    if res.status == 2:
        return INFEASIBLE, None, None
    if res.status != 0:
        log.warning("HiGHS stopped with status %s (%s)", res.status, res.message)
        return ERROR, None, None
    return OPTIMAL, res.x, float(res.fun)


def _nights_model(r: Mapping[str, Any], flights: Mapping, hotel: Mapping, e: int, l: int, travelers: int, rooms: int):
    """The night-by-night MILP (``docs/papers/ttg.md``, "Travel Solver"): ℓ_{c,t} night by night,
    flow, enter and leave each city once."""
    import pulp

    origin, dests = r["origin"], r["destinations"]
    cities = [origin] + [d["city"] for d in dests]
    days = range(e, l + 1)
    prob = pulp.LpProblem("ttg", pulp.LpMinimize)
    keys = sorted(flights)
    f = {k: prob.add_variable(f"f{i}", cat="Binary") for i, k in enumerate(keys)}
    loc = {(c, t): prob.add_variable(f"l{i}_{t}", cat="Binary") for i, c in enumerate(cities) for t in days}
    inflow = {(c, t): [] for c in cities for t in days}
    outflow = {(c, t): [] for c in cities for t in days}
    per_day = {t: [] for t in days}
    for (a, b, t), var in f.items():
        outflow[(a, t)].append(var)
        inflow[(b, t)].append(var)
        per_day[t].append(var)

    fare_cost = pulp.lpSum(flights[k][1] * travelers * f[k] for k in keys)
    hotel_cost = pulp.lpSum(hotel[d["city"]][1] * rooms * loc[(d["city"], t)] for d in dests for t in days if t < l)
    total = fare_cost + hotel_cost
    prob += total

    for t in days:
        prob += pulp.lpSum(loc[(c, t)] for c in cities) == 1
        if len(per_day[t]) > 1:
            prob += pulp.lpSum(per_day[t]) <= 1
        for c in cities:
            prev = loc[(c, t - 1)] if t > e else (1 if c == origin else 0)
            prob += loc[(c, t)] == prev + pulp.lpSum(inflow[(c, t)]) - pulp.lpSum(outflow[(c, t)])
    for c in cities:
        prob += pulp.lpSum(v for t in days for v in inflow[(c, t)]) == 1
        prob += pulp.lpSum(v for t in days for v in outflow[(c, t)]) == 1
    prob += loc[(origin, l)] == 1
    for d in dests:
        nights = pulp.lpSum(loc[(d["city"], t)] for t in days if t < l)
        prob += nights >= d["min_nights"]
        prob += nights <= d["max_nights"]
    if r["order"] == "listed":
        arrival = {d["city"]: pulp.lpSum(t * v for t in days for v in inflow[(d["city"], t)]) for d in dests}
        for first, second in zip(dests, dests[1:]):
            prob += arrival[first["city"]] + 1 <= arrival[second["city"]]
    if r["budget"] is not None:
        prob += total <= r["budget"]

    return prob, f
