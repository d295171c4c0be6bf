"""Tables and figures of the TTG reproduction: EM and cost ratio beside the abstract's numbers, field
accuracy, latency, the EM-vs-training-size curve and the latency histogram."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from papersuite.core import noise, plotting, runtime, tables
from papersuite.core import records as core_records
from papersuite.core import references as core_references

from .schema import FIELDS

__all__ = ["METHOD_LABELS", "build_report"]

log = logging.getLogger("papersuite.ttg.report")

EXPERIMENTS = ("in_template", "held_out")
EXPERIMENT_LABELS = {"in_template": "in-template", "held_out": "held-out templates"}
MAIN, CONSTRAINED, PARSER = "translator", "translator_constrained", "rule_parser"
ROWS = (MAIN, CONSTRAINED, PARSER)  # the rows of the main tables, in this order
METHOD_LABELS = {
    MAIN: "translator (ours, greedy)",
    CONSTRAINED: "translator, grammar-constrained decoding",
    PARSER: "rule-based parser (knows the templates)",
}
PAPER_NOTE = (
    "paper numbers: EM, cost ratio and latency from the abstract (the paper's Llama-3 70B translator; "
    "model and data size from a third-party review); all unverified against the full text, which is "
    "not public"
)

NOISE_NOTE = (
    "mean over seeds (n_seeds) ± its standard error: the larger of the seed spread and the runs' own "
    "evaluation noise (EM and rates binomial over the test requests, cost ratio over the returned plans, "
    'latency over the timed requests; ttg.md "Noise and verdicts"); the CSV holds _std and _se'
)


def _load(recs: Iterable[Any]) -> list[dict]:
    out = []
    for r in recs:
        out.extend([core_records.validate_record(r)] if isinstance(r, Mapping) else core_records.load_records(r))
    return [r for r in out if r["paper"] == "ttg"]


def _numbers(references) -> pd.DataFrame:
    if references is None:
        return pd.DataFrame(
            columns=["id", "table", "experiment", "row", "column", "value", "unit", "source", "verified"]
        )
    refs = core_references.load_references(references) if not isinstance(references, Mapping) else references
    return core_references.paper_numbers(refs)


def _beside(table: pd.DataFrame, numbers: pd.DataFrame, metric: str, name: str) -> pd.DataFrame:
    """Add ``paper_<name>`` (value) for ``metric`` from the references, matching (experiment, method)."""
    joined = tables.beside_paper(table, numbers, on=("experiment", "method"), metric=metric)
    table = table.copy()
    table[f"paper_{name}"] = joined["paper_value"]
    return table


def _run_order(methods: Iterable[str]) -> list[str]:
    def key(m: str):
        if m == MAIN:
            return (1, math.inf)
        if m.startswith(MAIN + "_n"):
            return (1, int(m[len(MAIN) + 2 :]))
        return (2, 0) if m == PARSER else (3, 0)

    return sorted(set(methods), key=key)


def _with_se(cols: list[str]) -> list[str]:
    """Each summarized metric followed by its seed-mean standard error column."""
    return [c for col in cols for c in (col, f"{col}{noise.SE_SUFFIX}")]


def main_table(frame: pd.DataFrame, numbers: pd.DataFrame) -> pd.DataFrame:
    cols = [
        "exact_match",
        "field_accuracy",
        "parse_rate",
        "cost_ratio",
        "cost_ratio_valid",
        "cost_ratio_strict",
        "infeasible_rate",
        "violation_rate",
        "solver_plan_valid_rate",
        "latency_total_p50_s",
        "latency_total_p95_s",
        "latency_total_mean_s",
        "train_pairs",
        "n_examples",
    ]
    rows = frame[frame["method"].isin(ROWS)]
    cols = [c for c in cols if c in rows.columns]
    summary = tables.summarize(rows, ["experiment", "method"], cols)
    summary = summary[["experiment", "method", *_with_se(cols), "n_seeds"]]
    for metric, name in (
        ("exact_match", "exact_match"),
        ("cost_ratio", "cost_ratio"),
        ("latency_total_mean_s", "latency_s"),
        ("train_pairs", "train_pairs"),
    ):
        summary = _beside(summary, numbers, metric, name)
    order = {e: i for i, e in enumerate(EXPERIMENTS)}
    summary = summary.sort_values(
        ["experiment", "method"],
        key=lambda c: c.map(order) if c.name == "experiment" else c.map({m: i for i, m in enumerate(ROWS)}),
    ).reset_index(drop=True)
    return summary


def size_table(frame: pd.DataFrame) -> pd.DataFrame:
    """EM and field accuracy (seed mean and its se) per run and split: columns <metric>_<split>[_se]."""
    runs = frame[frame["method"].str.fullmatch(MAIN + r"(_n\d+)?")]
    cols = ["exact_match", "field_accuracy", "train_pairs"] + (["train_steps"] if "train_steps" in runs else [])
    summary = tables.summarize(runs, ["method", "experiment"], cols)
    values = ["exact_match", "exact_match_se", "field_accuracy", "field_accuracy_se"]
    wide = summary.pivot(index="method", columns="experiment", values=values)
    wide.columns = [
        f"{m.removesuffix(noise.SE_SUFFIX)}_{e}{noise.SE_SUFFIX}" if m.endswith(noise.SE_SUFFIX) else f"{m}_{e}"
        for m, e in wide.columns
    ]
    for col in reversed(cols[2:]):
        wide.insert(0, col, summary.groupby("method")[col].first())
    wide = wide[[c for c in wide.columns if "held_out" not in c] + [c for c in wide.columns if "held_out" in c]]
    wide = wide.loc[_run_order(wide.index)].reset_index()
    return wide


def field_table(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame[frame["method"].isin(ROWS)]
    cols = [f"acc_{f}" for f in FIELDS if f"acc_{f}" in rows.columns]
    summary = tables.summarize(rows, ["experiment", "method"], cols)
    long = summary.melt(id_vars=["experiment", "method"], value_vars=cols, var_name="field", value_name="accuracy")
    long["field"] = long["field"].str.removeprefix("acc_")
    wide = long.pivot_table(index="field", columns=["experiment", "method"], values="accuracy", sort=False)
    wide.columns = [f"{m}_{e}" for e, m in wide.columns]
    return wide.reindex([f for f in FIELDS if f in wide.index]).reset_index()


def latency_table(frame: pd.DataFrame, numbers: pd.DataFrame) -> pd.DataFrame:
    cols = [
        "latency_translate_p50_s",
        "latency_translate_p95_s",
        "latency_solve_p50_s",
        "latency_solve_p95_s",
        "latency_total_p50_s",
        "latency_total_p95_s",
        "latency_total_mean_s",
    ]
    rows = frame[frame["method"].isin(ROWS)]
    cols = [c for c in cols if c in rows.columns]
    summary = tables.summarize(rows, ["experiment", "method"], cols)[["experiment", "method", *_with_se(cols)]]
    return _beside(summary, numbers, "latency_total_mean_s", "latency_s")


def _write(table: pd.DataFrame, tables_dir: Path, name: str, title: str, notes: list[str]) -> None:
    """tables_dir/<name>.csv (means, _std, _se) and tables_dir/<name>.md (mean ± se)."""
    tables.write_estimates(table, tables_dir / f"{name}.csv", tables_dir / f"{name}.md", title, notes)


def _read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _plot_size(size: pd.DataFrame, numbers: pd.DataFrame, path: Path) -> None:
    import matplotlib.pyplot as plt

    plotting.apply_style()
    fig, ax = plt.subplots()
    colors = plotting.method_colors(EXPERIMENTS)
    for exp in EXPERIMENTS:
        col = f"exact_match_{exp}"
        if col in size.columns:
            ax.errorbar(
                size["train_pairs"],
                size[col],
                yerr=2 * size[f"{col}_se"] if f"{col}_se" in size.columns else None,
                marker="o",
                capsize=3,
                color=colors[exp],
                label=f"ours, {EXPERIMENT_LABELS[exp]} (± 2 se)",
            )
    paper = numbers[(numbers["column"] == "exact_match") & (numbers["row"] == MAIN)]
    pairs = numbers[(numbers["column"] == "train_pairs") & (numbers["row"] == MAIN)]
    if len(paper) and len(pairs):
        ax.scatter(
            [float(pairs["value"].iloc[0])],
            [float(paper["value"].iloc[0])],
            marker="*",
            s=160,
            color="black",
            zorder=5,
            label="paper (Llama-3 70B; unverified)",
        )
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training pairs (NL, symbolic request)")
    ax.set_ylabel("back-translation exact match")
    ax.set_title("TTG: exact match vs training-set size")
    ax.legend(loc="best")
    plotting.save_figure(fig, path)


def _plot_latency(predictions: Mapping[str, list[dict]], numbers: pd.DataFrame, path: Path) -> None:
    import matplotlib.pyplot as plt

    plotting.apply_style()
    fig, ax = plt.subplots()
    series = {"translate": [], "solve": [], "total": []}
    for rows in predictions.values():
        for d in rows:
            if d.get("solve_s") is not None:
                series["solve"].append(d["solve_s"])
            if d.get("translate_s") is not None:
                series["translate"].append(d["translate_s"])
                series["total"].append(d["translate_s"] + (d.get("solve_s") or 0.0))
    values = [v for s in series.values() for v in s if v > 0]
    if values:
        bins = np.logspace(np.log10(min(values) * 0.8), np.log10(max(max(values), 6.0) * 1.2), 40)
        colors = dict(zip(series, plotting.PALETTE))
        for name, vals in series.items():
            if vals:
                ax.hist(vals, bins=bins, alpha=0.5, color=colors[name], label=f"{name} (n={len(vals)})")
    paper = numbers[numbers["column"] == "latency_total_mean_s"]
    if len(paper):
        ax.axvline(float(paper["value"].iloc[0]), color="black", linestyle="--", label="paper: about 5 s per request")
    ax.set_xscale("log")
    ax.set_xlabel("seconds per request")
    ax.set_ylabel("requests")
    ax.set_title("TTG: latency per request (translator + MILP)")
    ax.legend(loc="best")
    plotting.save_figure(fig, path)


def _plot_curves(curves: Iterable[str | Path], path: Path) -> None:
    import matplotlib.pyplot as plt

    plotting.apply_style()
    fig, ax = plt.subplots()
    frames: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    for c in curves:  # .../models/<run>/seed<N>/curve.csv
        frames.setdefault(Path(c).parent.parent.name, []).append((Path(c).parent.name, pd.read_csv(c)))
    colors = plotting.method_colors(frames)
    for name in _run_order(frames):
        for i, (_seed, f) in enumerate(sorted(frames[name], key=lambda item: item[0])):
            ax.plot(
                f["step"], f["loss"], color=colors[name], alpha=1.0 if i == 0 else 0.5, label=name if i == 0 else None
            )
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (token cross-entropy)")
    ax.set_title("TTG: translator training")
    ax.legend(loc="best")
    plotting.save_figure(fig, path)


def build_report(
    records: Iterable[Any],
    predictions: Mapping[str, str | Path],
    curves: Iterable[str | Path],
    references,
    scale: str,
    tables_dir,
    figures_dir,
    log_path=None,
) -> None:
    """Write tables_dir/{em_cost_ratio,em_vs_train_size,field_accuracy,latency}.{csv,md} and
    figures_dir/{em_vs_train_size,latency_hist,training_curves}.png."""
    runtime.setup_logging(log_path)
    recs = _load(records)
    if not recs:
        raise ValueError("no ttg records to report")
    frame = core_records.records_frame(recs)
    numbers = _numbers(references)
    tables_dir, figures_dir = Path(tables_dir), Path(figures_dir)
    notes = [
        PAPER_NOTE,
        f"ours: scale {scale}; cost ratio = C*(x) / C_x(s*(x̂)) averaged over translations that "
        "returned a plan (strict: 0 for no plan or a plan that breaks x); latency on this run's CPU",
        NOISE_NOTE,
    ]
    main = main_table(frame, numbers)
    _write(
        main,
        tables_dir,
        "em_cost_ratio",
        "TTG: back-translation exact match, cost ratio and latency beside the paper",
        notes,
    )
    size = size_table(frame)
    _write(
        size,
        tables_dir,
        "em_vs_train_size",
        "TTG: exact match vs training-set size",
        [
            PAPER_NOTE,
            "every run: the same model and lr schedule; a subset repeats epochs up to the "
            "configured minimum of optimizer steps (train_steps)",
            NOISE_NOTE,
        ],
    )
    fields = field_table(frame)
    tables.write_table(
        fields,
        tables_dir / "field_accuracy.csv",
        tables_dir / "field_accuracy.md",
        "TTG: field accuracy per split",
        ["destinations: a multiset when the order is free"],
    )
    latency = latency_table(frame, numbers)
    _write(
        latency,
        tables_dir,
        "latency",
        "TTG: latency per request (seconds)",
        [PAPER_NOTE, "translate: one request at a time (batch 1); total: translate + MILP solve", NOISE_NOTE],
    )
    preds = {split: _read_jsonl(path) for split, path in predictions.items()}
    _plot_size(size, numbers, figures_dir / "em_vs_train_size.png")
    _plot_latency(preds, numbers, figures_dir / "latency_hist.png")
    _plot_curves(curves, figures_dir / "training_curves.png")
    log.info("ttg report: %d records, tables in %s, figures in %s", len(recs), tables_dir, figures_dir)
