"""Helpers of the ttg rules (workflow/rules/ttg.smk): its config, input functions, records."""

TTG = paper_config("ttg")
# The generated world every step after ttg_world reads.
TTG_WORLD = {
    "cities": "results/{scale}/ttg/data/world/cities.parquet",
    "flights": "results/{scale}/ttg/data/world/flights.parquet",
    "hotels": "results/{scale}/ttg/data/world/hotels.parquet",
    "meta": "results/{scale}/ttg/data/world/world.json",
}
TTG_TEST_PAIRS = {
    "test_in": "results/{scale}/ttg/data/pairs/test_in.jsonl",
    "test_held": "results/{scale}/ttg/data/pairs/test_held.jsonl",
}


def ttg_threads(step):
    """Threads (processes for the request solver) of one TTG step, from config/ttg.yaml."""
    return TTG.get("threads", {}).get(step, 1)


def ttg_train_params(wildcards):
    """The training schedule; the curve runs train at least curve.min_steps optimizer steps."""
    train = dict(TTG["train"])
    if wildcards.run != "translator":
        train["min_steps"] = TTG["curve"].get("min_steps", 0)
    return train


def ttg_gpu_count(wildcards):
    """GPUs of a translator job: none at tiny; at full, the translator's `gpus` (a 70B LLM needs several)."""
    return gpu_count(wildcards) * TTG.get("translator", {}).get("gpus", 1)


def ttg_hub_inputs():
    """The hub snapshot where the translator is a hub LLM (full scale); nothing for the tiny seq2seq."""
    translator = TTG.get("translator", {})
    if translator.get("kind") == "hub_lora":
        return [
            hub_model_dir(
                "ttg", translator["hub_model"], translator.get("hub_revision", "main")
            )
        ]
    return []


def ttg_runs():
    """Translator runs: "translator" on every training pair, "translator_n<N>" for the EM-vs-size curve."""
    if not TTG:
        return []
    total = TTG["requests"]["n_train"] * TTG["render"]["renders_per_request"]
    sizes = sorted(n for n in TTG["curve"]["train_pairs"] if n < total)
    return [f"translator_n{n}" for n in sizes] + ["translator"]


def ttg_run_pairs(wildcards):
    """Training pairs of a run: None (all) for the main translator."""
    return (
        None
        if wildcards.run == "translator"
        else int(wildcards.run.removeprefix("translator_n"))
    )


def ttg_run_name(wildcards):
    """The run is the method of its evaluation rows."""
    return wildcards.run


def ttg_main_run(wildcards):
    """Only the main translator is solved (cost ratio, latency) and runs first (the longest job)."""
    return getattr(wildcards, "run", "translator") == "translator"


def ttg_decoded_methods():
    """Extra evaluation rows of the main translator: grammar-constrained decoding (seq2seq only)."""
    return (
        ["translator_constrained"]
        if TTG.get("translator", {}).get("kind") == "seq2seq"
        else []
    )


def ttg_records(wildcards=None):
    return [
        f"results/{SCALE}/ttg/metrics/{run}/seed{seed}/{experiment}.json"
        for run in (ttg_runs() + ttg_decoded_methods() + ["rule_parser"] if TTG else [])
        for seed in SEEDS
        for experiment in ("in_template", "held_out")
    ]


def ttg_predictions(wildcards=None):
    """Per-example outputs of the main translator (latency histogram)."""
    return [
        f"results/{SCALE}/ttg/predictions/translator/seed{seed}/{experiment}.jsonl"
        for seed in SEEDS
        for experiment in ("in_template", "held_out")
    ]


def ttg_curves(wildcards=None):
    return [
        f"results/{SCALE}/ttg/models/{run}/seed{seed}/curve.csv"
        for run in ttg_runs()
        for seed in SEEDS
    ]
