"""Compare tiny TTG translators (issue #19): renderer (today's or the one of commit bcab172) x tokenizer
(word-level or WordPiece), trained with the tiny schedule of config/ttg.yaml on one thread.

    .venv/bin/python tools/ttg_compare.py render            # pairs of both renderers under --out
    .venv/bin/python tools/ttg_compare.py train --renderer v1 --tokenizer wordpiece --seed 0

Needs results/tiny/ttg/data/{requests.jsonl,world/} (`snakemake --cores 2 results/tiny/ttg/data/requests.jsonl`).
`train` writes <out>/<renderer>-<tokenizer>-s<seed>.json: training CPU s (process time) and wall s,
exact match on the in-template split of its own renderer and on the held-out split of both renderers (greedy and
grammar-constrained), and the free-English result of tools/ttg_free_english.py (constrained, as the planner reads).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tools"))
DATA = REPO / "results" / "tiny" / "ttg" / "data"
V0_COMMIT = "bcab172"  # the renderer before issue #19 item 2


def _v0_render_module():
    """render.py of V0_COMMIT, loaded as papersuite.ttg.render_v0 (its relative imports still resolve)."""
    text = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{V0_COMMIT}:src/papersuite/ttg/render.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "render_v0.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("papersuite.ttg.render_v0", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def render(out: Path) -> None:
    """Pairs of both renderers from the same requests and render seed as the tiny workflow."""
    from papersuite.ttg import render as v1

    cfg = yaml.safe_load((REPO / "config" / "ttg.yaml").read_text())["tiny"]["render"]
    for name, module in (("v0", _v0_render_module()), ("v1", v1)):
        d = out / f"pairs_{name}"
        summary = module.render_requests(
            DATA / "requests.jsonl",
            cfg["renders_per_request"],
            cfg["seed"],
            d / "train.jsonl",
            d / "test_in.jsonl",
            d / "test_held.jsonl",
            d / "render.json",
        )
        print(name, summary["pairs"], summary["mean_words"])


def _em(translator, rows: list[dict], cities: list[str], base_date: str, constrained: bool) -> float:
    from papersuite.ttg.schema import SchemaError, delinearize, exact_match

    outputs = translator.translate([r["text"] for r in rows], cities=cities if constrained else None)
    hits = 0
    for row, output in zip(rows, outputs, strict=True):
        with contextlib.suppress(SchemaError):
            hits += exact_match(delinearize(output, base_date, cities), row["request"])
    return hits / len(rows)


def train(out: Path, renderer: str, tokenizer: str, seed: int, source_len: int) -> dict:
    """Train one translator on the renderer's pairs and score it (one thread)."""
    import torch
    import ttg_free_english

    from papersuite.ttg.decoding import Translator
    from papersuite.ttg.world import load_tables

    torch.set_num_threads(1)
    cfg = yaml.safe_load((REPO / "config" / "ttg.yaml").read_text())["tiny"]
    model = {**cfg["translator"], "tokenizer": tokenizer, "max_source_len": source_len}
    name = f"{renderer}-{tokenizer}-s{seed}"
    run = out / name
    from papersuite.ttg.translator import train_translator

    cpu, wall = time.process_time(), time.perf_counter()
    meta = train_translator(
        out / f"pairs_{renderer}" / "train.jsonl",
        model,
        cfg["train"],
        seed,
        None,
        run / "translator",
        run / "curve.csv",
        run / "ckpt",
        threads=1,
    )
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    world = DATA / "world"
    tables = load_tables(*(world / n for n in ("cities.parquet", "flights.parquet", "hotels.parquet", "world.json")))
    cities, base = list(tables.city_names), str(tables.base_date)
    translator = Translator(run / "translator", threads=1)

    def rows(r: str, split: str) -> list[dict]:
        return [json.loads(line) for line in (out / f"pairs_{r}" / f"{split}.jsonl").read_text().splitlines()]

    result = {
        "name": name,
        "train_cpu_s": round(cpu, 1),
        "train_wall_s": round(wall, 1),
        "vocabulary": meta["vocabulary"],
        "parameters": meta["parameters"],
        "final_loss": meta["final_loss"],
    }
    for constrained in (False, True):
        tag = "constrained" if constrained else "greedy"
        result[f"em_in_{tag}"] = _em(translator, rows(renderer, "test_in"), cities, base, constrained)
        for r in ("v0", "v1"):
            result[f"em_held_{r}_{tag}"] = _em(translator, rows(r, "test_held"), cities, base, constrained)
    free = ttg_free_english.score_model(run / "translator", world)
    result["free_english_fully"] = free["fully_understood"]
    result["free_english_fields"] = round(free["mean_field_accuracy"], 3)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["render", "train"])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "tiny" / "ttg_compare")
    parser.add_argument("--renderer", choices=["v0", "v1"], default="v1")
    parser.add_argument("--tokenizer", choices=["word", "wordpiece"], default="word")
    parser.add_argument("--source-len", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.what == "render":
        render(args.out)
    else:
        train(args.out, args.renderer, args.tokenizer, args.seed, args.source_len)
    return 0


if __name__ == "__main__":
    sys.exit(main())
