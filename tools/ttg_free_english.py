"""How well a trained TTG translator understands the hand-written free-English requests
(tests/ttg/data/free_english_requests.yaml), field by field, after `make run` (or any finished run).

    .venv/bin/python tools/ttg_free_english.py [--scale tiny] [--seed 0] [--out free_english.json]

Prints per-field accuracy, the share of requests understood on every field, and each request the translator
misread with the fields it got wrong. The translator reads each text as the planner does
(`python -m papersuite.ttg plan --json`: grammar-constrained decoding over the world's cities).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
FIXTURE = REPO / "tests" / "ttg" / "data" / "free_english_requests.yaml"


def _expected(item: dict) -> dict:
    out = dict(item["expected"])
    for key in ("earliest_departure", "latest_return"):
        value = out[key]
        out[key] = value.isoformat() if isinstance(value, dt.date) else str(value)
    return out


def score(scale: str, seed: int) -> dict:
    """Per-field accuracy, fully-understood share and the misread requests of one run's translator."""
    world = REPO / "results" / scale / "ttg" / "data" / "world"
    model = REPO / "results" / scale / "ttg" / "models" / "translator" / f"seed{seed}" / "translator"
    return {"scale": scale, "seed": seed, **score_model(model, world)}


def score_model(model: Path, world: Path) -> dict:
    """The same for the translator saved in ``model``, reading with the world in ``world``."""
    from papersuite.ttg.decoding import Translator
    from papersuite.ttg.schema import FIELDS, SchemaError, delinearize, field_matches
    from papersuite.ttg.world import load_tables

    tables = load_tables(*(world / n for n in ("cities.parquet", "flights.parquet", "hotels.parquet", "world.json")))
    cities = list(tables.city_names)
    items = yaml.safe_load(FIXTURE.read_text())["requests"]
    outputs = Translator(model, threads=1).translate([i["text"] for i in items], cities=cities)
    per_field = {f: 0 for f in FIELDS}
    misread = []
    for item, output in zip(items, outputs, strict=True):
        try:
            predicted = delinearize(output, tables.base_date, cities)
        except SchemaError:
            predicted = None
        matches = field_matches(predicted, _expected(item))
        for f in FIELDS:
            per_field[f] += matches[f]
        if not all(matches.values()):
            misread.append({"text": item["text"], "translator": output, "wrong": [f for f in FIELDS if not matches[f]]})
    n = len(items)
    return {
        "n_requests": n,
        "fully_understood": (n - len(misread)) / n,
        "field_accuracy": {f: per_field[f] / n for f in FIELDS},
        "mean_field_accuracy": sum(per_field.values()) / (n * len(FIELDS)),
        "misread": misread,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the full result as JSON here")
    args = parser.parse_args()
    result = score(args.scale, args.seed)
    print(
        f"{result['n_requests']} requests: fully understood {result['fully_understood']:.3f}, "
        f"mean field accuracy {result['mean_field_accuracy']:.3f}"
    )
    for field, acc in result["field_accuracy"].items():
        print(f"  {field:20s} {acc:.3f}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
