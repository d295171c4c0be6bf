"""Helpers of the advprompter rules (workflow/rules/advprompter.smk): its config, runs, inputs, records."""

ADVPROMPTER = paper_config("advprompter")


def advprompter_runs():
    """(experiment, lambda, seed) of every run: tiny sweeps `lambdas` on the tiny world; full trains each hub target
    (experiment advbench_<target>) at its own lambda (run_seeds, common.smk)."""
    block = ADVPROMPTER.get("experiment", {})
    if "world" in ADVPROMPTER:
        pairs = [("tiny_world", lam) for lam in block.get("lambdas", [])]
    else:
        targets = ADVPROMPTER.get("hub", {}).get("targets", {})
        pairs = [(f"advbench_{name}", spec["lambda"]) for name, spec in targets.items()]
    return [
        (experiment, f"{lam:g}", seed)
        for experiment, lam in pairs
        for seed in run_seeds(block)
    ]


def advprompter_hub_dir(role):
    """The hub snapshot of the prompter or of one target (full scale), fetched by download_model."""
    hub = ADVPROMPTER["hub"]
    spec = hub["prompter"] if role == "prompter" else hub["targets"][role]
    return hub_model_dir("advprompter", spec["repo_id"], spec["revision"])


def advprompter_advbench_inputs(wildcards):
    """AdvBench's three splits, the keyword list, the prompter and this target's hub snapshots."""
    sources = {
        name: source_file("advprompter", name)
        for name in ADVPROMPTER.get("sources", {})
    }
    return {
        **sources,
        "prompter": advprompter_hub_dir("prompter"),
        "target": advprompter_hub_dir(wildcards.target),
    }


def advprompter_template(wildcards):
    """The target's prompt template pieces (the original's conf/target_llm/<name>.yaml), one holding {full_instruct}."""
    return ADVPROMPTER["hub"]["targets"][wildcards.target]["template"]


def advprompter_records(wildcards=None):
    return [
        f"results/{SCALE}/advprompter/metrics/{experiment}/lambda{lam}/seed{seed}.json"
        for experiment, lam, seed in advprompter_runs()
    ]
