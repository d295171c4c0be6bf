"""Snakemake adapter of the shared `download_model` rule: fetch a hub model snapshot for a full-scale run
(login node, with internet)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.core import steps

steps.download_model(
    repo_id=snakemake.params.hub["repo_id"],
    revision=snakemake.params.hub["revision"],
    out_dir=snakemake.output[0],
    log_path=snakemake.log[0],
)
