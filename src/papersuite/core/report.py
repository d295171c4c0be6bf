"""Cross-paper outputs: claims checked against metrics records, and the reviewer's summary page."""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from papersuite.core.claims import STATUSES, check_claims, render_claims_markdown
from papersuite.core.io import read_json, write_json, write_text
from papersuite.core.overview import write_overview
from papersuite.core.records import load_records, records_frame
from papersuite.core.references import load_references
from papersuite.core.runtime import setup_logging


def write_claims(
    records: Sequence[str | Path],
    references: Sequence[str | Path],
    scale: str,
    out_markdown: str | Path,
    out_json: str | Path,
    log_path: str | Path | None = None,
) -> list[dict]:
    """Check every paper's claims (config/references/<id>.yaml) against our metrics records."""
    logger = setup_logging(log_path)
    frame = records_frame(load_records(records))
    results: list[dict] = []
    for path in references:
        refs = load_references(path)
        paper_rows = frame[frame["paper"] == refs["paper"]] if len(frame) else frame
        results.extend(check_claims(refs, paper_rows, scale))
    counts = Counter(result["status"] for result in results)
    logger.info("claims at %s scale: %s", scale, dict(counts))
    write_json(out_json, {"scale": scale, "counts": {s: counts[s] for s in STATUSES}, "claims": results})
    write_text(out_markdown, render_claims_markdown(results, scale))
    return results


def benchmark_seconds(benchmarks_dir: str | Path, paper: str) -> tuple[float, int]:
    """Sum of job wall seconds in Snakemake benchmark TSVs under <benchmarks_dir>/<paper>/."""
    total, jobs = 0.0, 0
    root = Path(benchmarks_dir) / paper
    if not root.exists():
        return total, jobs
    for path in sorted(root.rglob("*.tsv")):
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if rows:
            total += float(rows[-1]["s"])
            jobs += 1
    return total, jobs


def _links(paths: Iterable[str], paper: str, suffix: str, base: Path) -> list[str]:
    return [
        f"[{Path(path).name}]({os.path.relpath(path, base)})"
        for path in paths
        if Path(path).suffix == suffix and f"/{paper}/" in Path(path).as_posix()
    ]


def write_summary(
    papers: Sequence[str],
    scale: str,
    claims_json: str | Path,
    records: Sequence[str | Path],
    outputs: Sequence[str],
    benchmarks_dir: str | Path,
    out_markdown: str | Path,
    provenance_json: str | Path,
    out_html: str | Path,
    log_path: str | Path | None = None,
) -> str:
    """One page for a reviewer: per paper what ran, how long it took, its tables and claims; and the
    report's first page (overview.html: claims with value ± noise, provenance)."""
    setup_logging(log_path)
    base = Path(out_markdown).parent
    frame = records_frame(load_records(records))
    claims = read_json(claims_json)["claims"]
    provenance = read_json(provenance_json)
    job_seconds = {paper: benchmark_seconds(benchmarks_dir, paper) for paper in papers}
    write_overview(out_html, papers, scale, claims, provenance, job_seconds)
    git = provenance.get("git", {})
    lines = [
        f"# papersuite summary: scale `{scale}`",
        "",
        "Each paper's tables put our numbers beside the paper's (from `config/references/<id>.yaml`, "
        "marked verified or not). Claims: see [claims.md](claims.md).",
        "",
        f"Made by git commit `{git.get('commit')}`{' with uncommitted changes' if git.get('dirty') else ''}; "
        f"packages, machine, threads and command line: [{Path(provenance_json).name}]"
        f"({os.path.relpath(provenance_json, base)}).",
        "",
        "| paper | runs | experiments | methods | seeds | training time (s) | job time (s, jobs) "
        "| PASS | FAIL | UNDECIDED | not applicable |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for paper in papers:
        rows = frame[frame["paper"] == paper] if len(frame) else frame
        job_s, jobs = job_seconds[paper]
        counts = Counter(c["status"] for c in claims if c["paper"] == paper)
        lines.append(
            f"| {paper} | {len(rows)} | {rows['experiment'].nunique() if len(rows) else 0} "
            f"| {rows['method'].nunique() if len(rows) else 0} "
            f"| {rows['seed'].nunique() if len(rows) else 0} "
            f"| {rows['wall_s'].sum() if len(rows) else 0:.1f} | {job_s:.1f} ({jobs}) "
            f"| {' | '.join(str(counts[status]) for status in STATUSES)} |"
        )
    for paper in papers:
        lines += ["", f"## {paper}", ""]
        tables = _links(outputs, paper, ".md", base)
        figures = _links(outputs, paper, ".png", base)
        lines.append("Tables: " + (", ".join(tables) or "none"))
        lines.append("")
        lines.append("Figures: " + (", ".join(figures) or "none"))
        lines += ["", "| claim | status |", "|---|---|"]
        for claim in (c for c in claims if c["paper"] == paper):
            lines.append(f"| {claim['statement']} | {claim['status']} |")
    text = "\n".join(lines) + "\n"
    write_text(out_markdown, text)
    return text


def write_provenance(
    papers: Sequence[str], scale: str, paper_config_dir: str | Path, out_json: str | Path, log_path=None
) -> dict:
    """results/<scale>/provenance.json: commit, dirty flag, packages, machine, threads, command line."""
    from papersuite.core.provenance import provenance

    logger = setup_logging(log_path)
    stamp = provenance(papers, scale, paper_config_dir)
    logger.info("provenance: commit %s dirty %s", stamp["git"].get("commit"), stamp["git"].get("dirty"))
    write_json(out_json, stamp)
    return stamp
