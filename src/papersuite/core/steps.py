"""Workflow entry points of the shared rules: one function per rule `<step>` (no paper prefix),
called by `workflow/scripts/common/<step>.py`.

Each function imports what it uses, so a job pays only for its own step's imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def download(source: Mapping[str, Any], dest: str | Path, manifest: str | Path, log_path: str | Path | None = None):
    """Place one raw input (a file shipped in an installed package, or a checksummed URL) with its manifest."""
    from papersuite.core.download import fetch_source

    return fetch_source(source=source, dest=dest, manifest=manifest, log_path=log_path)


def download_model(repo_id: str, revision: str, out_dir: str | Path, log_path: str | Path | None = None) -> Path:
    """Snapshot a hub model for a full-scale run (login node, with internet)."""
    from papersuite.core.hub import download_hub_model

    return download_hub_model(repo_id=repo_id, revision=revision, out_dir=out_dir, log_path=log_path)


def claims(
    records: Sequence[str | Path],
    references: Sequence[str | Path],
    scale: str,
    out_markdown: str | Path,
    out_json: str | Path,
    log_path: str | Path | None = None,
) -> list[dict]:
    """Check every enabled paper's claims against our metrics records."""
    from papersuite.core.report import write_claims

    return write_claims(records, references, scale, out_markdown, out_json, log_path)


def summary(
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
    """The one-page summary for a reviewer (what ran, how long it took, what matched) and the report's first page."""
    from papersuite.core.report import write_summary

    return write_summary(
        papers, scale, claims_json, records, outputs, benchmarks_dir, out_markdown, provenance_json, out_html, log_path
    )


def provenance(
    papers: Sequence[str], scale: str, paper_config_dir: str | Path, out_json: str | Path, log_path=None
) -> dict:
    """The stamp of the results directory: commit, dirty flag, packages, machine, threads, command line."""
    from papersuite.core.report import write_provenance

    return write_provenance(papers, scale, paper_config_dir, out_json, log_path)
