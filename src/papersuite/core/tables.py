"""Tables from records: seed summaries, the paper's numbers beside ours, CSV + Markdown output."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .io import write_csv, write_text
from .noise import SE_SUFFIX, combine, format_estimate

__all__ = [
    "beside_paper",
    "format_cell",
    "estimate_view",
    "format_estimate",
    "format_markdown",
    "summarize",
    "write_table",
]


def summarize(frame: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, sample std (ddof=1) and noise of each metric over seeds, grouped by ``by``.

    Columns: ``by...``, then per metric ``<metric>`` (mean), ``<metric>_std`` and ``<metric>_se`` (the
    seed mean's standard error, :func:`papersuite.core.noise.combine`: the larger of the seed spread
    and the runs' own ``<metric>_se``), then ``n_seeds`` (rows in the group). One seed gives std NaN and
    se from the run's ``<metric>_se`` (NaN without one); NaN metric values are skipped.
    """
    by, metrics = list(by), list(metrics)
    missing = [c for c in by + metrics if c not in frame.columns]
    if missing:
        raise ValueError(f"summarize: no column(s) {missing}; have {list(frame.columns)}")
    grouped = frame.groupby(by, sort=True, dropna=False)
    mean = grouped[metrics].mean()
    std = grouped[metrics].std(ddof=1)
    out = pd.DataFrame(index=mean.index)
    for m in metrics:
        out[m] = mean[m].astype(float)
        out[f"{m}_std"] = std[m].astype(float)
        out[f"{m}{SE_SUFFIX}"] = grouped.apply(lambda g, m=m: _seed_mean_se(g, m), include_groups=False)
    out["n_seeds"] = grouped.size().astype(int)
    return out.reset_index()


def estimate_view(table: pd.DataFrame) -> pd.DataFrame:
    """The Markdown view of a summarize() table: each metric with a known ``<metric>_se`` as "mean ± se"
    (:func:`papersuite.core.noise.format_estimate`); its ``_std`` and ``_se`` columns are left to the CSV."""
    view = table.copy()
    for se_column in [c for c in table.columns if c.endswith(SE_SUFFIX)]:
        metric = se_column.removesuffix(SE_SUFFIX)
        if metric in table.columns and table[se_column].notna().any():
            view[metric] = [
                format_estimate(m, s) if pd.notna(m) else None
                for m, s in zip(table[metric], table[se_column].astype(float))
            ]
    derived = [f"{m}{suffix}" for m in table.columns for suffix in ("_std", SE_SUFFIX)]
    return view.drop(columns=[c for c in view.columns if c in derived])


def _seed_mean_se(group: pd.DataFrame, metric: str) -> float:
    rows = group[group[metric].notna()]
    if rows.empty:
        return math.nan
    se_column = f"{metric}{SE_SUFFIX}"
    ses = rows[se_column].astype(float) if se_column in rows.columns else None
    return combine(rows[metric].astype(float), ses).se


def beside_paper(
    table: pd.DataFrame,
    numbers: pd.DataFrame | Iterable[Mapping],
    on: Sequence[str] = ("experiment", "method"),
    metric: str | None = None,
) -> pd.DataFrame:
    """Add ``paper_value``, ``paper_source``, ``paper_verified`` from the paper's numbers.

    A table row ``r`` matches a number ``n`` when ``r[on[0]] == n.experiment``,
    ``r[on[1]] == n.row`` and ``n.column == metric``. Rows without a number get NaN / None.
    ``numbers`` is the frame of :func:`papersuite.core.references.paper_numbers`.
    """
    if metric is None:
        raise TypeError("beside_paper: metric is required")
    if len(on) != 2:
        raise ValueError(f"beside_paper: on must name (experiment column, method column), got {on!r}")
    exp_col, row_col = on
    for col in on:
        if col not in table.columns:
            raise ValueError(f"beside_paper: table has no column {col!r}")
    numbers = numbers if isinstance(numbers, pd.DataFrame) else pd.DataFrame(list(numbers))
    lookup: dict[tuple[Any, Any], Mapping] = {}
    if len(numbers):
        for n in numbers[numbers["column"] == metric].to_dict("records"):
            key = (n["experiment"], n["row"])
            if key in lookup:
                # Two paper numbers for one cell: silently picking one would hide a references bug.
                raise ValueError(
                    f"beside_paper: paper numbers {lookup[key]['id']!r} and {n['id']!r} both give "
                    f"experiment={key[0]!r}, row={key[1]!r}, column={metric!r}"
                )
            lookup[key] = n
    matches = [lookup.get(key) for key in zip(table[exp_col], table[row_col])]
    out = table.copy()
    out["paper_value"] = [math.nan if n is None else float(n["value"]) for n in matches]
    out["paper_source"] = pd.Series(
        [None if n is None else n["source"] for n in matches], index=out.index, dtype=object
    )
    out["paper_verified"] = pd.Series(
        [None if n is None else bool(n["verified"]) for n in matches], index=out.index, dtype=object
    )
    return out


def format_cell(value: Any, floatfmt: str = ".4g") -> str:
    """One Markdown cell: floats with ``floatfmt``, NaN/None blank, pipes escaped."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        return "" if math.isnan(value) else format(value, floatfmt)
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def format_markdown(df: pd.DataFrame, title: str, notes: Sequence[str] = (), floatfmt: str = ".4g") -> str:
    """A GitHub-markdown table: ``## title``, the table (numeric columns right-aligned), notes as bullets."""
    lines = [f"## {title}", ""]
    if len(df.columns) == 0:
        lines.append("(no data)")
    else:
        header = [format_cell(str(c)) for c in df.columns]
        align = [
            "---:" if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) else "---"
            for c in df.columns
        ]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("| " + " | ".join(align) + " |")
        for row in df.itertuples(index=False, name=None):
            lines.append("| " + " | ".join(format_cell(v, floatfmt) for v in row) + " |")
    if notes:
        lines.append("")
        lines.extend(f"- {note}" for note in notes)
    return "\n".join(lines) + "\n"


def write_table(
    df: pd.DataFrame,
    csv_path: str | Path,
    md_path: str | Path,
    title: str,
    notes: Sequence[str] = (),
) -> None:
    """Write ``df`` as CSV and as a Markdown table, both atomically."""
    write_csv(csv_path, df)
    write_text(md_path, format_markdown(df, title, notes))


def write_estimates(
    table: pd.DataFrame,
    csv_path: str | Path,
    md_path: str | Path,
    title: str,
    notes: Sequence[str] = (),
) -> None:
    """A summarized table (from `summarize`) as CSV with its mean, _std and _se columns, and as Markdown with
    "mean ± se" cells (`estimate_view`), both atomically."""
    write_csv(csv_path, table)
    write_text(md_path, format_markdown(estimate_view(table), title, notes))
