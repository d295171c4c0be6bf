"""Tables and figures of the SOCM reproduction: final L2 errors with ranks, Table 1 timings beside the
paper's, control objectives beside the optimal cost, and the paper's main figure (EMA L2 error curves)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from papersuite.core import io, plotting, runtime, tables
from papersuite.core import records as core_records
from papersuite.core import references as core_references

from .methods import METHOD_LABELS, METHODS

__all__ = ["SETTING_LABELS", "SETTINGS", "build_report", "parse_curve_path", "l2_error_table"]

log = logging.getLogger("papersuite.socm.report")

SETTINGS = ("ou_quadratic_easy", "ou_quadratic_hard_warm", "ou_quadratic_hard", "linear_ou", "double_well")
SETTING_LABELS = {
    "ou_quadratic_easy": "Quadratic OU (easy)",
    "ou_quadratic_hard_warm": "Quadratic OU (hard, warm start)",
    "ou_quadratic_hard": "Quadratic OU (hard, no warm start)",
    "linear_ou": "Linear OU",
    "double_well": "Double well",
}
TIMING_SETTING = "ou_quadratic_easy"


def parse_curve_path(path: str | Path) -> tuple[str, str]:
    """(setting, method) from '.../{setting}/{method}/curve.csv' (one file holds the curves of every seed)."""
    parts = Path(path).parent.parts
    if len(parts) < 2:
        raise ValueError(f"{path}: expected .../<setting>/<method>/<file>")
    return parts[-2], parts[-1]


def _order(values: Iterable[str], preferred: Iterable[str]) -> list[str]:
    values = list(dict.fromkeys(values))
    pref = [v for v in preferred if v in values]
    return pref + sorted(v for v in values if v not in pref)


def _load_records(recs: Iterable[Any]) -> list[dict]:
    out = []
    for r in recs:
        if isinstance(r, Mapping):
            out.append(core_records.validate_record(r))
        else:
            out.extend(core_records.load_records(r))
    return [r for r in out if r["paper"] == "socm"]


def l2_error_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Seed-mean final control L2 error per (setting, method), its std and noise over seeds (`_se`, the rule of
    papersuite.core.noise.combine) and its rank within the setting (1 = lowest); also the training curve's final
    EMA (column control_l2_error_ema) and the raw training L2 error averaged over the last 10% of iterations
    (column last_window), when recorded."""
    optional = [c for c in ("control_l2_error_ema", "last_window") if c in frame.columns]
    summary = tables.summarize(frame, ["experiment", "method"], ["control_l2_error", *optional])
    summary["rank"] = summary.groupby("experiment")["control_l2_error"].rank(method="min").astype("Int64")
    if "last_window" in frame.columns:
        summary["rank_last_window"] = summary.groupby("experiment")["last_window"].rank(method="min").astype("Int64")
    summary.insert(2, "label", summary["method"].map(METHOD_LABELS).fillna(summary["method"]))
    order_s = {s: i for i, s in enumerate(_order(summary["experiment"], SETTINGS))}
    summary = summary.sort_values(["experiment", "rank"], key=lambda c: c.map(order_s) if c.name == "experiment" else c)
    return summary.rename(columns={"experiment": "setting"}).reset_index(drop=True)


def _with_estimates(table: pd.DataFrame, metrics: Iterable[str]) -> pd.DataFrame:
    """The Markdown view: each metric's mean, std and se columns replaced by one "mean ± se" column."""
    view = table.copy()
    for metric in metrics:
        position = list(view.columns).index(metric)
        ses = view[f"{metric}_se"] if f"{metric}_se" in view.columns else [math.nan] * len(view)
        cells = [tables.format_estimate(m, s) for m, s in zip(view[metric], ses)]
        view = view.drop(columns=[metric, f"{metric}_se", f"{metric}_std"], errors="ignore")
        view.insert(position, f"{metric} ± se", cells)
    return view


def _write_csv_and_markdown(
    table: pd.DataFrame, metrics: Iterable[str], stem: Path, title: str, notes: list[str]
) -> None:
    """<stem>.csv with every column; <stem>.md with "mean ± se" for `metrics`."""
    io.write_csv(stem.with_suffix(".csv"), table)
    io.write_text(stem.with_suffix(".md"), tables.format_markdown(_with_estimates(table, metrics), title, notes))


