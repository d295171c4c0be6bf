"""Helpers of the mfm rules (workflow/rules/mfm.smk): its config, input functions, records."""

MFM = paper_config("mfm")
MFM_FLOWS = ("fm", "cgfm", "mfm")


def mfm_experiments():
    return MFM.get("experiments", {})


def mfm_runs():
    """(experiment, method, seed) of every run at this scale: a method's own `seeds`, else its experiment's
    (run_seeds, common.smk)."""
    return [
        (experiment, method, seed)
        for experiment, block in mfm_experiments().items()
        for method, spec in block["methods"].items()
        for seed in spec.get("seeds", run_seeds(block))
    ]


def mfm_method_config(wildcards):
    """kind and parameters of one method: a flow's parameters are its experiment's `train` block updated by the
    method's own `params`; other kinds (icnn, trivial baselines) take only their own."""
    block = mfm_experiments()[wildcards.experiment]
    spec = block["methods"][wildcards.method]
    shared = block.get("train", {}) if spec["kind"] in MFM_FLOWS else {}
    return {"kind": spec["kind"], "params": {**shared, **spec.get("params", {})}}


def mfm_prepare_inputs(wildcards):
    """The raw input of an experiment's data: the pbmc68k file (screen), the converted organoid table (full), or
    nothing (letters, re-centring toy: generated)."""
    data = mfm_experiments()[wildcards.experiment]["data"]
    if data["kind"] == "screen":
        return {"source": source_file("mfm", data["source"])}
    if data["kind"] == "organoid":
        return {"source": f"results/{SCALE}/mfm/data/organoid_cells.parquet"}
    return {}


def mfm_files(pattern):
    return [
        pattern.format(scale=SCALE, experiment=e, method=m, seed=s)
        for e, m, s in mfm_runs()
    ]


def mfm_records(wildcards=None):
    return mfm_files(
        "results/{scale}/mfm/metrics/{experiment}/{method}/seed{seed}.json"
    )


def mfm_samples(wildcards=None):
    """The samples files of every run, keyed experiment/method/seedN (the figures read them)."""
    return {
        f"{e}/{m}/seed{s}": f"results/{SCALE}/mfm/models/{e}/{m}/seed{s}/samples.pt"
        for e, m, s in mfm_runs()
    }
