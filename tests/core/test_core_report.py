"""Claims and summary pages built from metrics records and a references file."""

from __future__ import annotations

import textwrap

from papersuite.core.io import write_json
from papersuite.core.records import make_record, write_record
from papersuite.core.report import benchmark_seconds, write_claims, write_summary

REFERENCES = textwrap.dedent(
    """
    paper: toy
    title: Toy paper
    citation: nobody, 2026
    claims:
      - id: ours_best
        statement: ours has the lowest error
        source: toy table
        verified: true
        applies_at: [tiny, full]
        check: {kind: rank, metric: error, where: {experiment: e}, among: method, subjects: [ours], ranks: [1]}
      - id: big_gap
        statement: ours is 10x better than the baseline
        source: toy text
        verified: false
        applies_at: [tiny, full]
        check: {kind: ratio, metric: error, numerator: {where: {experiment: e, method: ours}},
                denominator: {where: {experiment: e, method: base}}, op: "<=", value: 0.1}
      - id: full_only
        statement: holds after a long run
        source: toy figure
        verified: false
        applies_at: [full]
        not_applicable_reason: {tiny: too short}
        check: {kind: threshold, metric: error, where: {experiment: e, method: ours}, op: "<", value: 1}
    """
)


def write_toy_run(tmp_path):
    refs = tmp_path / "toy.yaml"
    refs.write_text(REFERENCES)
    records = []
    for method, error in (("ours", 0.2), ("base", 1.0)):
        path = tmp_path / "metrics" / f"{method}.json"
        write_record(
            path,
            make_record(
                paper="toy",
                experiment="e",
                method=method,
                seed=0,
                scale="tiny",
                metrics={"error": error, "error_se": 0.01},
                wall_s=2.5,
                device="cpu",
                config={"lr": 1},
            ),
        )
        records.append(path)
    return refs, records


def test_write_claims_reports_pass_fail_and_not_applicable(tmp_path):
    refs, records = write_toy_run(tmp_path)
    results = write_claims(records, [refs], "tiny", tmp_path / "claims.md", tmp_path / "claims.json")
    status = {r["id"]: r["status"] for r in results}
    # ours 0.2 vs base 1.0: rank 1 holds, the ratio 0.2 misses the 0.1 bound.
    assert status == {"ours_best": "PASS", "big_gap": "FAIL", "full_only": "NOT APPLICABLE"}
    markdown = (tmp_path / "claims.md").read_text()
    assert "too short" in markdown and "FAIL" in markdown


def test_summary_counts_runs_time_and_claims(tmp_path):
    refs, records = write_toy_run(tmp_path)
    out = tmp_path / "results"
    write_claims(records, [refs], "tiny", out / "claims.md", out / "claims.json")
    write_json(out / "provenance.json", {"git": {"commit": "abc", "dirty": False}, "papers": {}, "packages": {}})
    bench = tmp_path / "benchmarks" / "toy" / "train"
    bench.mkdir(parents=True)
    (bench / "a.tsv").write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t100\n")
    table = out / "toy" / "tables" / "t.md"
    table.parent.mkdir(parents=True)
    table.write_text("x")
    text = write_summary(
        ["toy"],
        "tiny",
        out / "claims.json",
        records,
        [str(table)],
        tmp_path / "benchmarks",
        out / "summary.md",
        provenance_json=out / "provenance.json",
        out_html=out / "overview.html",
    )
    assert "| toy | 2 | 1 | 2 | 1 | 5.0 | 12.5 (1) | 1 | 1 | 0 | 1 |" in text
    assert "Made by git commit `abc`; packages, machine, threads and command line: [provenance.json]" in text
    overview = (out / "overview.html").read_text()
    assert "<table class='ps' id='claims'>" in overview and "ours is 10x better" in overview
    assert "[t.md](toy/tables/t.md)" in text
    assert benchmark_seconds(tmp_path / "benchmarks", "missing") == (0.0, 0)
