"""The planner: `python -m papersuite.ttg plan "..."` answers typed English without a traceback."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import papersuite.ttg.__main__ as planner
from papersuite.ttg.render import render_request
from papersuite.ttg.sampling import REQUEST_DEFAULTS, sample_candidate
from papersuite.ttg.schema import linearize
from papersuite.ttg.solver import OPTIMAL, solve
from papersuite.ttg.translator import Translator, train_translator
from papersuite.ttg.world import build_world, load_tables
from ttg_helpers import SMALL_WORLD

MICRO_MODEL = {
    "kind": "seq2seq",
    "arch": "t5",
    "d_model": 16,
    "layers": 1,
    "heads": 2,
    "ffn": 32,
    "dropout": 0.0,
    "max_source_len": 160,
    "max_target_len": 64,
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A world and a (barely trained) translator laid out like a finished tiny run."""
    root = tmp_path_factory.mktemp("run")
    world = root / "world"
    build_world(
        {**SMALL_WORLD, "seed": 0},
        world / "cities.parquet",
        world / "flights.parquet",
        world / "hotels.parquet",
        world / "world.json",
    )
    tables = load_tables(
        world / "cities.parquet", world / "flights.parquet", world / "hotels.parquet", world / "world.json"
    )
    rng = np.random.default_rng(1)
    rows, feasible = [], []
    for i in range(32):
        req, _ = sample_candidate(rng, tables, {**REQUEST_DEFAULTS, "start_window_days": 20})
        text, mentioned, _ = render_request(req, np.random.default_rng([1, i]))
        rows.append({"text": text, "target": linearize(mentioned)})
        if solve(req, tables)[0] == OPTIMAL:
            feasible.append((text, mentioned))
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train_translator(
        root / "train.jsonl",
        MICRO_MODEL,
        {"epochs": 1, "batch": 8, "lr": 1e-3, "checkpoint_every": 0, "log_every": 1},
        0,
        None,
        root / "model",
        root / "curve.csv",
        root / "ckpt",
    )
    return root, tables, feasible


def _cli(run_dir, *args, model=None):
    root, _, _ = run_dir
    cmd = [
        sys.executable,
        "-m",
        "papersuite.ttg",
        "plan",
        *args,
        "--world",
        str(root / "world"),
        "--model",
        str(model or root / "model"),
        "--threads",
        "1",
    ]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize(
    "text, code, words",
    [
        ("", 2, "empty"),
        ("   ", 2, "empty"),
        ("!!! 123 ???", 2, "does not look like a travel request"),
        ("I want to go somewhere sunny with my dog", 2, "could not find a city"),
    ],
)
def test_cli_explains_unusable_input(run, text, code, words):
    out = _cli(run, text)
    assert out.returncode == code, out.stderr
    assert words in out.stderr and "Traceback" not in out.stderr + out.stdout


def test_cli_explains_foreign_and_impossible_requests(run):
    """A request in another language and one whose nights cannot fit its own dates get exit code 2 and a reason,
    before the translator runs (the world's cities are named in both)."""
    _, tables, _ = run
    a, b = tables.city_names[:2]
    foreign = _cli(run, f"Je voudrais aller de {a} à {b} pour trois nuits en juin")
    assert foreign.returncode == 2 and "English only" in foreign.stderr and "Traceback" not in foreign.stderr
    impossible = _cli(run, f"I live in {a} and want 5 nights in {b} between June 10 and June 12")
    assert impossible.returncode == 2, impossible.stdout + impossible.stderr
    assert "5 nights do not fit between June 10 and June 12" in impossible.stderr


def test_cli_missing_model_says_how_to_make_one(run, tmp_path):
    out = _cli(run, "Paris to Rome", model=tmp_path / "nothing")
    assert out.returncode == 4 and "snakemake --cores 2 ttg" in out.stderr and "Traceback" not in out.stderr


