"""Config validation, scale selection and path helpers shared by every wing."""

import json
from pathlib import Path

import jsonschema
from snakemake.exceptions import WorkflowError
import yaml
from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

SCALE = config["scale"]
PAPERS = config["papers"]
SEEDS = config["seeds"]

# Wall-clock limits and GPU needs differ by scale; cluster specifics live in profiles/.
ON_GPU = SCALE == "full"


wildcard_constraints:
    scale=SCALE,
    seed=r"\d+",


def load_paper_config(paper):
    """Read config/<paper>.yaml, validate it against its schema, return the block for SCALE."""
    path = Path(config["paper_config_dir"]) / f"{paper}.yaml"
    if not path.exists():
        raise WorkflowError(
            f"{path}: missing; paper '{paper}' is listed in config 'papers'"
        )
    with open(path) as handle:
        try:
            paper_config = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise WorkflowError(f"{path}: not valid YAML: {error}")
    schema_path = Path(workflow.basedir) / "schemas" / f"{paper}.schema.yaml"
    with open(schema_path) as handle:
        schema = yaml.safe_load(handle)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(paper_config), key=lambda e: list(e.path))
    if errors:
        lines = [
            f"  {'.'.join(str(p) for p in error.path) or '<top>'}: {error.message}"
            for error in errors
        ]
        raise WorkflowError(f"{path}: invalid config\n" + "\n".join(lines))
    return paper_config[SCALE]


PAPER_CONFIG = {paper: load_paper_config(paper) for paper in PAPERS}


def references_path(paper):
    """The paper's reported numbers and claims."""
    return str(Path(config["references_dir"]) / f"{paper}.yaml")


def gpu_count(wildcards):
    """GPUs a training job asks for: one at full scale, none at tiny."""
    return 1 if ON_GPU else 0


def checkpoint_dir(paper, *parts):
    """Undeclared directory for resumable checkpoints (survives failed or killed jobs)."""
    return str(Path("results", SCALE, paper, "ckpt", *parts))


# ---------------------------------------------------------------- socm


def socm_setting(wildcards):
    return PAPER_CONFIG["socm"]["settings"][wildcards.setting]


def socm_problem(wildcards):
    return socm_setting(wildcards)["problem"]


def socm_train_params(wildcards):
    return socm_setting(wildcards)["train"]


def socm_warm_start_params(wildcards):
    return socm_train_params(wildcards)["warm_start"]


def socm_train_inputs(wildcards):
    """The problem, plus the fitted warm start where the setting has one (fitted once per seed)."""
    inputs = {"problem": f"results/{SCALE}/socm/data/{wildcards.setting}.npz"}
    if socm_train_params(wildcards).get("warm_start"):
        inputs["warm_start"] = (
            f"results/{SCALE}/socm/models/{wildcards.setting}/warm_start/seed{wildcards.seed}.pt"
        )
    return inputs


def socm_evaluate_params(wildcards):
    return socm_setting(wildcards)["evaluate"]


def socm_checkpoint_dir(wildcards):
    return checkpoint_dir(
        "socm", wildcards.setting, wildcards.method, f"seed{wildcards.seed}"
    )


def socm_runs():
    """(setting, method, seed) for every training run at this scale."""
    settings = PAPER_CONFIG.get("socm", {}).get("settings", {})
    return [
        (setting, method, seed)
        for setting, block in settings.items()
        for method in block["methods"]
        for seed in SEEDS
    ]


def socm_run_files(pattern):
    return [
        pattern.format(scale=SCALE, setting=setting, method=method, seed=seed)
        for setting, method, seed in socm_runs()
    ]


def socm_records(wildcards=None):
    return socm_run_files(
        "results/{scale}/socm/metrics/{setting}/{method}/seed{seed}.json"
    )


def socm_curves(wildcards=None):
    return socm_run_files(
        "results/{scale}/socm/models/{setting}/{method}/seed{seed}/curve.csv"
    )


# ---------------------------------------------------------------- ttg


def ttg_config():
    return PAPER_CONFIG.get("ttg", {})


def ttg_world_params(wildcards):
    return ttg_config()["world"]


def ttg_requests_params(wildcards):
    return ttg_config()["requests"]


def ttg_render_params(wildcards):
    return ttg_config()["render"]


def ttg_translator_params(wildcards):
    return ttg_config()["translator"]


def ttg_train_params(wildcards):
    """The training schedule; the curve runs train at least curve.min_steps optimizer steps."""
    train = dict(ttg_config()["train"])
    if wildcards.run != "translator":
        train["min_steps"] = ttg_config()["curve"].get("min_steps", 0)
    return train


def ttg_evaluate_params(wildcards):
    return ttg_config()["evaluate"]


