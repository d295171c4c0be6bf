# Online intrinsic rewards from LLM feedback (Zheng, Henaff, Zhang, Grover, Amos; RLC 2025).
# train (per method and seed: APPO on torchrl with the live LLM server and the annotator subprocess started and
# stopped inside the job) -> table (runs table, return/success curves, label table size over time).


include: "oni_helpers.smk"


rule oni_train:
    output:
        record="results/{scale}/oni/metrics/{task}/{method}/seed{seed}.json",
    log:
        "logs/{scale}/oni/train/{task}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/oni/train/{task}/{method}/seed{seed}.tsv"
    retries: 1
    conda:
        "../envs/oni.yaml"
    threads: ONI.get("threads", 1)
    resources:
        gpu=gpu_count,
    params:
        config=paper_config("oni", "experiment", default={}),
        scale=SCALE,
        checkpoint_dir=checkpoint_dir("oni", "{task}/{method}/seed{seed}"),
    script:
        "../scripts/oni/train.py"


rule oni_table:
    input:
        records=oni_records,
    output:
        csv=report(
            "results/{scale}/oni/tables/runs.csv",
            caption="../report/oni_table_runs.rst",
            category="oni",
            labels={"table": "runs per task and reward type"},
        ),
        md="results/{scale}/oni/tables/runs.md",
        curves=report(
            "results/{scale}/oni/figures/curves.png",
            caption="../report/oni_figure_curves.rst",
            category="oni",
            labels={"figure": "return and success curves"},
        ),
        labels=report(
            "results/{scale}/oni/figures/labels.png",
            caption="../report/oni_figure_labels.rst",
            category="oni",
            labels={"figure": "label table size over time"},
        ),
    log:
        "logs/{scale}/oni/table.log",
    localrule: True
    conda:
        "../envs/oni.yaml"
    params:
        window=paper_config("oni", "experiment", "evaluate", "window", default=10),
    script:
        "../scripts/oni/table.py"


register_wing("oni", records=oni_records, outputs=rules.oni_table.output)


rule oni:
    default_target: False
    input:
        wing_outputs("oni"),
