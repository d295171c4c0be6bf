"""Helpers of the socm rules (workflow/rules/socm.smk): its config, input functions, records."""

SOCM = paper_config("socm")


def socm_seeds(wildcards):
    """The seeds one socm_train job trains as one ensemble: the setting's own `seeds` (run_seeds of common.smk)."""
    return [int(seed) for seed in run_seeds(SOCM["settings"][wildcards.setting])]


def socm_train_inputs(wildcards):
    """The problem, plus the fitted warm start of every seed where the setting has one (fitted once per seed)."""
    inputs = {"problem": f"results/{SCALE}/socm/data/{wildcards.setting}.npz"}
    if SOCM["settings"][wildcards.setting]["train"].get("warm_start"):
        inputs["warm_starts"] = [
            f"results/{SCALE}/socm/models/{wildcards.setting}/warm_start/seed{seed}.pt"
            for seed in socm_seeds(wildcards)
        ]
    return inputs


def socm_run_files(pattern):
    """`pattern` formatted for every (setting, method) training job at this scale (one job trains the setting's
    seeds)."""
    return [
        pattern.format(scale=SCALE, setting=setting, method=method)
        for setting, block in SOCM.get("settings", {}).items()
        for method in block["methods"]
    ]


def socm_records(wildcards=None):
    return socm_run_files("results/{scale}/socm/metrics/{setting}/{method}.json")


def socm_curves(wildcards=None):
    return socm_run_files("results/{scale}/socm/models/{setting}/{method}/curve.csv")