def ttg_threads(step):
    """Threads (processes for the request solver) of one TTG step, from config/ttg.yaml."""
    return ttg_config().get("threads", {}).get(step, 1)


def ttg_gpu_count(wildcards):
    """GPUs of a translator job: none at tiny; at full, the translator's `gpus` (a 70B LLM needs several)."""
    return gpu_count(wildcards) * ttg_config().get("translator", {}).get("gpus", 1)


def ttg_hub_dir():
    """Local snapshot of the hub model (full scale), fetched by ttg_download_model."""
    model = ttg_config()["translator"]["hub_model"]
    return f"resources/ttg/hub/{'--'.join(Path(model).parts)}"


def ttg_hub_inputs():
    """The hub snapshot where the translator is a hub LLM; nothing for the tiny seq2seq."""
    if ttg_config().get("translator", {}).get("kind") == "hub_lora":
        return [ttg_hub_dir()]
    return []


def ttg_hub_model(wildcards):
    return ttg_config()["translator"]["hub_model"]


def ttg_hub_revision(wildcards):
    return ttg_config()["translator"].get("hub_revision", "main")


def ttg_runs():
    """Translator runs: "translator" on every training pair, "translator_n<N>" for the EM-vs-size curve."""
    cfg = ttg_config()
    if not cfg:
        return []
    total = cfg["requests"]["n_train"] * cfg["render"]["renders_per_request"]
    sizes = sorted(n for n in cfg["curve"]["train_pairs"] if n < total)
    return [f"translator_n{n}" for n in sizes] + ["translator"]


def ttg_run_pairs(wildcards):
    """Training pairs of a run: None (all) for the main translator."""
    run = wildcards.run
    return None if run == "translator" else int(run.removeprefix("translator_n"))


def ttg_method(wildcards):
    return wildcards.run


def ttg_decoded_methods():
    """Extra evaluation rows of the main translator: grammar-constrained decoding (seq2seq only)."""
    if ttg_config().get("translator", {}).get("kind") == "seq2seq":
        return ["translator_constrained"]
    return []


def ttg_solve(wildcards):
    """Only the main translator's translations are solved (cost ratio, latency); curve runs report EM."""
    return wildcards.run == "translator"


def ttg_priority(wildcards):
    """The main translator first: it is the longest job, the curve runs fill the other cores."""
    return 1 if wildcards.run == "translator" else 0


def ttg_checkpoint_dir(wildcards):
    return checkpoint_dir("ttg", wildcards.run, f"seed{wildcards.seed}")


