"""Snakemake adapter of the <id>_download_model rules: fetch a hub model snapshot for a full-scale run
(login node, with internet)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.core.hub import download_hub_model

download_hub_model(
    repo_id=snakemake.params.hub_model,
    revision=snakemake.params.revision,
    out_dir=snakemake.output[0],
    log_path=snakemake.log[0],
)