def _plot_curves(curves: pd.DataFrame, column: str, ylabel: str, path: Path, title: str) -> None:
    import matplotlib.pyplot as plt

    plotting.apply_style()
    settings = _order(curves["setting"], SETTINGS)
    colors = plotting.method_colors(METHODS)
    n = max(len(settings), 1)
    ncol = min(n, 3)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.4 * nrow), squeeze=False)
    for ax, setting in zip(axes.flat, settings):
        sub = curves[curves["setting"] == setting]
        for method in _order(sub["method"], METHODS):
            mean = sub[sub["method"] == method].groupby("iteration")[column].mean()
            mean = mean[mean > 0]
            if len(mean):
                ax.plot(mean.index, mean.values, label=METHOD_LABELS.get(method, method), color=colors.get(method))
        ax.set_yscale("log")
        ax.set_title(SETTING_LABELS.get(setting, setting))
        ax.set_xlabel("iteration")
        ax.set_ylabel(ylabel)
    for ax in list(axes.flat)[len(settings) :]:
        ax.axis("off")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    plotting.save_figure(fig, path)


_NUMBER_COLUMNS = ["id", "table", "experiment", "row", "column", "value", "unit", "source", "verified"]


def _records_frame(records: list) -> tuple[list[dict], pd.DataFrame]:
    """The socm records and their frame (with the last-window L2 error as column last_window)."""
    recs = _load_records(records)
    if not recs:
        raise ValueError("build_report: no socm records given")
    frame = core_records.records_frame(recs)
    if "control_l2_error_last_window" in frame.columns:
        frame["last_window"] = frame["control_l2_error_last_window"]
    return recs, frame


def _paper_numbers(references: Any) -> pd.DataFrame:
    """The paper's numbers from the references (a path, a dict or None: then an empty frame)."""
    refs = core_references.load_references(references) if isinstance(references, (str, Path)) else references
    return core_references.paper_numbers(refs) if refs else pd.DataFrame(columns=_NUMBER_COLUMNS)


def _write_l2_table(frame: pd.DataFrame, scale: str, tables_dir: Path) -> None:
    """control_l2_error.{csv,md}: final control L2 error with ranks (the paper's main figure, as a table)."""
    scale_note = (
        f"scale: {scale}; control_l2_error: E_{{P^u*}}[(1/T)∫|u_θ − u*|² dt] of the final control, Monte Carlo "
        "over the evaluation's paths drawn under u*; mean over seeds ± se (the larger of the seed spread "
        'std/√n and the paths\' standard error; docs/papers/socm.md, "Noise and verdicts"); the claims rank it'
    )
    _write_csv_and_markdown(
        l2_error_table(frame),
        [c for c in ("control_l2_error", "control_l2_error_ema", "last_window") if c in frame.columns],
        tables_dir / "control_l2_error",
        "SOCM: final control L2 error (rank 1 = lowest within the setting)",
        [
            scale_note,
            "control_l2_error_ema: the training curve's final EMA (coefficient `ema` of config/socm.yaml) of the "
            "batches' importance-sampled L2 error, the quantity the paper plots",
            "last_window: the raw per-iteration training L2 error averaged over the last 10% of iterations",
        ],
    )


def _write_time_table(frame: pd.DataFrame, numbers: pd.DataFrame, scale: str, tables_dir: Path) -> None:
    """time_per_iteration.{csv,md}: ours beside the paper's Table 1 (quadratic OU easy)."""
    timing = (
        tables.summarize(
            frame[frame["experiment"] == TIMING_SETTING], ["experiment", "method"], ["time_per_iteration_s"]
        )
        if (frame["experiment"] == TIMING_SETTING).any()
        else pd.DataFrame(
            columns=["experiment", "method", "time_per_iteration_s", "time_per_iteration_s_std", "n_seeds"]
        )
    )
    timing = tables.beside_paper(timing, numbers, on=("experiment", "method"), metric="time_per_iteration_s")
    timing.insert(2, "label", timing["method"].map(METHOD_LABELS).fillna(timing["method"]))
    order_m = {m: i for i, m in enumerate(METHODS)}
    timing = timing.sort_values("method", key=lambda c: c.map(lambda m: order_m.get(m, 99))).reset_index(drop=True)
    device = ", ".join(sorted(frame["device"].astype(str).unique()))
    _write_csv_and_markdown(
        timing,
        ["time_per_iteration_s"],
        tables_dir / "time_per_iteration",
        "SOCM Table 1: time per iteration (s), quadratic OU easy",
        [
            f"ours: mean wall time per training iteration on {device} at scale {scale} "
            "(tiny: d=2, small networks, 1 CPU thread), mean over seeds ± se (the larger of the seed spread and "
            "each run's std/√n over its iterations); the paper's: 16 GB V100 GPU, d=20",
            "paper values are unverified: they come from a secondary source (a third-party "
            "summary of the paper), not from the PDF",
            "compare ratios between methods, not absolute values",
        ],
    )


