# Neural Optimal Transport with Lagrangian Costs (Pooladian, Domingo-Enrich, Chen, Amos, UAI 2024).
# Transport: transport (per experiment = geometry + data, and seed: the neural dual with c-transform amortization, the
# amortized spline geodesics where the cost is not closed-form; then the marginal W2 and the obstacle share of the
# paths, in the same job). Metric learning: snapshots (regenerated from the true metric at tiny, the authors' files at
# full) -> metric (per dataset and seed: the bilevel loop, then the alignment score). Then table (tables, figures).


include: "lagot_helpers.smk"


rule lagot_snapshots:
    input:
        unpack(lagot_snapshots_inputs),
    output:
        "results/{scale}/lagot/data/{dataset}.npz",
    log:
        "logs/{scale}/lagot/snapshots/{dataset}.log",
    conda:
        "../envs/lagot.yaml"
    params:
        snapshots=lookup(dpath="metric/datasets/{dataset}/snapshots", within=LAGOT),
    script:
        "../scripts/lagot/snapshots.py"


rule lagot_transport:
    output:
        model="results/{scale}/lagot/models/transport/{experiment}/seed{seed}/model.pt",
        curve="results/{scale}/lagot/models/transport/{experiment}/seed{seed}/curve.csv",
        paths="results/{scale}/lagot/models/transport/{experiment}/seed{seed}/paths.npz",
        record="results/{scale}/lagot/metrics/transport/{experiment}/seed{seed}.json",
    log:
        "logs/{scale}/lagot/transport/{experiment}/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/lagot/transport/{experiment}/seed{seed}.tsv"
    retries: 1
    conda:
        "../envs/lagot.yaml"
    threads: LAGOT.get("threads", 1)
    resources:
        gpu=gpu_count,
    params:
        experiment=lookup(dpath="transport/experiments/{experiment}", within=LAGOT),
        evaluate=paper_config("lagot", "transport", "evaluate", default={}),
        scale=SCALE,
        checkpoint_dir=checkpoint_dir("lagot", "transport/{experiment}/seed{seed}"),
    script:
        "../scripts/lagot/transport.py"


rule lagot_metric:
    input:
        data="results/{scale}/lagot/data/{dataset}.npz",
    output:
        model="results/{scale}/lagot/models/metric/{dataset}/seed{seed}/model.pt",
        curve="results/{scale}/lagot/models/metric/{dataset}/seed{seed}/curve.csv",
        field="results/{scale}/lagot/models/metric/{dataset}/seed{seed}/field.npz",
        record="results/{scale}/lagot/metrics/metric/{dataset}/seed{seed}.json",
    log:
        "logs/{scale}/lagot/metric/{dataset}/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/lagot/metric/{dataset}/seed{seed}.tsv"
    retries: 1
    conda:
        "../envs/lagot.yaml"
    threads: LAGOT.get("threads", 1)
    resources:
        gpu=gpu_count,
    params:
        dataset=lookup(dpath="metric/datasets/{dataset}", within=LAGOT),
        scale=SCALE,
        checkpoint_dir=checkpoint_dir("lagot", "metric/{dataset}/seed{seed}"),
    script:
        "../scripts/lagot/metric.py"


rule lagot_table:
    input:
        records=lagot_records,
        paths=lagot_paths,
        fields=lagot_fields,
        references=references_path("lagot"),
    output:
        transport_csv=report(
            "results/{scale}/lagot/tables/transport.csv",
            caption="../report/lagot_table_transport.rst",
            category="lagot",
            labels={"table": "marginal W2 and obstacle share per geometry"},
        ),
        transport_md="results/{scale}/lagot/tables/transport.md",
        alignment_csv=report(
            "results/{scale}/lagot/tables/alignment.csv",
            caption="../report/lagot_table_alignment.rst",
            category="lagot",
            labels={"table": "metric alignment (Table 2)"},
        ),
        alignment_md="results/{scale}/lagot/tables/alignment.md",
        obstacles_figure=report(
            "results/{scale}/lagot/figures/obstacles.png",
            caption="../report/lagot_figure_obstacles.rst",
            category="lagot",
            labels={"figure": "paths around obstacles (Figs 1-2)"},
        ),
        metric_figure=report(
            "results/{scale}/lagot/figures/learned_metric.png",
            caption="../report/lagot_figure_metric.rst",
            category="lagot",
            labels={"figure": "learned metric directions (Figs 3-4)"},
        ),
    log:
        "logs/{scale}/lagot/table.log",
    localrule: True
    conda:
        "../envs/lagot.yaml"
    params:
        scale=SCALE,
    script:
        "../scripts/lagot/table.py"


register_wing("lagot", records=lagot_records, outputs=rules.lagot_table.output)


rule lagot:
    default_target: False
    input:
        wing_outputs("lagot"),
