# Exact byte-level probabilities from tokenized LMs (Phan, Amos, Gat, Havasi, Muckley, Ullrich,
# ICLR 2025, arXiv 2410.09303).
# oracle (Markov sources, exact token LMs: the tokenization-bias table) ; toy (a tiny GPT-2 trained on
# tokenized Markov samples) ; ensemble (two tiny GPT-2s with different BPE vocabularies trained on the
# Python standard library) ; midtoken (HumanEval lines cut mid-token, completed by SmolLM2 at tiny, by
# a hub code LM at full; raw data and hub models come from the shared download rules) ; fim (full only: HumanEval infilling with the hub FIM code LM) -> table.


include: "bytelm_helpers.smk"


# Scheduling (docs/papers/bytelm.md "Tiny scale: sizes and speed"): the longest chain is download → convert →
# midtoken, then corpus → train_code → evaluate_ensemble; the toy and the oracle fill the gaps. The shared
# download rule has no priority, so the wing's raw files use a copy of it that runs before everything else
# (without it Snakemake ran the HumanEval download, which midtoken needs, after the toy).
use rule download as bytelm_download with:
    wildcard_constraints:
        paper="bytelm",
        source=r"(?!hub$)[^/]+",
        file=r"[^/]+\.(h5ad|npz|npy|zip|gz|gguf|jsonl)",
    priority: 3


ruleorder: bytelm_download > download


rule bytelm_convert_smollm2:
    input:
        gguf=bytelm_gguf_file,
    output:
        directory("results/{scale}/bytelm/models/smollm2"),
    log:
        "logs/{scale}/bytelm/convert_smollm2.log",
    benchmark:
        "benchmarks/{scale}/bytelm/convert_smollm2.tsv"
    # the conversion and the mid-token run are the longest chain: start it first, the rest fills the cores
    priority: 2
    conda:
        "../envs/bytelm.yaml"
    script:
        "../scripts/bytelm/convert_smollm2.py"


rule bytelm_oracle:
    output:
        table="results/{scale}/bytelm/data/oracle/bias_table.csv",
        records=[
            f"results/{{scale}}/bytelm/metrics/{experiment}/{method}/seed0.json"
            for experiment in BYTELM_ORACLE_EXPERIMENTS
            for method in BYTELM_METHODS
        ],
    log:
        "logs/{scale}/bytelm/oracle.log",
    benchmark:
        "benchmarks/{scale}/bytelm/oracle.tsv"
    conda:
        "../envs/bytelm.yaml"
    params:
        oracle=lookup(dpath="oracle", within=BYTELM, default={}),
        scale=SCALE,
    script:
        "../scripts/bytelm/oracle.py"


# Trains one seed's toy and evaluates it in the same job: the two steps used to be two jobs, and each paid about
# 4.5 CPU s of importing torch and transformers (docs/papers/bytelm.md "Tiny scale: sizes and speed").
rule bytelm_train_toy:
    output:
        **bytelm_method_records("toy"),
        model=directory("results/{scale}/bytelm/models/toy/seed{seed}"),
        table="results/{scale}/bytelm/data/toy/seed{seed}/transitions.csv",
    log:
        "logs/{scale}/bytelm/train_toy/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/bytelm/train_toy/seed{seed}.tsv"
    retries: 1
    conda:
        "../envs/bytelm.yaml"
    threads: BYTELM.get("threads", 1)
    resources:
        gpu=gpu_count,
    params:
        toy=lookup(dpath="toy", within=BYTELM, default={}),
        checkpoint_dir=checkpoint_dir("bytelm", "toy/seed{seed}"),
        scale=SCALE,
    script:
        "../scripts/bytelm/train_toy.py"


rule bytelm_corpus:
    output:
        directory("results/{scale}/bytelm/data/corpus"),
    log:
        "logs/{scale}/bytelm/corpus.log",
    benchmark:
        "benchmarks/{scale}/bytelm/corpus.tsv"
    priority: 1
    conda:
        "../envs/bytelm.yaml"
    params:
        corpus=lookup(dpath="corpus", within=BYTELM, default={}),
    script:
        "../scripts/bytelm/corpus.py"


rule bytelm_train_code:
    input:
        corpus="results/{scale}/bytelm/data/corpus",
    output:
        directory("results/{scale}/bytelm/models/code/{member}/seed{seed}"),
    log:
        "logs/{scale}/bytelm/train_code/{member}/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/bytelm/train_code/{member}/seed{seed}.tsv"
    priority: 1
    retries: 1
    conda:
        "../envs/bytelm.yaml"
    threads: BYTELM.get("threads", 1)
    resources:
        gpu=gpu_count,
    params:
        member=bytelm_member_params,
        checkpoint_dir=checkpoint_dir("bytelm", "code/{member}/seed{seed}"),
    script:
        "../scripts/bytelm/train_code.py"


