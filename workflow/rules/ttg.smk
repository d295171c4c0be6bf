# To the Globe (TTG): language-driven guaranteed travel planning
# (Ju et al., EMNLP 2024 demo, arXiv 2410.16456).
# world (cities, flights, hotels) -> requests (feasible, with their MILP optimum) -> render (NL
# pairs, in-template and held-out-template test splits) -> train (the translator on every pair, and
# on subsets for the EM-vs-size curve) -> evaluate (records per split) -> table.
# The world is generated from a seed at both scales; at full scale the translator starts from a hub
# LLM that the shared download_model rule fetches on the login node.


include: "ttg_helpers.smk"


rule ttg_world:
    output:
        **TTG_WORLD,
    log:
        "logs/{scale}/ttg/world.log",
    conda:
        "../envs/ttg.yaml"
    params:
        world=lookup(dpath="world", within=TTG, default={}),
    script:
        "../scripts/ttg/world.py"


rule ttg_requests:
    input:
        **TTG_WORLD,
    output:
        requests="results/{scale}/ttg/data/requests.jsonl",
        summary="results/{scale}/ttg/data/requests.json",
    log:
        "logs/{scale}/ttg/requests.log",
    benchmark:
        "benchmarks/{scale}/ttg/requests.tsv"
    conda:
        "../envs/ttg.yaml"
    threads: ttg_threads("requests")
    params:
        requests=lookup(dpath="requests", within=TTG, default={}),
    script:
        "../scripts/ttg/requests.py"


rule ttg_render:
    input:
        requests="results/{scale}/ttg/data/requests.jsonl",
    output:
        train="results/{scale}/ttg/data/pairs/train.jsonl",
        test_in="results/{scale}/ttg/data/pairs/test_in.jsonl",
        test_held="results/{scale}/ttg/data/pairs/test_held.jsonl",
        summary="results/{scale}/ttg/data/pairs/render.json",
    log:
        "logs/{scale}/ttg/render.log",
    conda:
        "../envs/ttg.yaml"
    params:
        render=lookup(dpath="render", within=TTG, default={}),
    script:
        "../scripts/ttg/render.py"


rule ttg_train:
    input:
        pairs="results/{scale}/ttg/data/pairs/train.jsonl",
        hub=ttg_hub_inputs(),
    output:
        model=directory("results/{scale}/ttg/models/{run}/seed{seed}/translator"),
        curve="results/{scale}/ttg/models/{run}/seed{seed}/curve.csv",
    log:
        "logs/{scale}/ttg/train/{run}/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/ttg/train/{run}/seed{seed}.tsv"
    wildcard_constraints:
        run=r"translator(_n\d+)?",
    priority: ttg_main_run
    retries: 1
    conda:
        "../envs/ttg.yaml"
    threads: ttg_threads("train")
    resources:
        gpu=ttg_gpu_count,
    params:
        translator=lookup(dpath="translator", within=TTG, default={}),
        train=ttg_train_params,
        n_pairs=ttg_run_pairs,
        checkpoint_dir=checkpoint_dir("ttg", "{run}/seed{seed}"),
    script:
        "../scripts/ttg/train.py"


rule ttg_evaluate:
    input:
        **TTG_TEST_PAIRS,
        **TTG_WORLD,
        model="results/{scale}/ttg/models/{run}/seed{seed}/translator",
        hub=ttg_hub_inputs(),
    output:
        in_template="results/{scale}/ttg/metrics/{run}/seed{seed}/in_template.json",
        held_out="results/{scale}/ttg/metrics/{run}/seed{seed}/held_out.json",
        predictions_in="results/{scale}/ttg/predictions/{run}/seed{seed}/in_template.jsonl",
        predictions_held="results/{scale}/ttg/predictions/{run}/seed{seed}/held_out.jsonl",
    log:
        "logs/{scale}/ttg/evaluate/{run}/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/ttg/evaluate/{run}/seed{seed}.tsv"
    wildcard_constraints:
        run=r"translator(_n\d+)?",
    priority: ttg_main_run
    conda:
        "../envs/ttg.yaml"
    threads: ttg_threads("evaluate")
    resources:
        gpu=ttg_gpu_count,
    params:
        evaluate=lookup(dpath="evaluate", within=TTG, default={}),
        method=ttg_run_name,
        constrained=False,
        solve=ttg_main_run,
        scale=SCALE,
    script:
        "../scripts/ttg/evaluate.py"


