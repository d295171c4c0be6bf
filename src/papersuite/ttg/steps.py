"""Workflow entry points of ttg: one function per rule `ttg_<step>`, called by `workflow/scripts/ttg/<step>.py`.

Each function imports the science modules it needs inside its body, so a job imports only what its
step uses (torch for the tiny translator, transformers only for the full-scale LLM, scipy's HiGHS
for the solver, matplotlib for the report). The pipeline is the paper's (Ju et al. 2024, abstract
and Fig. 2): a generated world and feasible symbolic requests, their English renderings, the
Instruction Translator trained on the (English, symbolic) pairs, and the evaluation of translator +
Travel Solver. What is reconstructed and why is in ``docs/papers/ttg.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["evaluate", "evaluate_parser", "render", "requests", "table", "train", "world"]


def world(*, world: Mapping[str, Any], out_cities, out_flights, out_hotels, out_meta, log_path=None) -> dict:
    """Rule ``ttg_world``: the cities, flight and hotel tables drawn from a seed (the paper's Travel
    Generator, abstract; its data sources are not named: ``docs/papers/ttg.md``, "Data")."""
    from .world import build_world

    return build_world(
        world=dict(world),
        out_cities=out_cities,
        out_flights=out_flights,
        out_hotels=out_hotels,
        out_meta=out_meta,
        log_path=log_path,
    )


def requests(
    *,
    cities,
    flights,
    hotels,
    meta,
    requests: Mapping[str, Any],
    out_requests,
    out_summary,
    threads: int = 1,
    log_path=None,
) -> dict:
    """Rule ``ttg_requests``: feasible symbolic requests with their MILP optimum C*(x) (the paper's
    guaranteed-feasible training data, abstract and Fig. 2); seeded by ``requests["seed"]``."""
    from .sampling import generate_requests

    requests = dict(requests)
    return generate_requests(
        cities_path=cities,
        flights_path=flights,
        hotels_path=hotels,
        meta_path=meta,
        requests=requests,
        seed=requests["seed"],
        out_jsonl=out_requests,
        out_summary=out_summary,
        threads=threads,
        log_path=log_path,
    )


def render(
    *, requests_jsonl, render: Mapping[str, Any], out_train, out_test_in, out_test_held, out_summary, log_path=None
) -> dict:
    """Rule ``ttg_render``: the English rendering y of every request x (the paper's back-translation
    pairs, abstract), with an in-template and a held-out-template test split."""
    from .render import render_requests

    render = dict(render)
    return render_requests(
        requests_jsonl=requests_jsonl,
        renders_per_request=render["renders_per_request"],
        seed=render["seed"],
        out_train=out_train,
        out_test_in=out_test_in,
        out_test_held=out_test_held,
        out_summary=out_summary,
        log_path=log_path,
    )


def train(
    *,
    pairs,
    translator: Mapping[str, Any],
    train: Mapping[str, Any],
    seed: int,
    n_pairs: int | None,
    out_model,
    out_curve,
    checkpoint_dir,
    threads: int = 1,
    log_path=None,
    hub_dir=None,
) -> dict:
    """Rule ``ttg_train``: the Instruction Translator (NL -> symbolic request) trained on ``n_pairs``
    of the generated pairs (all for None), resumable (paper: abstract, Fig. 2)."""
    from .translator import train_translator

    return train_translator(
        train_jsonl=pairs,
        model=dict(translator),
        train=dict(train),
        seed=int(seed),
        n_pairs=n_pairs,
        out_dir=out_model,
        out_curve_csv=out_curve,
        ckpt_dir=checkpoint_dir,
        threads=threads,
        log_path=log_path,
        hub_dir=hub_dir,
    )


def evaluate(
    *,
    method: str,
    model,
    test_in,
    test_held,
    cities,
    flights,
    hotels,
    meta,
    evaluate: Mapping[str, Any],
    seed: int,
    scale: str,
    out_in_template,
    out_held_out,
    out_predictions_in,
    out_predictions_held,
    solve: bool = True,
    constrained: bool = False,
    threads: int = 1,
    log_path=None,
) -> dict[str, dict]:
    """Rules ``ttg_evaluate`` and ``ttg_evaluate_constrained``: back-translation exact match, field
    accuracy, cost ratio and latency of one translator run on both test splits (the abstract's
    91% EM, 0.979 cost ratio and about 5 s per request)."""
    from .evaluate import evaluate as evaluate_method

    return evaluate_method(
        method=method,
        test_files={"test_in": test_in, "test_held": test_held},
        cities_path=cities,
        flights_path=flights,
        hotels_path=hotels,
        meta_path=meta,
        seed=int(seed),
        scale=scale,
        out_records={"test_in": out_in_template, "test_held": out_held_out},
        out_predictions={"test_in": out_predictions_in, "test_held": out_predictions_held},
        model_dir=model,
        solve_plans=solve,
        latency_samples=evaluate["latency_samples"],
        config=dict(evaluate),
        constrained=constrained,
        threads=threads,
        log_path=log_path,
    )


def evaluate_parser(
    *,
    test_in,
    test_held,
    cities,
    flights,
    hotels,
    meta,
    evaluate: Mapping[str, Any],
    seed: int,
    scale: str,
    out_in_template,
    out_held_out,
    out_predictions_in,
    out_predictions_held,
    log_path=None,
) -> dict[str, dict]:
    """Rule ``ttg_evaluate_parser``: the rule-based template parser through the same evaluation, an
    upper bound that knows the templates (ours; ``docs/papers/ttg.md``, "Reconstructions")."""
    from .evaluate import evaluate as evaluate_method

    return evaluate_method(
        method="rule_parser",
        test_files={"test_in": test_in, "test_held": test_held},
        cities_path=cities,
        flights_path=flights,
        hotels_path=hotels,
        meta_path=meta,
        seed=int(seed),
        scale=scale,
        out_records={"test_in": out_in_template, "test_held": out_held_out},
        out_predictions={"test_in": out_predictions_in, "test_held": out_predictions_held},
        solve_plans=True,
        latency_samples=evaluate["latency_samples"],
        config=dict(evaluate),
        log_path=log_path,
    )


def table(
    *,
    records: Sequence,
    predictions: Sequence,
    curves: Sequence,
    references,
    scale: str,
    tables_dir,
    figures_dir,
    log_path=None,
) -> None:
    """Rule ``ttg_table``: EM, cost ratio and latency beside the abstract's numbers, field accuracy,
    EM vs training-set size, the latency histogram and the training curves."""
    from .report import build_report

    build_report(
        records=list(records),
        predictions={f"{Path(p).parent.name}/{Path(p).stem}": p for p in predictions},  # seed<N>/<split>
        curves=list(curves),
        references=references,
        scale=scale,
        tables_dir=tables_dir,
        figures_dir=figures_dir,
        log_path=log_path,
    )