rule bytelm_evaluate_ensemble:
    input:
        corpus="results/{scale}/bytelm/data/corpus",
        models=bytelm_member_dirs,
    output:
        rows="results/{scale}/bytelm/data/ensemble/seed{seed}/documents.csv",
        records=[
            f"results/{{scale}}/bytelm/metrics/ensemble/{method}/seed{{seed}}.json"
            for method in bytelm_member_names() + ["ensemble"]
        ],
    log:
        "logs/{scale}/bytelm/evaluate_ensemble/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/bytelm/evaluate_ensemble/seed{seed}.tsv"
    priority: 1
    conda:
        "../envs/bytelm.yaml"
    threads: BYTELM.get("threads", 1)
    resources:
        gpu=gpu_count,
    params:
        members=bytelm_member_names,
        evaluate=lookup(dpath="ensemble/evaluate", within=BYTELM, default={}),
        scale=SCALE,
    script:
        "../scripts/bytelm/evaluate_ensemble.py"


rule bytelm_midtoken:
    input:
        model=bytelm_midtoken_model_dir,
        tasks=source_file("bytelm", "humaneval"),
    output:
        **bytelm_method_records("midtoken"),
        rows="results/{scale}/bytelm/data/midtoken/seed{seed}/completions.csv",
    log:
        "logs/{scale}/bytelm/midtoken/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/bytelm/midtoken/seed{seed}.tsv"
    priority: 2
    conda:
        "../envs/bytelm.yaml"
    threads: BYTELM.get("threads", 1)
    resources:
        gpu=gpu_count,
    params:
        midtoken={k: v for k, v in BYTELM.get("midtoken", {}).items() if k != "model"},
        scale=SCALE,
    script:
        "../scripts/bytelm/midtoken.py"


rule bytelm_fim:
    input:
        model=bytelm_fim_model_dir,
        tasks=bytelm_fim_tasks_file,
    output:
        **bytelm_method_records("fim"),
        rows="results/{scale}/bytelm/data/fim/seed{seed}/infills.csv",
    log:
        "logs/{scale}/bytelm/fim/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/bytelm/fim/seed{seed}.tsv"
    conda:
        "../envs/bytelm.yaml"
    threads: BYTELM.get("threads", 1)
    resources:
        gpu=gpu_count,
    params:
        fim=lookup(dpath="fim", within=BYTELM, default={}),
        scale=SCALE,
    script:
        "../scripts/bytelm/fim.py"


rule bytelm_fim_table:
    input:
        records=bytelm_fim_records,
    output:
        csv=report(
            "results/{scale}/bytelm/tables/fim.csv",
            caption="../report/bytelm_table_fim.rst",
            category="bytelm",
            labels={"table": "fill-in-the-middle (HumanEval infilling)"},
        ),
        md="results/{scale}/bytelm/tables/fim.md",
    log:
        "logs/{scale}/bytelm/fim_table.log",
    localrule: True
    conda:
        "../envs/bytelm.yaml"
    params:
        scale=SCALE,
    script:
        "../scripts/bytelm/fim_table.py"


rule bytelm_table:
    input:
        records=bytelm_records,
        oracle="results/{scale}/bytelm/data/oracle/bias_table.csv",
        toy=bytelm_toy_tables,
        references=references_path("bytelm"),
    output:
        bias_csv=report(
            "results/{scale}/bytelm/tables/tokenization_bias.csv",
            caption="../report/bytelm_table_bias.rst",
            category="bytelm",
            labels={"table": "tokenization bias (exact oracle)"},
        ),
        bias_md="results/{scale}/bytelm/tables/tokenization_bias.md",
        toy_csv=report(
            "results/{scale}/bytelm/tables/learned_toy.csv",
            caption="../report/bytelm_table_toy.rst",
            category="bytelm",
            labels={"table": "learned toy: error vs true transitions"},
        ),
        toy_md="results/{scale}/bytelm/tables/learned_toy.md",
        midtoken_csv=report(
            "results/{scale}/bytelm/tables/midtoken_completion.csv",
            caption="../report/bytelm_table_midtoken.rst",
            category="bytelm",
            labels={"table": "mid-token code completion"},
        ),
        midtoken_md="results/{scale}/bytelm/tables/midtoken_completion.md",
        ensemble_csv=report(
            "results/{scale}/bytelm/tables/ensemble.csv",
            caption="../report/bytelm_table_ensemble.rst",
            category="bytelm",
            labels={"table": "cross-vocabulary ensemble"},
        ),
        ensemble_md="results/{scale}/bytelm/tables/ensemble.md",
        toy_figure=report(
            "results/{scale}/bytelm/figures/learned_toy_error.png",
            caption="../report/bytelm_figure_toy.rst",
            category="bytelm",
            labels={
                "figure": "learned toy: estimated vs true next-byte probabilities"
            },
        ),
    log:
        "logs/{scale}/bytelm/table.log",
    benchmark:
        "benchmarks/{scale}/bytelm/table.tsv"
    localrule: True
    conda:
        "../envs/bytelm.yaml"
    params:
        scale=SCALE,
    script:
        "../scripts/bytelm/table.py"


register_wing(
    "bytelm",
    records=bytelm_records,
    outputs=rules.bytelm_table.output
    + (rules.bytelm_fim_table.output if BYTELM.get("fim") else []),
)


rule bytelm:
    default_target: False
    input:
        wing_outputs("bytelm"),
