"""Helpers of the lagot rules (workflow/rules/lagot.smk): its config, input functions, records."""

LAGOT = paper_config("lagot")


def lagot_experiments():
    return LAGOT.get("transport", {}).get("experiments", {})


def lagot_datasets():
    return LAGOT.get("metric", {}).get("datasets", {})


def lagot_snapshots_inputs(wildcards):
    """The downloaded snapshot file of a dataset (full scale); none where the snapshots are regenerated (tiny)."""
    source = lagot_datasets()[wildcards.dataset].get("source")
    return {"source": source_file("lagot", source)} if source else {}


def lagot_transport_files(pattern):
    """`pattern` formatted for every (experiment, seed) transport run at this scale; an experiment's own `seeds`
    replace the config's seeds (run_seeds, common.smk)."""
    return [
        pattern.format(scale=SCALE, experiment=experiment, seed=seed)
        for experiment, block in lagot_experiments().items()
        for seed in run_seeds(block)
    ]


def lagot_metric_files(pattern):
    """`pattern` formatted for every (dataset, seed) metric-learning run at this scale."""
    return [
        pattern.format(scale=SCALE, dataset=dataset, seed=seed)
        for dataset, block in lagot_datasets().items()
        for seed in run_seeds(block)
    ]


def lagot_records(wildcards=None):
    return lagot_transport_files(
        "results/{scale}/lagot/metrics/transport/{experiment}/seed{seed}.json"
    ) + lagot_metric_files(
        "results/{scale}/lagot/metrics/metric/{dataset}/seed{seed}.json"
    )


def lagot_paths(wildcards=None):
    return lagot_transport_files(
        "results/{scale}/lagot/models/transport/{experiment}/seed{seed}/paths.npz"
    )


def lagot_fields(wildcards=None):
    return lagot_metric_files(
        "results/{scale}/lagot/models/metric/{dataset}/seed{seed}/field.npz"
    )
