# Wasserstein Flow Matching (Haviv, Pooladian, Pe'er, Amos, ICML 2025, arXiv 2411.00698).
# download (the shared rule in common.smk: a package file at tiny, a checksummed URL at full) -> prepare (Gaussians and
# niches as .h5ad, point clouds as .npz) -> train (per family, experiment, method, seed: training, then the
# metrics record and generated samples in the same job) -> table (tables, figures).
# Families: gaussians (BW-FM vs Euclidean FM), clouds (point-cloud WFM), niches (conditional WFM).


include: "wfm_helpers.smk"


rule wfm_prepare_gaussians:
    input:
        unpack(wfm_prepare_inputs("gaussians")),
    output:
        "results/{scale}/wfm/data/gaussians/{experiment}.h5ad",
    log:
        "logs/{scale}/wfm/prepare/gaussians/{experiment}.log",
    conda:
        "../envs/wfm.yaml"
    params:
        data=lookup(dpath="gaussians/experiments/{experiment}/data", within=WFM),
    script:
        "../scripts/wfm/prepare_gaussians.py"


rule wfm_prepare_clouds:
    input:
        unpack(wfm_prepare_inputs("clouds")),
    output:
        "results/{scale}/wfm/data/clouds/{experiment}.npz",
    log:
        "logs/{scale}/wfm/prepare/clouds/{experiment}.log",
    conda:
        "../envs/wfm.yaml"
    params:
        data=lookup(dpath="clouds/experiments/{experiment}/data", within=WFM),
    script:
        "../scripts/wfm/prepare_clouds.py"


rule wfm_prepare_niches:
    input:
        unpack(wfm_prepare_inputs("niches")),
    output:
        "results/{scale}/wfm/data/niches/{experiment}.h5ad",
    log:
        "logs/{scale}/wfm/prepare/niches/{experiment}.log",
    conda:
        "../envs/wfm.yaml"
    params:
        data=lookup(dpath="niches/experiments/{experiment}/data", within=WFM),
    script:
        "../scripts/wfm/prepare_niches.py"


rule wfm_train:
    input:
        data=wfm_data_file,
    output:
        model="results/{scale}/wfm/models/{family}/{experiment}/{method}/seed{seed}/model.pt",
        curve="results/{scale}/wfm/models/{family}/{experiment}/{method}/seed{seed}/curve.csv",
        record="results/{scale}/wfm/metrics/{family}/{experiment}/{method}/seed{seed}.json",
        samples="results/{scale}/wfm/samples/{family}/{experiment}/{method}/seed{seed}.npz",
    log:
        "logs/{scale}/wfm/train/{family}/{experiment}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/wfm/train/{family}/{experiment}/{method}/seed{seed}.tsv"
    wildcard_constraints:
        family="|".join(WFM_FAMILIES),
    retries: 1
    conda:
        "../envs/wfm.yaml"
    threads: WFM.get("threads", 1)
    resources:
        gpu=gpu_count,
    params:
        train=lookup(dpath="{family}/experiments/{experiment}/train", within=WFM),
        evaluate=lookup(dpath="{family}/evaluate", within=WFM),
        scale=SCALE,
        checkpoint_dir=checkpoint_dir(
            "wfm", "{family}/{experiment}/{method}/seed{seed}"
        ),
    script:
        "../scripts/wfm/train.py"


rule wfm_table:
    input:
        records=wfm_records,
        samples=wfm_samples,
        curves=wfm_curves,
        data=wfm_data_files,
        references=references_path("wfm"),
    output:
        gaussians_csv=report(
            "results/{scale}/wfm/tables/bw_vs_euclidean.csv",
            caption="../report/wfm_table_gaussians.rst",
            category="wfm",
            labels={"table": "BW-FM vs Euclidean FM on Gaussians"},
        ),
        gaussians_md="results/{scale}/wfm/tables/bw_vs_euclidean.md",
        clouds_csv=report(
            "results/{scale}/wfm/tables/point_clouds.csv",
            caption="../report/wfm_table_clouds.rst",
            category="wfm",
            labels={"table": "point-cloud generation"},
        ),
        clouds_md="results/{scale}/wfm/tables/point_clouds.md",
        niches_csv=report(
            "results/{scale}/wfm/tables/niches.csv",
            caption="../report/wfm_table_niches.rst",
            category="wfm",
            labels={"table": "conditional niche generation"},
        ),
        niches_md="results/{scale}/wfm/tables/niches.md",
        gaussians_figure=report(
            "results/{scale}/wfm/figures/generated_gaussians.png",
            caption="../report/wfm_figure_gaussians.rst",
            category="wfm",
            labels={"figure": "generated Gaussians"},
        ),
        clouds_figure=report(
            "results/{scale}/wfm/figures/generated_clouds.png",
            caption="../report/wfm_figure_clouds.rst",
            category="wfm",
            labels={"figure": "generated point clouds"},
        ),
        niches_figure=report(
            "results/{scale}/wfm/figures/generated_niches.png",
            caption="../report/wfm_figure_niches.rst",
            category="wfm",
            labels={"figure": "generated niches"},
        ),
        curves_figure=report(
            "results/{scale}/wfm/figures/training_curves.png",
            caption="../report/wfm_figure_curves.rst",
            category="wfm",
            labels={"figure": "training curves"},
        ),
    log:
        "logs/{scale}/wfm/table.log",
    localrule: True
    conda:
        "../envs/wfm.yaml"
    params:
        scale=SCALE,
    script:
        "../scripts/wfm/table.py"


register_wing("wfm", records=wfm_records, outputs=rules.wfm_table.output)


rule wfm:
    default_target: False
    input:
        wing_outputs("wfm"),
