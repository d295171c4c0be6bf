"""The report's first page: every claim's verdict with our value ± noise beside the paper's, then provenance.

Written as an HTML fragment (``results/<scale>/overview.html``) that the landing page of Snakemake's report
(``workflow/report/workflow.rst``) includes, so the report opens with the claims table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from .claims import STATUSES, format_evidence
from .io import write_text

__all__ = ["render_overview", "write_overview"]

_COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e", "UNDECIDED": "#9a6700", "NOT APPLICABLE": "#57606a"}
_STYLE = (
    "<style>table.ps{border-collapse:collapse;font-size:0.85em;margin:0.5em 0 1.5em}"
    "table.ps td,table.ps th{border:1px solid #d0d7de;padding:3px 6px;vertical-align:top;text-align:left}"
    "table.ps th{background:#f6f8fa}</style>"
)


def _ours(claim: Mapping) -> str:
    """Our side of a claim: its estimates (value ± noise) and, for ranks, the possible ranks."""
    evidence = claim.get("evidence") or {}
    ranked = [k[len("rank ") :] for k in evidence if k.startswith("rank ")]
    keys = [k for k in evidence if k in ranked or k.startswith("possible ranks ")] if ranked else list(evidence)
    parts = [f"{k}: {format_evidence(evidence[k])}" for k in keys if k in evidence]
    return "<br>".join(escape(p) for p in parts) or "&ndash;"


def _paper(claim: Mapping) -> str:
    number = claim.get("paper_number")
    checked = "verified" if claim.get("verified") else "unverified"
    text = f"{number['value']:g}{(' ' + number['unit']) if number.get('unit') else ''}; " if number else ""
    return escape(f"{text}{claim.get('source', '')} ({checked})")


def _claims_table(claims: Sequence[Mapping]) -> list[str]:
    rows = ["<table class='ps' id='claims'><tr><th>paper</th><th>claim</th><th>verdict</th>"
            "<th>ours (value ± noise)</th><th>the paper (source)</th><th>why</th></tr>"]  # fmt: skip
    for c in claims:
        colour = _COLOURS.get(c["status"], "#000")
        rows.append(
            f"<tr><td>{escape(c['paper'])}</td><td>{escape(c['id'])}: {escape(c.get('statement', ''))}</td>"
            f"<td style='color:{colour};font-weight:bold'>{escape(c['status'])}</td><td>{_ours(c)}</td>"
            f"<td>{_paper(c)}</td><td>{escape(c.get('reason', ''))}</td></tr>"
        )
    return [*rows, "</table>"]


def _provenance_table(papers: Sequence[str], provenance: Mapping, job_seconds: Mapping[str, tuple]) -> list[str]:
    git = provenance.get("git", {})
    state = "dirty: tracked files differ from it" if git.get("dirty") else "clean"
    lines = [
        f"<p>Code: git commit <code>{escape(str(git.get('commit')))}</code> ({state}). "
        f"Machine: {escape(str(provenance.get('machine', {}).get('cpu')))}, "
        f"{provenance.get('machine', {}).get('cpus_usable')} usable CPUs, GPUs: "
        f"{escape(', '.join(provenance.get('machine', {}).get('gpus') or []) or 'none')}. "
        f"Python {escape(str(provenance.get('python')))}. Details: provenance.json.</p>",
        "<table class='ps' id='provenance'><tr><th>paper</th><th>job time (s)</th><th>jobs</th>"
        "<th>config hash (config/&lt;id&gt;.yaml at this scale)</th></tr>",
    ]
    for paper in papers:
        seconds, jobs = job_seconds.get(paper, (0.0, 0))
        config_hash = provenance.get("papers", {}).get(paper, {}).get("config_hash")
        lines.append(
            f"<tr><td>{escape(paper)}</td><td>{seconds:.1f}</td><td>{jobs}</td>"
            f"<td><code>{escape(str(config_hash))}</code></td></tr>"
        )
    lines.append("</table>")
    packages = provenance.get("packages", {})
    listed = ", ".join(f"{escape(k)} {escape(str(v))}" for k, v in packages.items())
    return [*lines, f"<p>Packages: {listed}.</p>"]


def render_overview(
    papers: Sequence[str], scale: str, claims: Sequence[Mapping], provenance: Mapping, job_seconds: Mapping
) -> str:
    counts = Counter(c["status"] for c in claims)
    total = ", ".join(f"{counts[s]} {s}" for s in STATUSES)
    parts = [
        _STYLE,
        f"<h2 id='claims-heading'>Claims at scale {escape(scale)}: {total}</h2>",
        "<p>A verdict is PASS or FAIL only when it holds beyond 2 standard errors of the values it compares "
        "(the spread over seeds or the evaluation's own standard error, whichever is larger); otherwise it "
        "is UNDECIDED. The paper's numbers come from config/references/&lt;id&gt;.yaml, verified or not.</p>",
        *_claims_table(claims),
        "<h2>Provenance</h2>",
        *_provenance_table(papers, provenance, job_seconds),
    ]
    return "\n".join(parts) + "\n"


def write_overview(
    out_html: str | Path,
    papers: Sequence[str],
    scale: str,
    claims: Sequence[Mapping],
    provenance: Mapping,
    job_seconds: Mapping[str, Any],
) -> str:
    html = render_overview(papers, scale, claims, provenance, job_seconds)
    write_text(out_html, html)
    return html
