# AdvPrompter (Paulus, Zharmagambetov, Guo, Amos, Tian, ICML 2025). Red-teaming research: the tiny world is benign.
# prepare (tiny: the seeded toy world in AdvBench's CSV schema and its two LMs trained from scratch; full: AdvBench
# and the hub models) -> train (per lambda and seed: evaluate, AdvPrompterTrain, evaluate, time the search, in one
# job) -> table (Table 1 shape beside the paper's reprinted numbers; ASR and perplexity vs lambda).


include: "advprompter_helpers.smk"


wildcard_constraints:
    lam=r"[0-9.e+-]+",


rule advprompter_prepare:
    output:
        directory("results/{scale}/advprompter/data/tiny_world"),
    log:
        "logs/{scale}/advprompter/prepare.log",
    benchmark:
        "benchmarks/{scale}/advprompter/prepare.tsv"
    conda:
        "../envs/advprompter.yaml"
    threads: ADVPROMPTER.get("threads", 1)
    params:
        world=paper_config("advprompter", "world", default={}),
        models=paper_config("advprompter", "models", default={}),
    script:
        "../scripts/advprompter/prepare.py"


rule advprompter_prepare_advbench:
    input:
        unpack(advprompter_advbench_inputs),
    output:
        directory("results/{scale}/advprompter/data/advbench_{target}"),
    log:
        "logs/{scale}/advprompter/prepare_advbench/{target}.log",
    conda:
        "../envs/advprompter.yaml"
    params:
        template=advprompter_template,
    script:
        "../scripts/advprompter/prepare_advbench.py"


rule advprompter_train:
    input:
        data="results/{scale}/advprompter/data/{experiment}",
    output:
        record="results/{scale}/advprompter/metrics/{experiment}/lambda{lam}/seed{seed}.json",
    log:
        "logs/{scale}/advprompter/train/{experiment}/lambda{lam}/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/advprompter/train/{experiment}/lambda{lam}/seed{seed}.tsv"
    retries: 1
    conda:
        "../envs/advprompter.yaml"
    threads: ADVPROMPTER.get("threads", 1)
    resources:
        gpu=gpu_count,
    params:
        experiment_config=paper_config("advprompter", "experiment", default={}),
        scale=SCALE,
        checkpoint_dir=checkpoint_dir(
            "advprompter", "{experiment}/lambda{lam}/seed{seed}"
        ),
    script:
        "../scripts/advprompter/train.py"


rule advprompter_table:
    input:
        records=advprompter_records,
        references=references_path("advprompter"),
    output:
        csv=report(
            "results/{scale}/advprompter/tables/table1.csv",
            caption="../report/advprompter_table_table1.rst",
            category="advprompter",
            labels={"table": "train/test ASR@k, ASR@1 and perplexity (Table 1 shape)"},
        ),
        md="results/{scale}/advprompter/tables/table1.md",
        figure=report(
            "results/{scale}/advprompter/figures/lambda.png",
            caption="../report/advprompter_figure_lambda.rst",
            category="advprompter",
            labels={"figure": "ASR and perplexity vs lambda"},
        ),
    log:
        "logs/{scale}/advprompter/table.log",
    localrule: True
    conda:
        "../envs/advprompter.yaml"
    params:
        scale=SCALE,
    script:
        "../scripts/advprompter/table.py"


register_wing(
    "advprompter", records=advprompter_records, outputs=rules.advprompter_table.output
)


rule advprompter:
    default_target: False
    input:
        wing_outputs("advprompter"),
