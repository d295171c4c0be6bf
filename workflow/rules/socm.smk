# Stochastic Optimal Control Matching (Domingo-Enrich et al., NeurIPS 2024).
# prepare (problem + reference control) -> [warm_start (per setting, seed)] -> train (per setting and
# method: all its seeds as one stacked ensemble, then each member's control objective and metrics record,
# one record file) -> table (tables, figures).
# SOCM has no external data: its problems are drawn from a seed at both scales.


include: "socm_helpers.smk"


rule socm_prepare:
    output:
        problem="results/{scale}/socm/data/{setting}.npz",
        summary="results/{scale}/socm/data/{setting}.json",
    log:
        "logs/{scale}/socm/prepare/{setting}.log",
    conda:
        "../envs/socm.yaml"
    params:
        problem=lookup(dpath="settings/{setting}/problem", within=SOCM),
    script:
        "../scripts/socm/prepare.py"


rule socm_warm_start:
    input:
        problem="results/{scale}/socm/data/{setting}.npz",
    output:
        "results/{scale}/socm/models/{setting}/warm_start/seed{seed}.pt",
    log:
        "logs/{scale}/socm/warm_start/{setting}/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/socm/warm_start/{setting}/seed{seed}.tsv"
    conda:
        "../envs/socm.yaml"
    threads: 1
    resources:
        gpu=gpu_count,
    params:
        warm_start=lookup(dpath="settings/{setting}/train/warm_start", within=SOCM),
    script:
        "../scripts/socm/warm_start.py"


rule socm_train:
    input:
        unpack(socm_train_inputs),
    output:
        model="results/{scale}/socm/models/{setting}/{method}/model.pt",
        curve="results/{scale}/socm/models/{setting}/{method}/curve.csv",
        record="results/{scale}/socm/metrics/{setting}/{method}.json",
    log:
        "logs/{scale}/socm/train/{setting}/{method}.log",
    benchmark:
        "benchmarks/{scale}/socm/train/{setting}/{method}.tsv"
    retries: 1
    conda:
        "../envs/socm.yaml"
    threads: 1
    resources:
        gpu=gpu_count,
    params:
        train=lookup(dpath="settings/{setting}/train", within=SOCM),
        evaluate=lookup(dpath="settings/{setting}/evaluate", within=SOCM),
        seeds=socm_seeds,
        scale=SCALE,
        checkpoint_dir=checkpoint_dir("socm", "{setting}/{method}"),
    script:
        "../scripts/socm/train.py"


rule socm_table:
    input:
        records=socm_records,
        curves=socm_curves,
        references=references_path("socm"),
    output:
        l2_csv=report(
            "results/{scale}/socm/tables/control_l2_error.csv",
            caption="../report/socm_table_l2.rst",
            category="socm",
            labels={"table": "final control L2 error"},
        ),
        l2_md="results/{scale}/socm/tables/control_l2_error.md",
        time_csv=report(
            "results/{scale}/socm/tables/time_per_iteration.csv",
            caption="../report/socm_table_time.rst",
            category="socm",
            labels={"table": "time per iteration (Table 1)"},
        ),
        time_md="results/{scale}/socm/tables/time_per_iteration.md",
        objective_csv=report(
            "results/{scale}/socm/tables/control_objective.csv",
            caption="../report/socm_table_objective.rst",
            category="socm",
            labels={"table": "control objective"},
        ),
        objective_md="results/{scale}/socm/tables/control_objective.md",
        l2_figure=report(
            "results/{scale}/socm/figures/control_l2_error.png",
            caption="../report/socm_figure_l2.rst",
            category="socm",
            labels={"figure": "control L2 error vs iteration"},
        ),
        iw_figure=report(
            "results/{scale}/socm/figures/normalized_iw_std.png",
            caption="../report/socm_figure_iw.rst",
            category="socm",
            labels={"figure": "normalized importance-weight std"},
        ),
    log:
        "logs/{scale}/socm/table.log",
    localrule: True
    conda:
        "../envs/socm.yaml"
    params:
        scale=SCALE,
    script:
        "../scripts/socm/table.py"


register_wing("socm", records=socm_records, outputs=rules.socm_table.output)


rule socm:
    default_target: False
    input:
        wing_outputs("socm"),
