# Exact byte-level probabilities from tokenized LMs (Phan, Amos, Gat, Havasi, Muckley, Ullrich,
# ICLR 2025, arXiv 2410.09303).
# oracle (Markov sources, exact token LMs: the tokenization-bias table) ; toy (a tiny GPT-2 trained on
# tokenized Markov samples) ; ensemble (two tiny GPT-2s with different BPE vocabularies trained on the
# Python standard library) ; midtoken (HumanEval lines cut mid-token, completed by SmolLM2 at tiny, by
# a hub code LM at full) ; fim (full only: HumanEval infilling with the hub FIM code LM) -> table.


rule bytelm_download:
    output:
        data="resources/bytelm/{source}/{file}",
        manifest="resources/bytelm/{source}/{file}.manifest.json",
    log:
        "logs/bytelm/download/{source}/{file}.log",
    wildcard_constraints:
        file=r"[^/]+\.(gguf|gz|jsonl)",
    localrule: True
    conda:
        "../envs/bytelm.yaml"
    params:
        source=bytelm_source_params,
    script:
        "../scripts/common/fetch_source.py"


rule bytelm_download_model:
    output:
        directory("resources/bytelm/hub/{model}"),
    log:
        "logs/bytelm/download/hub/{model}.log",
    localrule: True
    conda:
        "../envs/bytelm.yaml"
    params:
        hub_model=bytelm_hub_model,
        revision=bytelm_hub_revision,
    script:
        "../scripts/common/download_hub_model.py"


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
    priority: 1
    conda:
        "../envs/bytelm.yaml"
    script:
        "../scripts/bytelm/convert_smollm2.py"


rule bytelm_oracle:
    output:
        table="results/{scale}/bytelm/data/oracle/bias_table.csv",
        records=bytelm_oracle_records_pattern(),
    log:
        "logs/{scale}/bytelm/oracle.log",
    conda:
        "../envs/bytelm.yaml"
    params:
        oracle=bytelm_oracle_params,
        scale=SCALE,
    script:
        "../scripts/bytelm/oracle.py"


rule bytelm_train_toy:
    output:
        directory("results/{scale}/bytelm/models/toy/seed{seed}"),
    log:
        "logs/{scale}/bytelm/train_toy/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/bytelm/train_toy/seed{seed}.tsv"
    retries: 1
    conda:
        "../envs/bytelm.yaml"
    threads: bytelm_threads
    resources:
        gpu=gpu_count,
    params:
        toy=bytelm_toy_params,
        checkpoint_dir=bytelm_checkpoint_dir("toy"),
    script:
        "../scripts/bytelm/train_toy.py"


rule bytelm_evaluate_toy:
    input:
        model="results/{scale}/bytelm/models/toy/seed{seed}",
    output:
        table="results/{scale}/bytelm/data/toy/seed{seed}/transitions.csv",
        naive="results/{scale}/bytelm/metrics/toy/naive/seed{seed}.json",
        token_healing="results/{scale}/bytelm/metrics/toy/token_healing/seed{seed}.json",
        byte_level="results/{scale}/bytelm/metrics/toy/byte_level/seed{seed}.json",
    log:
        "logs/{scale}/bytelm/evaluate_toy/seed{seed}.log",
    conda:
        "../envs/bytelm.yaml"
    threads: bytelm_threads
    params:
        toy=bytelm_toy_params,
        scale=SCALE,
    script:
        "../scripts/bytelm/evaluate_toy.py"


rule bytelm_corpus:
    output:
        directory("results/{scale}/bytelm/data/corpus"),
    log:
        "logs/{scale}/bytelm/corpus.log",
    conda:
        "../envs/bytelm.yaml"
    params:
        corpus=bytelm_corpus_params,
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
    retries: 1
    conda:
        "../envs/bytelm.yaml"
    threads: bytelm_threads
    resources:
        gpu=gpu_count,
    params:
        member=bytelm_member_params,
        checkpoint_dir=bytelm_code_checkpoint_dir,
    script:
        "../scripts/bytelm/train_code.py"


rule bytelm_evaluate_ensemble:
    input:
        corpus="results/{scale}/bytelm/data/corpus",
        models=bytelm_member_dirs,
    output:
        rows="results/{scale}/bytelm/data/ensemble/seed{seed}/documents.csv",
        records=bytelm_ensemble_records_pattern(),
    log:
        "logs/{scale}/bytelm/evaluate_ensemble/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/bytelm/evaluate_ensemble/seed{seed}.tsv"
    conda:
        "../envs/bytelm.yaml"
    threads: bytelm_threads
    resources:
        gpu=gpu_count,
    params:
        members=bytelm_member_names,
        evaluate=bytelm_ensemble_evaluate_params,
        scale=SCALE,
    script:
        "../scripts/bytelm/evaluate_ensemble.py"


rule bytelm_midtoken:
    input:
        model=bytelm_midtoken_model_dir,
        tasks=bytelm_humaneval_file,
    output:
        rows="results/{scale}/bytelm/data/midtoken/seed{seed}/completions.csv",
        naive="results/{scale}/bytelm/metrics/midtoken/naive/seed{seed}.json",
        token_healing="results/{scale}/bytelm/metrics/midtoken/token_healing/seed{seed}.json",
        byte_level="results/{scale}/bytelm/metrics/midtoken/byte_level/seed{seed}.json",
    log:
        "logs/{scale}/bytelm/midtoken/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/bytelm/midtoken/seed{seed}.tsv"
    priority: 1
    conda:
        "../envs/bytelm.yaml"
    threads: bytelm_threads
    resources:
        gpu=gpu_count,
    params:
        midtoken=bytelm_midtoken_params,
        scale=SCALE,
    script:
        "../scripts/bytelm/midtoken.py"


rule bytelm_fim:
    input:
        model=bytelm_fim_model_dir,
        tasks=bytelm_fim_tasks_file,
    output:
        rows="results/{scale}/bytelm/data/fim/seed{seed}/infills.csv",
        naive="results/{scale}/bytelm/metrics/fim/naive/seed{seed}.json",
        token_healing="results/{scale}/bytelm/metrics/fim/token_healing/seed{seed}.json",
        byte_level="results/{scale}/bytelm/metrics/fim/byte_level/seed{seed}.json",
    log:
        "logs/{scale}/bytelm/fim/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/bytelm/fim/seed{seed}.tsv"
    conda:
        "../envs/bytelm.yaml"
    threads: bytelm_threads
    resources:
        gpu=gpu_count,
    params:
        fim=bytelm_fim_params,
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
    localrule: True
    conda:
        "../envs/bytelm.yaml"
    params:
        scale=SCALE,
    script:
        "../scripts/bytelm/table.py"


rule bytelm:
    default_target: False
    input:
        paper_outputs("bytelm"),
