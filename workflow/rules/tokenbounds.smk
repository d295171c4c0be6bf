# Token-level generalization bounds (Lotfi, Kuang, Amos, Goldblum, Finzi, Wilson, NeurIPS 2024).
# prepare (the stdlib corpus with its manifest, a byte-level BPE, the token stream) -> bound (per method and seed:
# train, quantize, arithmetic-code, token- and document-level bounds in one job) -> table (Table 1 shape, the bound
# vs compressed size figure). Full scale adds prepare_openwebtext (the downloaded corpus, GPT-2's tokenizer) -> ptq
# (each pretrained GPT-2 quantized after training, coded and bounded: the paper's Table 2 rows).


include: "tokenbounds_helpers.smk"


wildcard_constraints:
    corpus=r"stdlib|openwebtext",


rule tokenbounds_prepare:
    output:
        directory("results/{scale}/tokenbounds/data/stdlib"),
    log:
        "logs/{scale}/tokenbounds/prepare.log",
    conda:
        "../envs/tokenbounds.yaml"
    params:
        corpus=paper_config("tokenbounds", "corpus", default={}),
    script:
        "../scripts/tokenbounds/prepare.py"


rule tokenbounds_bound:
    input:
        data="results/{scale}/tokenbounds/data/{corpus}",
    output:
        record="results/{scale}/tokenbounds/metrics/{corpus}/{method}/seed{seed}.json",
    log:
        "logs/{scale}/tokenbounds/bound/{corpus}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/tokenbounds/bound/{corpus}/{method}/seed{seed}.tsv"
    retries: 1
    conda:
        "../envs/tokenbounds.yaml"
    threads: TOKENBOUNDS.get("threads", 1)
    resources:
        gpu=gpu_count,
    params:
        method=tokenbounds_method_config,
        scale=SCALE,
        checkpoint_dir=checkpoint_dir("tokenbounds", "{corpus}/{method}/seed{seed}"),
    script:
        "../scripts/tokenbounds/bound.py"


rule tokenbounds_prepare_openwebtext:
    input:
        unpack(tokenbounds_openwebtext_inputs),
    output:
        directory("results/{scale}/tokenbounds/data/openwebtext"),
    log:
        "logs/{scale}/tokenbounds/prepare_openwebtext.log",
    conda:
        "../envs/tokenbounds.yaml"
    params:
        eot=paper_config("tokenbounds", "pretrained", "eot", default=""),
    script:
        "../scripts/tokenbounds/prepare_openwebtext.py"


rule tokenbounds_ptq:
    input:
        data="results/{scale}/tokenbounds/data/openwebtext",
        snapshot=tokenbounds_ptq_snapshot,
    output:
        record="results/{scale}/tokenbounds/metrics/openwebtext_pretrained/{model}/seed0.json",
    log:
        "logs/{scale}/tokenbounds/ptq/{model}.log",
    benchmark:
        "benchmarks/{scale}/tokenbounds/ptq/{model}.tsv"
    conda:
        "../envs/tokenbounds.yaml"
    threads: TOKENBOUNDS.get("threads", 1)
    resources:
        gpu=gpu_count,
    params:
        evaluate=paper_config("tokenbounds", "pretrained", "evaluate", default={}),
        block_size=paper_config("tokenbounds", "pretrained", "block_size", default=0),
        scale=SCALE,
    script:
        "../scripts/tokenbounds/ptq.py"


rule tokenbounds_table:
    input:
        records=tokenbounds_records,
    output:
        csv=report(
            "results/{scale}/tokenbounds/tables/bounds.csv",
            caption="../report/tokenbounds_table_bounds.rst",
            category="tokenbounds",
            labels={"table": "token- and document-level bounds (Table 1 shape)"},
        ),
        md="results/{scale}/tokenbounds/tables/bounds.md",
        figure=report(
            "results/{scale}/tokenbounds/figures/bound_vs_size.png",
            caption="../report/tokenbounds_figure_bound_vs_size.rst",
            category="tokenbounds",
            labels={"figure": "BPD bound vs compressed size"},
        ),
    log:
        "logs/{scale}/tokenbounds/table.log",
    localrule: True
    conda:
        "../envs/tokenbounds.yaml"
    params:
        vocab_size=paper_config("tokenbounds", "corpus", "vocab_size", default=0),
    script:
        "../scripts/tokenbounds/table.py"


register_wing(
    "tokenbounds", records=tokenbounds_records, outputs=rules.tokenbounds_table.output
)


rule tokenbounds:
    default_target: False
    input:
        wing_outputs("tokenbounds"),
