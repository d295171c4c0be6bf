"""What every wing shares: config loading and validation, scale, seeds, paths, GPUs, checkpoint
directories, the source helpers of the download rules (sources.smk), and the wing registry. A new wing adds
nothing here: its helpers, rules and registration live in workflow/rules/<id>.smk."""

from pathlib import Path

import jsonschema
import yaml
from snakemake.exceptions import WorkflowError
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
    paper="|".join(PAPERS),


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


def paper_config(paper, *keys, default=None):
    """config/<paper>.yaml at this scale, or the value under `keys` in it.

    A paper that is not enabled has an empty config, so its rules still parse; a missing key
    gives `default`. Wildcard-dependent values go through Snakemake's lookup(within=paper_config(id)).
    """
    value = PAPER_CONFIG.get(paper, {})
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def run_seeds(block):
    """The seeds one experiment trains: its own `seeds` list at this scale (for example three at tiny where
    runs take seconds, so that claims see the spread over seeds), else the config's `seeds`.
    """
    return block.get("seeds", SEEDS) if isinstance(block, dict) else SEEDS


def references_path(paper):
    """The paper's reported numbers and claims."""
    return str(Path(config["references_dir"]) / f"{paper}.yaml")


def gpu_count(wildcards):
    """GPUs a training job asks for: one at full scale, none at tiny."""
    return 1 if ON_GPU else 0


def checkpoint_dir(paper, run_pattern):
    """Input function: the undeclared checkpoint directory of one run, `run_pattern` with its wildcards.

    Undeclared, so it survives a failed, killed or preempted job, which then resumes.
    """

    def ckpt(wildcards):
        return str(
            Path(
                "results",
                SCALE,
                paper,
                "ckpt",
                run_pattern.format(**dict(wildcards.items())),
            )
        )

    return ckpt


def paper_env(wildcards):
    """The conda env of the paper a shared rule runs for."""
    return str(Path(workflow.basedir) / "envs" / f"{wildcards.paper}.yaml")


# ---------------------------------------------------------------- sources: raw data and hub models


def source_file(paper, source):
    """The raw input `sources.<source>` of config/<paper>.yaml, placed by the download rule."""
    return (
        f"resources/{paper}/{source}/{paper_config(paper, 'sources', source, 'file')}"
    )


def source_params(wildcards):
    """The source block minus `file` (where it lands): url or package/resource, sha256."""
    block = dict(paper_config(wildcards.paper, "sources", wildcards.source, default={}))
    if block.pop("file", None) != wildcards.file:
        raise WorkflowError(
            f"config/{wildcards.paper}.yaml: sources.{wildcards.source}.file is not {wildcards.file!r}"
        )
    return block


# Hub snapshots a wing asked for: (paper, directory name) -> (repo id, revision).
HUB_MODELS = {}


def hub_model_dir(paper, repo_id, revision="main"):
    """Local snapshot of a hub model (full scale), fetched by download_model on the login node."""
    name = "--".join(Path(repo_id).parts)
    HUB_MODELS[(paper, name)] = (repo_id, revision)
    return f"resources/{paper}/hub/{name}"


def hub_model_params(wildcards):
    return dict(
        zip(("repo_id", "revision"), HUB_MODELS[(wildcards.paper, wildcards.model)])
    )


# ---------------------------------------------------------------- the wing registry

# paper id -> {"records": input function of its metrics records, "outputs": its final files}
WINGS = {}


def register_wing(paper, records, outputs):
    """Declare a wing's metrics records (read by the claims) and final outputs, taken from its rules."""
    WINGS[paper] = {
        "records": records,
        "outputs": [path for out in outputs for path in expand(out, scale=SCALE)],
    }


def wing(paper):
    if paper not in WINGS:
        raise WorkflowError(
            f"config/config.yaml: paper '{paper}' has no registered wing; add workflow/rules/{paper}.smk "
            f"and its include: line in workflow/Snakefile (registered: {', '.join(sorted(WINGS))})"
        )
    return WINGS[paper]


def wing_outputs(paper):
    """A wing's tables and figures: the input of its `<id>` target rule."""
    return wing(paper)["outputs"] if paper in PAPERS else []


def all_records(wildcards=None):
    return [record for paper in PAPERS for record in wing(paper)["records"]()]


def all_references(wildcards=None):
    return [references_path(paper) for paper in PAPERS]


def all_outputs(wildcards=None):
    return [path for paper in PAPERS for path in wing(paper)["outputs"]]


def final_outputs():
    """Every enabled paper's tables and figures, plus the cross-paper claims, summary and stamp."""
    names = (
        "claims.md",
        "claims.json",
        "summary.md",
        "overview.html",
        "provenance.json",
    )
    return all_outputs() + [f"results/{SCALE}/{name}" for name in names]
