"""Helpers of the tokenbounds rules (workflow/rules/tokenbounds.smk): its config, method configs, records."""

TOKENBOUNDS = paper_config("tokenbounds")


def tokenbounds_runs():
    """(method, seed) of every run at this scale (run_seeds, common.smk)."""
    block = TOKENBOUNDS.get("experiment", {})
    return [
        (method, seed)
        for method in block.get("methods", {})
        for seed in run_seeds(block)
    ]


def tokenbounds_method_config(wildcards):
    """kind, arch, train and evaluate of one method."""
    block = TOKENBOUNDS["experiment"]
    return {
        "kind": block["methods"][wildcards.method]["kind"],
        "arch": block["arch"],
        "train": block["train"],
        "evaluate": block["evaluate"],
    }


def tokenbounds_records(wildcards=None):
    return [
        f"results/{SCALE}/tokenbounds/metrics/stdlib/{method}/seed{seed}.json"
        for method, seed in tokenbounds_runs()
    ]