use rule ttg_evaluate as ttg_evaluate_constrained with:
    input:
        **TTG_TEST_PAIRS,
        **TTG_WORLD,
        model="results/{scale}/ttg/models/translator/seed{seed}/translator",
    output:
        in_template="results/{scale}/ttg/metrics/translator_constrained/seed{seed}/in_template.json",
        held_out="results/{scale}/ttg/metrics/translator_constrained/seed{seed}/held_out.json",
        predictions_in="results/{scale}/ttg/predictions/translator_constrained/seed{seed}/in_template.jsonl",
        predictions_held="results/{scale}/ttg/predictions/translator_constrained/seed{seed}/held_out.jsonl",
    log:
        "logs/{scale}/ttg/evaluate/translator_constrained/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/ttg/evaluate/translator_constrained/seed{seed}.tsv"
    params:
        evaluate=lookup(dpath="evaluate", within=TTG, default={}),
        method="translator_constrained",
        constrained=True,
        solve=True,
        scale=SCALE,


rule ttg_evaluate_parser:
    input:
        **TTG_TEST_PAIRS,
        **TTG_WORLD,
    output:
        in_template="results/{scale}/ttg/metrics/rule_parser/seed{seed}/in_template.json",
        held_out="results/{scale}/ttg/metrics/rule_parser/seed{seed}/held_out.json",
        predictions_in="results/{scale}/ttg/predictions/rule_parser/seed{seed}/in_template.jsonl",
        predictions_held="results/{scale}/ttg/predictions/rule_parser/seed{seed}/held_out.jsonl",
    log:
        "logs/{scale}/ttg/evaluate/rule_parser/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/ttg/evaluate/rule_parser/seed{seed}.tsv"
    conda:
        "../envs/ttg.yaml"
    threads: 1
    params:
        evaluate=lookup(dpath="evaluate", within=TTG, default={}),
        scale=SCALE,
    script:
        "../scripts/ttg/evaluate_parser.py"


rule ttg_table:
    input:
        records=ttg_records,
        predictions=ttg_predictions,
        curves=ttg_curves,
        references=references_path("ttg"),
    output:
        main_csv=report(
            "results/{scale}/ttg/tables/em_cost_ratio.csv",
            caption="../report/ttg_table_main.rst",
            category="ttg",
            labels={"table": "exact match, cost ratio, latency"},
        ),
        main_md="results/{scale}/ttg/tables/em_cost_ratio.md",
        size_csv=report(
            "results/{scale}/ttg/tables/em_vs_train_size.csv",
            caption="../report/ttg_table_size.rst",
            category="ttg",
            labels={"table": "exact match vs training-set size"},
        ),
        size_md="results/{scale}/ttg/tables/em_vs_train_size.md",
        fields_csv=report(
            "results/{scale}/ttg/tables/field_accuracy.csv",
            caption="../report/ttg_table_fields.rst",
            category="ttg",
            labels={"table": "field accuracy"},
        ),
        fields_md="results/{scale}/ttg/tables/field_accuracy.md",
        latency_csv=report(
            "results/{scale}/ttg/tables/latency.csv",
            caption="../report/ttg_table_latency.rst",
            category="ttg",
            labels={"table": "latency per request"},
        ),
        latency_md="results/{scale}/ttg/tables/latency.md",
        size_figure=report(
            "results/{scale}/ttg/figures/em_vs_train_size.png",
            caption="../report/ttg_figure_size.rst",
            category="ttg",
            labels={"figure": "exact match vs training-set size"},
        ),
        latency_figure=report(
            "results/{scale}/ttg/figures/latency_hist.png",
            caption="../report/ttg_figure_latency.rst",
            category="ttg",
            labels={"figure": "latency histogram"},
        ),
        curves_figure=report(
            "results/{scale}/ttg/figures/training_curves.png",
            caption="../report/ttg_figure_curves.rst",
            category="ttg",
            labels={"figure": "translator training curves"},
        ),
    log:
        "logs/{scale}/ttg/table.log",
    localrule: True
    conda:
        "../envs/ttg.yaml"
    params:
        scale=SCALE,
    script:
        "../scripts/ttg/table.py"


register_wing("ttg", records=ttg_records, outputs=rules.ttg_table.output)


rule ttg:
    default_target: False
    input:
        wing_outputs("ttg"),
