"""Helpers of the wfm rules (workflow/rules/wfm.smk): its config, input functions, records."""

WFM = paper_config("wfm")
WFM_FAMILIES = ("gaussians", "clouds", "niches")
# The prepared data of each family: AnnData for Gaussians and niches, npz for point clouds.
WFM_DATA_EXT = {"gaussians": "h5ad", "clouds": "npz", "niches": "h5ad"}


def wfm_experiments(family):
    return WFM.get(family, {}).get("experiments", {})


def wfm_prepare_inputs(family):
    """The raw input of an experiment (none for synthetic data)."""

    def inputs(wildcards):
        source = wfm_experiments(family)[wildcards.experiment]["source"]
        return {"source": source_file("wfm", source)} if source else {}

    return inputs


def wfm_data_file(wildcards):
    family = wildcards.family
    return f"results/{SCALE}/wfm/data/{family}/{wildcards.experiment}.{WFM_DATA_EXT[family]}"


def wfm_run_files(pattern):
    """`pattern` formatted for every (family, experiment, method, seed) training run at this scale; an
    experiment's own `seeds` (config/wfm.yaml) replace the config's seeds (run_seeds, common.smk).
    """
    return [
        pattern.format(
            scale=SCALE, family=family, experiment=experiment, method=method, seed=seed
        )
        for family in WFM_FAMILIES
        for experiment, block in wfm_experiments(family).items()
        for method in WFM.get(family, {}).get("methods", [])
        for seed in run_seeds(block)
    ]


def wfm_records(wildcards=None):
    return wfm_run_files(
        "results/{scale}/wfm/metrics/{family}/{experiment}/{method}/seed{seed}.json"
    )


def wfm_samples(wildcards=None):
    return wfm_run_files(
        "results/{scale}/wfm/samples/{family}/{experiment}/{method}/seed{seed}.npz"
    )


def wfm_curves(wildcards=None):
    return wfm_run_files(
        "results/{scale}/wfm/models/{family}/{experiment}/{method}/seed{seed}/curve.csv"
    )


def wfm_data_files(wildcards=None):
    return [
        f"results/{SCALE}/wfm/data/{family}/{experiment}.{WFM_DATA_EXT[family]}"
        for family in WFM_FAMILIES
        for experiment in wfm_experiments(family)
    ]
