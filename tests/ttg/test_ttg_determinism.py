"""Determinism by seed (docs/papers/ttg.md, "Known answers"): the same seed gives the same world,
dataset hash and optima, whatever the number of solver processes."""

from __future__ import annotations

import json

import pandas as pd

from papersuite.core.io import sha256_file
from papersuite.ttg.sampling import generate_requests
from papersuite.ttg.world import build_world, generate_world
from ttg_helpers import SMALL_WORLD

SMALL_REQUESTS = {"n_train": 12, "n_test": 4, "min_nights": [1, 3], "max_width": 1, "start_window_days": 20}


def _world(folder, seed=0):
    paths = {k: folder / f"{k}.parquet" for k in ("cities", "flights", "hotels")}
    build_world(
        {**SMALL_WORLD, "seed": seed}, paths["cities"], paths["flights"], paths["hotels"], folder / "world.json"
    )
    return paths


def test_world_is_a_function_of_its_seed(tmp_path):
    a, b = generate_world(SMALL_WORLD, 3), generate_world(SMALL_WORLD, 3)
    pd.testing.assert_frame_equal(a.flights, b.flights)
    pd.testing.assert_frame_equal(a.hotels, b.hotels)
    assert not generate_world(SMALL_WORLD, 4).flights["price"].equals(a.flights["price"])
    first, second = _world(tmp_path / "a"), _world(tmp_path / "b")
    for key in first:
        assert sha256_file(first[key]) == sha256_file(second[key]), key


def test_requests_dataset_hash_and_optima_are_seeded(tmp_path):
    paths = _world(tmp_path / "world")
    meta = tmp_path / "world" / "world.json"
    runs = {}
    for name, seed, threads in (("a", 5, 1), ("b", 5, 2), ("c", 6, 1)):
        summary = generate_requests(
            paths["cities"],
            paths["flights"],
            paths["hotels"],
            meta,
            SMALL_REQUESTS,
            seed,
            tmp_path / f"{name}.jsonl",
            tmp_path / f"{name}.json",
            threads=threads,
        )
        rows = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        runs[name] = (summary["sha256"], [r["optimal_cost"] for r in rows], rows)
    assert runs["a"][0] == runs["b"][0]  # same seed, 1 or 2 processes: the same file
    assert runs["a"][1] == runs["b"][1]
    assert runs["a"][0] != runs["c"][0]
    rows = runs["a"][2]
    assert [r["split"] for r in rows].count("train") == 12 and len(rows) == 20
    assert all(r["optimal_cost"] > 0 for r in rows)
    assert len({json.dumps(r["request"], sort_keys=True) for r in rows}) == len(rows)  # no duplicates
