# Cross-paper outputs: every claim checked against our metrics, and a one-page summary.


rule claims:
    input:
        records=all_records,
        references=all_references,
    output:
        markdown=report(
            "results/{scale}/claims.md",
            caption="../report/claims.rst",
            category="summary",
            labels={"file": "claims"},
        ),
        json="results/{scale}/claims.json",
    log:
        "logs/{scale}/claims.log",
    localrule: True
    conda:
        "../envs/report.yaml"
    params:
        scale=SCALE,
        papers=PAPERS,
    script:
        "../scripts/common/claims.py"


rule summary:
    input:
        claims="results/{scale}/claims.json",
        records=all_records,
        outputs=all_outputs,
    output:
        report(
            "results/{scale}/summary.md",
            caption="../report/summary.rst",
            category="summary",
            labels={"file": "summary"},
        ),
    log:
        "logs/{scale}/summary.log",
    localrule: True
    conda:
        "../envs/report.yaml"
    params:
        scale=SCALE,
        papers=PAPERS,
        benchmarks_dir=f"benchmarks/{SCALE}",
    script:
        "../scripts/common/summary.py"
