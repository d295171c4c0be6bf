"""Symbolic requests sampled over the schema, kept only when the MILP finds a plan (paper:
abstract; [recon]).

TTG's training data is guaranteed feasible: the paper keeps requests the solver can satisfy and
so knows C*(x) for every request. Here each candidate is drawn from ``requests`` statistics
(1–4 destinations, 1–4 nights with a range width 0–2, a start day inside a 60-day window,
optional stars, hotel price cap, nonstop, departure bucket, order and budget), solved without its
budget, and kept when feasible. A drawn budget is then set to C* × U(budget_factor) rounded up to
50, so it never makes a kept request infeasible: under a pure min-cost objective a budget is either
redundant or infeasible (``docs/papers/ttg.md``, "Data"), and keeping only feasible requests is the
paper's rule.

All random draws happen in the parent process in a fixed order; solves run in a process pool and
are accepted in order, so the output depends on the seed only, not on the number of workers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import multiprocessing as mp
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from papersuite.core import io, progress, runtime

from .schema import DEPART_TIMES, canonicalize, validate_request
from .solver import OPTIMAL, solve
from .world import Tables, load_tables

__all__ = ["REQUEST_DEFAULTS", "SPLITS", "generate_requests", "request_hash", "sample_candidate"]

log = logging.getLogger("papersuite.ttg.sampling")

SPLITS = ("train", "test_in", "test_held")  # test_held is rendered with held-out templates

REQUEST_DEFAULTS: dict[str, Any] = {
    "n_train": 1000,  # feasible training requests
    "n_test": 200,  # feasible requests per test split (test_in and test_held)
    "destination_probs": [0.3, 0.3, 0.25, 0.15],  # P(1..4 destinations)
    "min_nights": [1, 4],
    "max_width": 2,  # max_nights - min_nights in 0..max_width
    "start_window_days": 60,  # earliest departure within the first days of the world
    "slack_days": 3,  # window beyond the longest stay: up to this many extra days
    "p_order_listed": 0.3,
    "travelers_probs": [0.4, 0.35, 0.15, 0.1],  # P(1..4 travellers)
    "p_budget": 0.4,
    "budget_factor": [1.0, 1.5],  # budget = C* × U(lo, hi), rounded up to 50
    "p_stars": 0.5,
    "stars_probs": [0.15, 0.45, 0.3, 0.1],  # P(min stars 2..5) when stars are asked for
    "p_hotel_max": 0.25,
    "hotel_max_factor": [1.0, 1.6],  # cap = max over cities of the cheapest eligible × U, up to 10
    "p_nonstop": 0.3,
    "p_depart_time": 0.3,
    "max_candidates_factor": 4,  # give up after this many candidates per request wanted
}


def request_hash(request: Mapping[str, Any]) -> str:
    canonical = json.dumps(canonicalize(request), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _round_up(x: float, step: int) -> int:
    return int(math.ceil(x / step) * step)


def sample_candidate(rng: np.random.Generator, tables: Tables, cfg: Mapping[str, Any]) -> tuple[dict, float | None]:
    """One request without its budget, and the budget factor to apply after solving (None: no budget)."""
    names = list(tables.city_names)
    k = int(rng.choice(np.arange(1, len(cfg["destination_probs"]) + 1), p=_norm(cfg["destination_probs"])))
    cities = rng.choice(len(names), size=k + 1, replace=False)
    origin, dests = names[cities[0]], [names[i] for i in cities[1:]]
    lo_n, hi_n = cfg["min_nights"]
    destinations = []
    for city in dests:
        mn = int(rng.integers(lo_n, hi_n + 1))
        destinations.append(
            {"city": city, "min_nights": mn, "max_nights": mn + int(rng.integers(0, cfg["max_width"] + 1))}
        )
    total_min = sum(d["min_nights"] for d in destinations)
    total_width = sum(d["max_nights"] - d["min_nights"] for d in destinations)
    start = int(rng.integers(0, cfg["start_window_days"]))
    length = total_min + int(rng.integers(0, total_width + cfg["slack_days"] + 1))
    length = min(length, tables.n_days - 1 - start)
    order = "listed" if (k > 1 and rng.random() < cfg["p_order_listed"]) else "any"
    travelers = int(rng.choice(np.arange(1, len(cfg["travelers_probs"]) + 1), p=_norm(cfg["travelers_probs"])))
    stars = (
        int(rng.choice(np.arange(2, 2 + len(cfg["stars_probs"])), p=_norm(cfg["stars_probs"])))
        if rng.random() < cfg["p_stars"]
        else None
    )
    hotel_max = None
    u_cap = rng.uniform(*cfg["hotel_max_factor"])
    if rng.random() < cfg["p_hotel_max"]:
        cheapest = [tables.cheapest_hotel(c, stars) for c in dests]
        if all(c is not None for c in cheapest):
            hotel_max = _round_up(max(c[1] for c in cheapest) * u_cap, 10)
    nonstop = bool(rng.random() < cfg["p_nonstop"])
    depart = str(rng.choice(DEPART_TIMES)) if rng.random() < cfg["p_depart_time"] else None
    budget_factor = float(rng.uniform(*cfg["budget_factor"])) if rng.random() < cfg["p_budget"] else None
    request = validate_request(
        {
            "origin": origin,
            "earliest_departure": tables.date_of(start),
            "latest_return": tables.date_of(start + max(length, 1)),
            "destinations": destinations,
            "order": order,
            "travelers": travelers,
            "budget": None,
            "hotel_min_stars": stars,
            "hotel_max_price": hotel_max,
            "nonstop_only": nonstop,
            "depart_time": depart,
        },
        names,
    )
    return request, budget_factor


def _norm(p) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return p / p.sum()


_TABLES: Tables | None = None  # the worker processes' world (inherited through fork)


def _solve_one(request: dict) -> tuple[str, float | None, float]:
    start = time.perf_counter()
    status, cost, _ = solve(request, _TABLES)
    return status, cost, time.perf_counter() - start


@dataclass
class _Kept:
    """The feasible requests accepted so far, in order, and the sampling counts."""

    order: list[str]  # split of the i-th accepted request
    rows: list[dict] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(
        default_factory=lambda: {"candidates": 0, "infeasible": 0, "duplicates": 0, "errors": 0}
    )
    solve_times: list[float] = field(default_factory=list)

    def keep(self, request: dict, factor: float | None, status: str, cost: float | None) -> bool:
        """Accept a solved candidate unless it is infeasible or a duplicate; a drawn budget factor
        becomes the budget C* × factor rounded up to 50."""
        if status != OPTIMAL:
            self.counts["infeasible" if status == "infeasible" else "errors"] += 1
            return False
        if factor is not None:
            request = {**request, "budget": _round_up(cost * factor, 50)}
        key = request_hash(request)
        if key in self.seen:
            self.counts["duplicates"] += 1
            return False
        self.seen.add(key)
        self.rows.append({"split": self.order[len(self.rows)], "request": request, "optimal_cost": cost})
        return True


def _sample_feasible(
    tables: Tables, cfg: Mapping[str, Any], wanted: Mapping[str, int], seed: int, threads: int
) -> _Kept:
    """Draw candidates in blocks in the parent process, solve each block (in a pool with several
    threads), and accept in order until every split has its requests."""
    total = sum(wanted.values())
    rng = np.random.default_rng(seed)
    kept = _Kept(order=[s for s in SPLITS for _ in range(wanted[s])])
    block = max(8, 16 * threads)
    limit = int(cfg["max_candidates_factor"]) * total
    pool = mp.get_context("fork").Pool(threads) if threads > 1 else None
    log.info("sampling %s feasible requests with %d worker(s)", wanted, threads)
    try:
        bar = iter(progress.progress(range(total), total=total, desc="feasible requests", logger=log))
        while len(kept.rows) < total:
            if kept.counts["candidates"] >= limit:
                raise RuntimeError(
                    f"only {len(kept.rows)} of {total} feasible requests after {limit} candidates; "
                    f"loosen the requests config"
                )
            batch = [sample_candidate(rng, tables, cfg) for _ in range(block)]
            kept.counts["candidates"] += len(batch)
            candidates = [c[0] for c in batch]
            results = pool.map(_solve_one, candidates) if pool is not None else [_solve_one(c) for c in candidates]
            for (request, factor), (status, cost, seconds) in zip(batch, results):
                kept.solve_times.append(seconds)
                if len(kept.rows) >= total:
                    break
                if kept.keep(request, factor, status, cost):
                    next(bar, None)
        for _ in bar:  # close the progress generator (final log line)
            pass
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return kept


def generate_requests(
    cities_path,
    flights_path,
    hotels_path,
    meta_path,
    requests: Mapping[str, Any],
    seed: int,
    out_jsonl,
    out_summary,
    threads: int = 1,
    log_path=None,
) -> dict:
    """Sample feasible requests for every split; write JSONL rows {id, split, request, optimal_cost}
    (seed-determined, so its sha256 is the dataset hash) and a JSON summary (counts, acceptance,
    solve-time percentiles, sha256)."""
    global _TABLES
    runtime.setup_logging(log_path)
    cfg = {**REQUEST_DEFAULTS, **dict(requests)}
    tables = load_tables(cities_path, flights_path, hotels_path, meta_path)
    _TABLES = tables
    wanted = {"train": int(cfg["n_train"]), "test_in": int(cfg["n_test"]), "test_held": int(cfg["n_test"])}
    start = time.perf_counter()
    kept = _sample_feasible(tables, cfg, wanted, seed, threads)
    rows, counts = kept.rows, kept.counts
    per_split = {s: 0 for s in SPLITS}
    for row in rows:
        row["id"] = f"{row['split']}-{per_split[row['split']]:05d}"  # consecutive per split
        per_split[row["split"]] += 1
    io.write_text(out_jsonl, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    times = np.asarray(kept.solve_times)
    summary = {
        "counts": {**counts, **{f"kept_{s}": per_split[s] for s in SPLITS}},
        "acceptance": len(rows) / max(counts["candidates"], 1),
        "solve_s": {
            "mean": float(times.mean()),
            "p50": float(np.percentile(times, 50)),
            "p95": float(np.percentile(times, 95)),
            "max": float(times.max()),
        },
        "wall_s": time.perf_counter() - start,
        "seed": int(seed),
        "config": cfg,
        "sha256": io.sha256_file(out_jsonl),
    }
    io.write_json(out_summary, summary)
    log.info(
        "kept %d requests from %d candidates in %.1f s (solve p50 %.3f s, p95 %.3f s)",
        len(rows),
        counts["candidates"],
        summary["wall_s"],
        summary["solve_s"]["p50"],
        summary["solve_s"]["p95"],
    )
    return summary


def read_requests(path) -> list[dict]:
    """Rows of a requests JSONL file; an error names the file and the line."""
    rows = []
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{i}: not JSON: {exc}") from None
    return rows