def _write_objective_table(frame: pd.DataFrame, tables_dir: Path) -> None:
    """control_objective.{csv,md}: Monte Carlo control objective beside the optimal cost V(0, x0)."""
    metrics = ["control_objective", "optimal_cost", "objective_gap"]
    obj = tables.summarize(frame, ["experiment", "method"], metrics)
    obj = obj[["experiment", "method"] + [f"{m}{x}" for m in metrics for x in ("", "_std", "_se")] + ["n_seeds"]]
    obj.insert(2, "label", obj["method"].map(METHOD_LABELS).fillna(obj["method"]))
    obj = obj.rename(columns={"experiment": "setting"})
    _write_csv_and_markdown(
        obj,
        metrics,
        tables_dir / "control_objective",
        "SOCM: control objective of the trained control vs the optimal cost V(0, x0)",
        [
            "control_objective: Monte Carlo mean of Σ(½|u|² + f)Δt + g(X_T) over the evaluation's paths under the "
            "trained control; mean over seeds ± se (the larger of the seed spread and the paths' standard error)",
            "optimal_cost: Riccati (quadratic OU), closed form (linear OU), 1-D PDE (double well, second order, "
            "discretisation error in docs/papers/socm.md); Euler–Maruyama with the training Δt biases the "
            "objective by O(Δt)",
        ],
    )


def _write_figures(curves: list, scale: str, figures_dir: Path) -> None:
    """control_l2_error.png (the paper's main figure) and normalized_iw_std.png from the training curves."""
    frames = []
    for path in curves:
        setting, method = parse_curve_path(path)
        c = pd.read_csv(path)  # seed, iteration, ... (one block of rows per seed)
        c["setting"], c["method"] = setting, method
        frames.append(c)
    if not frames:
        log.warning("no curves given: the figures are empty")
        for name in ("control_l2_error.png", "normalized_iw_std.png"):
            _plot_curves(
                pd.DataFrame(columns=["setting", "method", "iteration", "control_l2_error", "normalized_iw_std"]),
                "control_l2_error",
                "",
                figures_dir / name,
                "no curves",
            )
        return
    allc = pd.concat(frames, ignore_index=True)
    _plot_curves(
        allc,
        "control_l2_error",
        "control L2 error (EMA)",
        figures_dir / "control_l2_error.png",
        f"SOCM: control L2 error vs iteration ({scale})",
    )
    _plot_curves(
        allc,
        "normalized_iw_std",
        "normalised IW std (EMA)",
        figures_dir / "normalized_iw_std.png",
        f"SOCM: normalised importance-weight std ({scale})",
    )


def build_report(
    records: list,
    curves: list,
    references: Any,
    scale: str,
    tables_dir: str | Path,
    figures_dir: str | Path,
    log_path: str | Path | None = None,
) -> None:
    """Write the SOCM tables (control_l2_error, time_per_iteration, control_objective) and figures
    (control_l2_error.png, normalized_iw_std.png). `records`: dicts or record paths; `curves`: CSV
    paths '.../{setting}/{method}/curve.csv' (a seed column); `references`: path, dict or None."""
    runtime.setup_logging(log_path)
    tables_dir, figures_dir = Path(tables_dir), Path(figures_dir)
    recs, frame = _records_frame(records)
    numbers = _paper_numbers(references)
    _write_l2_table(frame, scale, tables_dir)
    _write_time_table(frame, numbers, scale, tables_dir)
    _write_objective_table(frame, tables_dir)
    _write_figures(curves, scale, figures_dir)
    log.info(
        "SOCM report written to %s and %s (%d records, %d curves)", tables_dir, figures_dir, len(recs), len(curves)
    )
