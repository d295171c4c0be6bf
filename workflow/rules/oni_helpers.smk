"""Helpers of the oni rules (workflow/rules/oni.smk): its config, the runs, the records."""

ONI = paper_config("oni")


def oni_runs():
    """(method, seed) of every run at this scale (run_seeds, common.smk)."""
    block = ONI.get("experiment", {})
    return [
        (method, seed)
        for method in block.get("methods", {})
        for seed in run_seeds(block)
    ]


def oni_task():
    """The task every run trains on at this scale (config `env.task`)."""
    return ONI.get("experiment", {}).get("env", {}).get("task", "none")


def oni_records(wildcards=None):
    return [
        f"results/{SCALE}/oni/metrics/{oni_task()}/{method}/seed{seed}.json"
        for method, seed in oni_runs()
    ]
