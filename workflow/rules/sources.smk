# The rules every wing shares: its raw data (rule download: a file shipped in an installed package at
# tiny scale, a checksummed URL at full scale) and its hub models (rule download_model, full scale, on
# the login node). A wing names its sources in config/<id>.yaml `sources` and asks for them with
# source_file(id, name) or hub_model_dir(id, repo_id, revision) from common.smk.


rule download:
    output:
        data="resources/{paper}/{source}/{file}",
        manifest="resources/{paper}/{source}/{file}.manifest.json",
    log:
        "logs/{paper}/download/{source}/{file}.log",
    wildcard_constraints:
        source=r"(?!hub$)[^/]+",
        file=r"[^/]+\.(h5ad|npz|npy|zip|gz|gguf|jsonl|pt|csv|tar)",
    localrule: True
    conda:
        paper_env
    params:
        source=source_params,
    script:
        "../scripts/common/download.py"


rule download_model:
    output:
        directory("resources/{paper}/hub/{model}"),
    log:
        "logs/{paper}/download/hub/{model}.log",
    localrule: True
    conda:
        paper_env
    params:
        hub=hub_model_params,
    script:
        "../scripts/common/download_model.py"
