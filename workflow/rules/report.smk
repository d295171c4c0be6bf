# Cross-paper outputs: every claim checked against our metrics, the provenance stamp, and a one-page summary.


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


# The stamp of this results directory; rewritten whenever a record changes.
rule provenance:
    input:
        records=all_records,
    output:
        "results/{scale}/provenance.json",
    log:
        "logs/{scale}/provenance.log",
    localrule: True
    conda:
        "../envs/report.yaml"
    params:
        scale=SCALE,
        papers=PAPERS,
        paper_config_dir=config["paper_config_dir"],
    script:
        "../scripts/common/provenance.py"


# summary.md, and overview.html: the claims table and provenance that open the report (workflow.rst).
rule summary:
    input:
        claims="results/{scale}/claims.json",
        provenance="results/{scale}/provenance.json",
        records=all_records,
        outputs=all_outputs,
    output:
        markdown=report(
            "results/{scale}/summary.md",
            caption="../report/summary.rst",
            category="summary",
            labels={"file": "summary"},
        ),
        overview="results/{scale}/overview.html",
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
