"""Tables and the figure of the bytelm reproduction: the tokenization-bias table (exact oracle), the learned
toy's errors, mid-token code completion, the cross-vocabulary ensemble and, at full scale, fill-in-the-middle
on HumanEval infilling (docs/papers/bytelm.md "Experiments", "Claims").

The paper's table cells were not retrieved (bytelm.md "Unverified"): config/references/bytelm.yaml lists no number,
so the tables show ours; the abstract's numbers are claims in claims.md."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from papersuite.core import plotting, runtime, tables
from papersuite.core import records as core_records

__all__ = ["build_report", "build_fim_table", "METHOD_LABELS"]

log = logging.getLogger("papersuite.bytelm.report")

METHOD_LABELS = {
    "naive": "naive (condition on the prompt's tokens)",
    "token_healing": "token healing (back off one token)",
    "byte_level": "byte-level (BTR lemma)",
    "ensemble": "byte-level ensemble of the members",
}
METHOD_ORDER = ("naive", "token_healing", "byte_level")
# metrics shown per experiment, first the headline; only those a record carries appear
TABLE_METRICS = {
    "toy": [
        "abs_err_mean",
        "abs_err_max",
        "abs_err_wmean",
        "zero_frac",
        "ratio_to_naive",
        "calls_per_prefix",
        "ms_per_prefix",
        "train_wall_s",
    ],
    "midtoken": [
        "pass_at_1",
        "exact_match",
        "edit_similarity",
        "pass_at_1_minus_naive",
        "pass_at_1_minus_token_healing",
        "calls_per_byte",
        "bytes_per_s",
        "n_tasks",
        "n_midtoken",
    ],
    "ensemble": [
        "bits_per_byte",
        "token_bits_per_byte",
        "bpb_minus_best_member",
        "bytes_per_token",
        "calls_per_byte",
        "bytes_per_s",
        "vocab_size",
        "train_wall_s",
    ],
    "fim": [
        "pass_at_1",
        "exact_match",
        "edit_similarity",
        "pass_at_1_minus_naive",
        "pass_at_1_minus_token_healing",
        "pass_at_1_mid_token",
        "cap_rate",
        "calls_per_byte",
        "gen_calls_per_byte",
        "bytes_per_s",
        "n_tasks",
    ],
}
NOTES = {
    "toy": [
        "|P̂ − P_true| over every one-step transition (prefix, next symbol) of the Markov source; ratio_to_naive = "
        "mean error / naive's mean error; zero_frac: transitions with true ≥ 0.05 estimated ≤ 0.05 (structural "
        "zeros)"
    ],
    "midtoken": [
        "HumanEval tasks, one canonical-solution line each, cut inside its non-whitespace span; the model "
        "completes the line greedily; pass@1 runs the task's tests on the spliced program (subprocess, "
        "timeout); a left-to-right analogue of the paper's FIM random-span tasks",
        "pass_at_1_minus_*: byte-level minus the other method on the same cuts",
    ],
    "ensemble": [
        "bits per byte on held-out Python standard-library files (byte-level, masked mode, with EOS); "
        "token_bits_per_byte: the token log-likelihood of the canonical encoding over bytes",
        "ensemble: the uniform byte-level mixture of the members, which share nothing but bytes",
    ],
    "fim": [
        "HumanEval infilling (Bavarian et al. 2022): the model writes the middle between a prefix and a suffix "
        "in CodeLlama's FIM prompt layout, greedily until the end-of-infill token or the byte cap; pass@1 runs "
        "the task's tests on prefix + middle + suffix (subprocess, timeout); exact_match: the middle equals the "
        "canonical one; cap_rate: middles cut by the byte cap",
        "pass_at_1_minus_*: byte-level minus the other method on the same tasks (in pass@1 fractions; the "
        'abstract\'s "about 18%" is read as points, unverified); pass_at_1_mid_token: tasks whose prefix ends '
        "inside a token of the canonical encoding of prefix + middle",
    ],
}
TITLES = {
    "toy": "bytelm: learned toy — error of next-byte estimates from a tiny GPT-2 trained on tokenized Markov samples",
    "midtoken": "bytelm: mid-token code completion (HumanEval lines cut mid-token)",
    "ensemble": "bytelm: cross-vocabulary byte-level ensemble (bits per byte)",
    "fim": "bytelm: fill-in-the-middle on HumanEval infilling (pass@1)",
}
FILES = {"toy": "learned_toy", "midtoken": "midtoken_completion", "ensemble": "ensemble"}


def _records(records: Iterable[Any]) -> list[dict]:
    recs = []
    for r in records:
        recs.extend([core_records.validate_record(r)] if isinstance(r, Mapping) else core_records.load_records(r))
    return [r for r in recs if r["paper"] == "bytelm"]


def _frame(records: Iterable[Any]) -> pd.DataFrame:
    recs = _records(records)
    if not recs:
        raise ValueError("build_report: no bytelm records given")
    return core_records.records_frame(recs)


def _experiment_table(frame: pd.DataFrame, experiment: str) -> pd.DataFrame:
    rows = frame[frame["experiment"] == experiment]
    metrics = [m for m in TABLE_METRICS[experiment] if m in rows.columns and rows[m].notna().any()]
    table = tables.summarize(rows, ["experiment", "method"], metrics)
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    table = table.sort_values("method", key=lambda c: c.map(lambda m: order.get(m, 10 if m == "ensemble" else 5)))
    table.insert(2, "label", table["method"].map(METHOD_LABELS).fillna(table["method"]))
    return table.reset_index(drop=True)


def _byte_level_note(records: Iterable[Any], experiment: str) -> list[str]:
    """How the byte-level rows were computed: ByteLM mode and check_mass (exact or fast mode), from the records."""
    settings = sorted(
        {
            (str(r.get("extra", {}).get("byte_mode", "?")), float(r.get("extra", {}).get("check_mass", 1.0)))
            for r in _records(records)
            if r["experiment"] == experiment and r["method"] == "byte_level"
        }
    )
    return [
        f"byte_level: {mode} mode, "
        + (
            "exact validity masks"
            if mass >= 1.0
            else f"fast mode (check_mass {mass:g}: next-byte distributions count the next tokens holding "
            f"{mass:g} of the mass; tokens matching the generated bytes are always checked)"
        )
        for mode, mass in settings
    ]


def _bias_table(oracle_csv: str | Path) -> pd.DataFrame:
    table = pd.read_csv(oracle_csv, keep_default_na=False)
    keep = [
        "tokenizer",
        "vocab",
        "prompt",
        "encoding",
        "symbol",
        "true",
        "naive",
        "token_healing",
        "byte_level",
        "p_prompt_true",
        "p_prompt_cover",
    ]
    return table[[c for c in keep if c in table.columns]]


def _plot_toy(toy_tables: list[str | Path], path: Path) -> None:
    """Estimated vs true next-symbol probability for every transition, one panel per method."""
    import matplotlib.pyplot as plt

    frames = [pd.read_csv(t) for t in toy_tables]
    table = pd.concat(frames) if frames else pd.DataFrame()
    fig, axes = plt.subplots(1, len(METHOD_ORDER), figsize=(4.0 * len(METHOD_ORDER), 3.8), squeeze=False)
    for ax, method in zip(axes[0], METHOD_ORDER):
        if method in table:
            err = (table[method] - table["true"]).abs().mean()
            ax.scatter(table["true"], table[method], s=6, alpha=0.4)
            ax.set_title(f"{METHOD_LABELS[method]}\nmean |error| {err:.3f}", fontsize=8)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("true P(next symbol | prefix)")
        ax.set_ylabel("estimate")
    fig.tight_layout()
    plotting.save_figure(fig, path)


def build_report(
    records: list,
    oracle_table: str | Path,
    toy_tables: list,
    references: Any,
    scale: str,
    tables_dir: str | Path,
    figures_dir: str | Path,
    log_path: str | Path | None = None,
) -> None:
    """Write tokenization_bias, learned_toy, midtoken_completion and ensemble tables (CSV + Markdown) and the
    learned-toy figure."""
    runtime.setup_logging(log_path)
    plotting.apply_style()
    tables_dir, figures_dir = Path(tables_dir), Path(figures_dir)
    frame = _frame(records)
    scale_note = (
        f"scale: {scale}; mean over seeds (n_seeds) ± its standard error (the larger of the seed spread and the "
        'runs\' own evaluation noise; bytelm.md "Noise and verdicts"); the CSV holds _std (sample std over seeds) '
        "and _se; the paper's table cells were not retrieved, so no paper number is shown (its abstract's claims "
        "are in claims.md)"
    )
    tables.write_table(
        _bias_table(oracle_table),
        tables_dir / "tokenization_bias.csv",
        tables_dir / "tokenization_bias.md",
        "bytelm: tokenization bias under an exact token LM (Markov source, exact oracle)",
        notes=[
            f"scale: {scale}; P(next symbol | prompt): the source's truth, naive (condition on "
            "encode(prompt)), token healing, and the byte-level BTR method (raw lemma ratios); "
            "p_prompt_cover: P(prompt) summed over its cover encodings (BTR lemma), beside the truth"
        ],
    )
    for experiment, name in FILES.items():
        tables.write_estimates(
            _experiment_table(frame, experiment),
            tables_dir / f"{name}.csv",
            tables_dir / f"{name}.md",
            TITLES[experiment],
            notes=[scale_note] + NOTES[experiment] + _byte_level_note(records, experiment),
        )
    _plot_toy(toy_tables, figures_dir / "learned_toy_error.png")
    log.info("wrote bytelm tables to %s and the figure to %s", tables_dir, figures_dir)


def build_fim_table(
    records: list, scale: str, out_csv: str | Path, out_md: str | Path, log_path: str | Path | None = None
) -> None:
    """Write the FIM table (method × metric, mean over seeds) from the bytelm_fim records (bytelm.md "FIM
    benchmark")."""
    runtime.setup_logging(log_path)
    frame = _frame(records)
    if not (frame["experiment"] == "fim").any():
        raise ValueError("build_fim_table: no records of experiment 'fim'")
    benchmark = sorted(
        {r.get("extra", {}).get("benchmark", "?") for r in _records(records) if r["experiment"] == "fim"}
    )
    notes = (
        [
            f"scale: {scale}; benchmark: {', '.join(benchmark)}; mean over seeds (n_seeds) ± its standard error; "
            "the paper's table cells were not retrieved, so no paper number is shown"
        ]
        + NOTES["fim"]
        + _byte_level_note(records, "fim")
    )
    tables.write_estimates(_experiment_table(frame, "fim"), Path(out_csv), Path(out_md), TITLES["fim"], notes)
    log.info("wrote the FIM table to %s", out_csv)
