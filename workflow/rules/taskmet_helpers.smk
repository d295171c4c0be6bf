"""Helpers of the taskmet rules (workflow/rules/taskmet.smk): its config, input functions, records."""

TASKMET = paper_config("taskmet")


def taskmet_tasks():
    return TASKMET.get("dfl", {}).get("tasks", {})


def taskmet_prepare_inputs(wildcards):
    """The raw input of a task (none for the generated ones: cubic, budget)."""
    source = taskmet_tasks()[wildcards.task].get("source")
    return {"source": source_file("taskmet", source)} if source else {}


def taskmet_dfl_files(pattern):
    """`pattern` formatted for every (task, method, seed) decision-focused run at this scale; a task's own
    `seeds` replace the config's seeds (run_seeds, common.smk)."""
    return [
        pattern.format(scale=SCALE, task=task, method=method, seed=seed)
        for task, block in taskmet_tasks().items()
        for method in TASKMET.get("dfl", {}).get("methods", [])
        for seed in run_seeds(block)
    ]


def taskmet_rl_files(pattern):
    """`pattern` formatted for every (agent, number of distractors, seed) CartPole run at this scale."""
    rl = TASKMET.get("rl", {})
    return [
        pattern.format(scale=SCALE, agent=agent, distractors=distractors, seed=seed)
        for agent in rl.get("agents", [])
        for distractors in rl.get("distractors", [])
        for seed in run_seeds(rl)
    ]


def taskmet_records(wildcards=None):
    return taskmet_dfl_files(
        "results/{scale}/taskmet/metrics/dfl/{task}/{method}/seed{seed}.json"
    ) + taskmet_rl_files(
        "results/{scale}/taskmet/metrics/rl/{agent}/D{distractors}/seed{seed}.json"
    )


def taskmet_predictions(wildcards=None):
    return taskmet_dfl_files(
        "results/{scale}/taskmet/predictions/{task}/{method}/seed{seed}.npz"
    )
