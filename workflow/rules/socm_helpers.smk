"""Helpers of the socm rules (workflow/rules/socm.smk): its config, input functions, records."""

SOCM = paper_config("socm")


def socm_train_inputs(wildcards):
    """The problem, plus the fitted warm start where the setting has one (fitted once per seed)."""
    inputs = {"problem": f"results/{SCALE}/socm/data/{wildcards.setting}.npz"}
    if SOCM["settings"][wildcards.setting]["train"].get("warm_start"):
        inputs["warm_start"] = (
            f"results/{SCALE}/socm/models/{wildcards.setting}/warm_start/seed{wildcards.seed}.pt"
        )
    return inputs


def socm_run_files(pattern):
    """`pattern` formatted for every (setting, method, seed) training run at this scale (the setting's own
    `seeds` where it has them: run_seeds of common.smk)."""
    return [
        pattern.format(scale=SCALE, setting=setting, method=method, seed=seed)
        for setting, block in SOCM.get("settings", {}).items()
        for method in block["methods"]
        for seed in run_seeds(block)
    ]


def socm_records(wildcards=None):
    return socm_run_files(
        "results/{scale}/socm/metrics/{setting}/{method}/seed{seed}.json"
    )


def socm_curves(wildcards=None):
    return socm_run_files(
        "results/{scale}/socm/models/{setting}/{method}/seed{seed}/curve.csv"
    )
