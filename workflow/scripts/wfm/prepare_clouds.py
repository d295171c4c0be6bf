"""Snakemake adapter of rule wfm_prepare_clouds: build one wfm data set of point clouds (.npz)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.wfm import steps

steps.prepare_clouds(
    out_path=snakemake.output[0],
    params=dict(snakemake.params.data),
    source=getattr(snakemake.input, "source", None),
    log_path=snakemake.log[0],
)