def ttg_records(wildcards=None):
    runs = ttg_runs()
    if not runs:
        return []
    return [
        f"results/{SCALE}/ttg/metrics/{run}/seed{seed}/{experiment}.json"
        for run in runs + ttg_decoded_methods() + ["rule_parser"]
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


# ---------------------------------------------------------------- wfm

WFM_FAMILIES = ("gaussians", "clouds", "niches")
# The prepared data of each family: AnnData for Gaussians and niches, npz for point clouds.
WFM_DATA_EXT = {"gaussians": "h5ad", "clouds": "npz", "niches": "h5ad"}


def wfm_config():
    return PAPER_CONFIG.get("wfm", {})


def wfm_family(family):
    return wfm_config().get(family, {"experiments": {}, "methods": []})


def wfm_experiment(wildcards):
    return wfm_family(wildcards.family)["experiments"][wildcards.experiment]


def wfm_source_file(source):
    """The raw input of a source named in config/wfm.yaml, placed by wfm_download."""
    return f"resources/wfm/{source}/{wfm_config()['sources'][source]['file']}"


def wfm_source_params(wildcards):
    """The source block minus `file` (where it lands): url or package/resource, sha256."""
    block = dict(wfm_config()["sources"][wildcards.source])
    if block.pop("file") != wildcards.file:
        raise WorkflowError(
            f"config/wfm.yaml: sources.{wildcards.source}.file is not {wildcards.file!r}"
        )
    return block


def wfm_prepare_inputs(family):
    """The raw input of an experiment (none for synthetic data)."""

    def inputs(wildcards):
        source = wfm_family(family)["experiments"][wildcards.experiment]["source"]
        return {"source": wfm_source_file(source)} if source else {}

    return inputs


def wfm_data_params(family):
    def params(wildcards):
        return wfm_family(family)["experiments"][wildcards.experiment]["data"]

    return params


def wfm_data_file(wildcards):
    family = wildcards.family
    return f"results/{SCALE}/wfm/data/{family}/{wildcards.experiment}.{WFM_DATA_EXT[family]}"


def wfm_train_params(wildcards):
    return wfm_experiment(wildcards)["train"]


def wfm_evaluate_params(wildcards):
    return wfm_family(wildcards.family)["evaluate"]


def wfm_threads(wildcards=None):
    return wfm_config().get("threads", 1)


def wfm_checkpoint_dir(wildcards):
    return checkpoint_dir(
        "wfm",
        wildcards.family,
        wildcards.experiment,
        wildcards.method,
        f"seed{wildcards.seed}",
    )


def wfm_runs():
    """(family, experiment, method, seed) of every training run at this scale."""
    return [
        (family, experiment, method, seed)
        for family in WFM_FAMILIES
        for experiment in wfm_family(family)["experiments"]
        for method in wfm_family(family)["methods"]
        for seed in SEEDS
    ]


def wfm_run_files(pattern):
    return [
        pattern.format(
            scale=SCALE, family=family, experiment=experiment, method=method, seed=seed
        )
        for family, experiment, method, seed in wfm_runs()
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
        for experiment in wfm_family(family)["experiments"]
    ]


# Every scale runs all three families (the schema requires them), so the outputs are fixed.
WFM_TABLES = ("bw_vs_euclidean", "point_clouds", "niches")
WFM_FIGURES = (
    "generated_gaussians",
    "generated_clouds",
    "generated_niches",
    "training_curves",
)


# ---------------------------------------------------------------- bytelm

BYTELM_METHODS = ("naive", "token_healing", "byte_level")
# The exact-oracle tables: one per tokenizer of the Markov source (spec A5, A-T1).
BYTELM_ORACLE_EXPERIMENTS = ("oracle_mpe", "oracle_bpe")


def bytelm_config():
    return PAPER_CONFIG.get("bytelm", {})


def bytelm_threads(wildcards=None):
    return bytelm_config().get("threads", 1)


def bytelm_source_file(source):
    return f"resources/bytelm/{source}/{bytelm_config()['sources'][source]['file']}"


def bytelm_source_params(wildcards):
    block = dict(bytelm_config()["sources"][wildcards.source])
    if block.pop("file") != wildcards.file:
        raise WorkflowError(
            f"config/bytelm.yaml: sources.{wildcards.source}.file is not {wildcards.file!r}"
        )
    return block


def bytelm_humaneval_file(wildcards):
    return bytelm_source_file("humaneval")


def bytelm_model_block():
    return bytelm_config()["midtoken"]["model"]


def bytelm_gguf_file(wildcards):
    return bytelm_source_file(bytelm_model_block()["source"])


def bytelm_hub_dir():
    return f"resources/bytelm/hub/{'--'.join(Path(bytelm_model_block()['hub_model']).parts)}"


def bytelm_hub_model(wildcards):
    return bytelm_model_block()["hub_model"]


def bytelm_hub_revision(wildcards):
    return bytelm_model_block().get("hub_revision", "main")


def bytelm_midtoken_model_dir(wildcards):
    """SmolLM2 converted from the GGUF of its wheel (tiny), or a hub snapshot (full)."""
    if bytelm_model_block()["kind"] == "hub":
        return bytelm_hub_dir()
    return f"results/{SCALE}/bytelm/models/smollm2"


def bytelm_oracle_params(wildcards):
    return bytelm_config()["oracle"]


def bytelm_oracle_records_pattern():
    return [
        f"results/{{scale}}/bytelm/metrics/{experiment}/{method}/seed0.json"
        for experiment in BYTELM_ORACLE_EXPERIMENTS
        for method in BYTELM_METHODS
    ]


def bytelm_toy_params(wildcards):
    return bytelm_config()["toy"]


def bytelm_checkpoint_dir(name):
    def ckpt(wildcards):
        return checkpoint_dir("bytelm", name, f"seed{wildcards.seed}")

    return ckpt


def bytelm_code_checkpoint_dir(wildcards):
    return checkpoint_dir("bytelm", "code", wildcards.member, f"seed{wildcards.seed}")


def bytelm_corpus_params(wildcards):
    return bytelm_config()["corpus"]


def bytelm_member_names(wildcards=None):
    return list(bytelm_config().get("ensemble", {}).get("members", {}))


def bytelm_member_params(wildcards):
    ensemble = bytelm_config()["ensemble"]
    return {**ensemble["train"], **ensemble["members"][wildcards.member]}


def bytelm_member_dirs(wildcards):
    return [
        f"results/{SCALE}/bytelm/models/code/{member}/seed{wildcards.seed}"
        for member in bytelm_member_names()
    ]


def bytelm_ensemble_evaluate_params(wildcards):
    return bytelm_config()["ensemble"]["evaluate"]


def bytelm_ensemble_records_pattern():
    return [
        f"results/{{scale}}/bytelm/metrics/ensemble/{method}/seed{{seed}}.json"
        for method in bytelm_member_names() + ["ensemble"]
    ]


def bytelm_midtoken_params(wildcards):
    return {k: v for k, v in bytelm_config()["midtoken"].items() if k != "model"}


def bytelm_fim_config():
    """The FIM block (full scale), or None where the scale's model has no FIM tokens (tiny)."""
    return bytelm_config().get("fim")


def bytelm_fim_tasks_file(wildcards):
    """The HumanEval infilling benchmark named by fim.benchmark (sources.humaneval_infilling_<name>)."""
    source = f"humaneval_infilling_{bytelm_fim_config()['benchmark']}"
    if source not in bytelm_config()["sources"]:
        raise WorkflowError(
            f"config/bytelm.yaml: fim.benchmark needs a source sources.{source}"
        )
    return bytelm_source_file(source)


def bytelm_fim_model_dir(wildcards):
    """The FIM code LM: the hub snapshot of midtoken.model (SmolLM2 has no FIM tokens)."""
    if bytelm_model_block()["kind"] != "hub":
        raise WorkflowError(
            "config/bytelm.yaml: fim needs midtoken.model of kind 'hub' (a FIM code LM)"
        )
    return bytelm_hub_dir()


def bytelm_fim_params(wildcards):
    return bytelm_fim_config()


def bytelm_fim_records(wildcards=None):
    """One FIM record per method and seed, where fim is configured."""
    if not bytelm_fim_config():
        return []
    return [
        f"results/{SCALE}/bytelm/metrics/fim/{method}/seed{seed}.json"
        for seed in SEEDS
        for method in BYTELM_METHODS
    ]


def bytelm_fim_outputs():
    """The FIM table where fim is configured (full scale)."""
    if not bytelm_fim_config():
        return []
    return [f"results/{SCALE}/bytelm/tables/fim.{ext}" for ext in ("csv", "md")]


def bytelm_toy_tables(wildcards=None):
    return [
        f"results/{SCALE}/bytelm/data/toy/seed{seed}/transitions.csv" for seed in SEEDS
    ]


def bytelm_records(wildcards=None):
    if not bytelm_config():
        return []
    oracle = [path.format(scale=SCALE) for path in bytelm_oracle_records_pattern()]
    seeded = [
        f"results/{SCALE}/bytelm/metrics/{experiment}/{method}/seed{seed}.json"
        for seed in SEEDS
        for experiment, methods in (
            ("toy", BYTELM_METHODS),
            ("midtoken", BYTELM_METHODS),
            ("ensemble", bytelm_member_names() + ["ensemble"]),
        )
        for method in methods
    ]
    return oracle + seeded + bytelm_fim_records()


# ---------------------------------------------------------------- cross-paper

PAPER_RECORDS = {
    "socm": socm_records,
    "ttg": ttg_records,
    "wfm": wfm_records,
    "bytelm": bytelm_records,
}

PAPER_OUTPUTS = {
    "socm": [
        f"results/{SCALE}/socm/tables/{name}.{ext}"
        for name in ("control_l2_error", "time_per_iteration", "control_objective")
        for ext in ("csv", "md")
    ]
    + [
        f"results/{SCALE}/socm/figures/{name}.png"
        for name in ("control_l2_error", "normalized_iw_std")
    ],
    "ttg": [
        f"results/{SCALE}/ttg/tables/{name}.{ext}"
        for name in ("em_cost_ratio", "em_vs_train_size", "field_accuracy", "latency")
        for ext in ("csv", "md")
    ]
    + [
        f"results/{SCALE}/ttg/figures/{name}.png"
        for name in ("em_vs_train_size", "latency_hist", "training_curves")
    ],
    "wfm": [
        f"results/{SCALE}/wfm/tables/{name}.{ext}"
        for name in WFM_TABLES
        for ext in ("csv", "md")
    ]
    + [f"results/{SCALE}/wfm/figures/{name}.png" for name in WFM_FIGURES],
    "bytelm": [
        f"results/{SCALE}/bytelm/tables/{name}.{ext}"
        for name in (
            "tokenization_bias",
            "learned_toy",
            "midtoken_completion",
            "ensemble",
        )
        for ext in ("csv", "md")
    ]
    + [f"results/{SCALE}/bytelm/figures/learned_toy_error.png"]
    + bytelm_fim_outputs(),
}


def paper_outputs(paper):
    return PAPER_OUTPUTS[paper]


def all_records(wildcards=None):
    return [record for paper in PAPERS for record in PAPER_RECORDS[paper]()]


def all_references(wildcards=None):
    return [references_path(paper) for paper in PAPERS]


def final_outputs():
    """Every enabled paper's tables and figures, plus the cross-paper claims and summary."""
    outputs = [path for paper in PAPERS for path in paper_outputs(paper)]
    outputs += [
        f"results/{SCALE}/claims.md",
        f"results/{SCALE}/claims.json",
        f"results/{SCALE}/summary.md",
    ]
    return outputs
