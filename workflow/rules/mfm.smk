# Meta Flow Matching (Atanackovic, Zhang, Amos, Blanchette, Lee, Bengio, Tong, Neklyudov, ICLR 2025).
# prepare (per experiment: the letters, the re-centring toy, the SEMI-SYNTHETIC pbmc68k screen at tiny or the
# organoid screen at full, each split into train / val / test populations) -> train (per experiment, method and
# seed: fit, then W1 / W2 / MMD / r per population in the same job) -> table (Tables 1-2 shape, letters and
# embedding figures). Full scale adds convert: the authors' pickle -> parquet once its sha256 matches config.


include: "mfm_helpers.smk"


rule mfm_convert:
    input:
        archive=source_file("mfm", "organoid"),
    output:
        "results/{scale}/mfm/data/organoid_cells.parquet",
    log:
        "logs/{scale}/mfm/convert.log",
    conda:
        "../envs/mfm.yaml"
    params:
        member=paper_config("mfm", "organoid", "member", default=""),
        sha256=paper_config("mfm", "organoid", "sha256", default=None),
    script:
        "../scripts/mfm/convert.py"


rule mfm_prepare:
    input:
        unpack(mfm_prepare_inputs),
    output:
        "results/{scale}/mfm/data/{experiment}.pt",
    log:
        "logs/{scale}/mfm/prepare/{experiment}.log",
    conda:
        "../envs/mfm.yaml"
    params:
        data=lookup(dpath="experiments/{experiment}/data", within=MFM),
    script:
        "../scripts/mfm/prepare.py"


rule mfm_train:
    input:
        data="results/{scale}/mfm/data/{experiment}.pt",
    output:
        record="results/{scale}/mfm/metrics/{experiment}/{method}/seed{seed}.json",
        samples="results/{scale}/mfm/models/{experiment}/{method}/seed{seed}/samples.pt",
    log:
        "logs/{scale}/mfm/train/{experiment}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/mfm/train/{experiment}/{method}/seed{seed}.tsv"
    retries: 1
    conda:
        "../envs/mfm.yaml"
    threads: MFM.get("threads", 1)
    resources:
        gpu=gpu_count,
    params:
        method=mfm_method_config,
        evaluate=paper_config("mfm", "evaluate", default={}),
        scale=SCALE,
        checkpoint_dir=checkpoint_dir("mfm", "{experiment}/{method}/seed{seed}"),
    script:
        "../scripts/mfm/train.py"


rule mfm_table:
    input:
        records=mfm_records,
        samples=lambda wildcards: list(mfm_samples().values()),
    output:
        csv=report(
            "results/{scale}/mfm/tables/populations.csv",
            caption="../report/mfm_table_populations.rst",
            category="mfm",
            labels={"table": "W1 / W2 / MMD / r per split (Tables 1-2)"},
        ),
        md="results/{scale}/mfm/tables/populations.md",
        letters=report(
            "results/{scale}/mfm/figures/letters.png",
            caption="../report/mfm_figure_letters.rst",
            category="mfm",
            labels={"figure": "generated vs true letters"},
        ),
        embedding=report(
            "results/{scale}/mfm/figures/embedding.png",
            caption="../report/mfm_figure_embedding.rst",
            category="mfm",
            labels={"figure": "PCA of the population embedding"},
        ),
    log:
        "logs/{scale}/mfm/table.log",
    localrule: True
    conda:
        "../envs/mfm.yaml"
    params:
        samples=mfm_samples,
        scale=SCALE,
    script:
        "../scripts/mfm/table.py"


register_wing("mfm", records=mfm_records, outputs=rules.mfm_table.output)


rule mfm:
    default_target: False
    input:
        wing_outputs("mfm"),