def test_cli_answers_free_form_english_without_a_traceback(run):
    _, tables, _ = run
    a, b = tables.city_names[:2]
    text = (
        f"hey, could you sort out a cheap week away for me? I'm based in {a} and would love to "
        f"see {b} around mid June, maybe 3 or 4 nights, nothing fancy"
    )
    out = _cli(run, text)
    assert out.returncode in (0, 1, 3), out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert (out.stdout + out.stderr).strip()


def test_plan_prints_the_request_and_a_checked_itinerary(run, monkeypatch):
    root, _, feasible = run
    text, gold = feasible[0]
    monkeypatch.setattr(Translator, "translate", lambda self, texts, batch_size=64, cities=None: [linearize(gold)])
    buf = io.StringIO()
    code = planner.plan(text, root / "model", root / "world", threads=1, out=buf)
    printed = buf.getvalue()
    assert code == 0, printed
    assert "I understood:" in printed and f"from {gold['origin']}" in printed
    assert "Cheapest itinerary:" in printed and "checked: satisfies every constraint" in printed
    buf = io.StringIO()
    assert planner.plan(text, root / "model", root / "world", threads=1, as_json=True, out=buf) == 0
    answer = json.loads(buf.getvalue())
    assert answer["status"] == OPTIMAL and answer["request"]["origin"] == gold["origin"]


def test_plan_explains_an_infeasible_request(run, monkeypatch):
    root, _, feasible = run
    text, gold = feasible[0]
    impossible = {**gold, "budget": 1}
    monkeypatch.setattr(
        Translator, "translate", lambda self, texts, batch_size=64, cities=None: [linearize(impossible)]
    )
    buf = io.StringIO()
    assert planner.plan(text, root / "model", root / "world", threads=1, out=buf) == 1
    assert "No itinerary satisfies" in buf.getvalue() and "without: the budget" in buf.getvalue()


def test_plan_reports_each_field_and_the_rule_parsers_other_reading(run, monkeypatch):
    """A template text whose translation is wrong in one field: JSON carries the field report, the field is not
    'stated', and the rule parser (which reads template English exactly) gives the right value beside it."""
    root, _, feasible = run
    text, gold = feasible[0]
    misread = {**gold, "travelers": gold["travelers"] % 9 + 1}
    monkeypatch.setattr(Translator, "translate", lambda self, texts, batch_size=64, cities=None: [linearize(misread)])
    buf = io.StringIO()
    planner.plan(text, root / "model", root / "world", threads=1, as_json=True, out=buf)
    answer = json.loads(buf.getvalue())
    assert answer["request"]["travelers"] == misread["travelers"]
    fields = answer["fields"]
    assert fields["travelers"]["rule_parser"] == gold["travelers"]
    assert fields["origin"]["source"] == "stated" and "rule_parser" not in fields["origin"]
    assert answer["rule_parser"]["travelers"] == gold["travelers"]
    buf = io.StringIO()
    planner.plan(text, root / "model", root / "world", threads=1, out=buf)
    assert "the rule parser reads your request differently" in buf.getvalue()
    assert f"travellers: translator {misread['travelers']}, rule parser {gold['travelers']}" in buf.getvalue()


def test_plan_asks_before_solving_only_when_told_to(run, monkeypatch):
    root, _, feasible = run
    text, gold = feasible[0]
    monkeypatch.setattr(Translator, "translate", lambda self, texts, batch_size=64, cities=None: [linearize(gold)])
    buf = io.StringIO()
    assert planner.plan(text, root / "model", root / "world", threads=1, out=buf, confirm=lambda: False) == 6
    assert "Not planned" in buf.getvalue() and "Cheapest itinerary" not in buf.getvalue()

    def no_input(*_):
        raise AssertionError("the planner waited for input")

    monkeypatch.setattr("builtins.input", no_input)
    for flags in (["--json"], ["--yes"], []):  # pytest's stdin is not a terminal: never asks
        argv = ["plan", *flags, text, "--world", str(root / "world"), "--model", str(root / "model")]
        assert planner.main([*argv, "--threads", "1"]) == 0
