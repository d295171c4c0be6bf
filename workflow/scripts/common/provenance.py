"""Snakemake adapter: the stamp of the results directory (provenance.json)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.core import steps

steps.provenance(
    papers=list(snakemake.params.papers),
    scale=snakemake.params.scale,
    paper_config_dir=snakemake.params.paper_config_dir,
    out_json=snakemake.output[0],
    log_path=snakemake.log[0],
)
