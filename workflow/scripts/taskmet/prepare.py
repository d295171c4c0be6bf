"""Rule taskmet_prepare: one task's train/val/test instances (steps.prepare)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.taskmet import steps

steps.prepare(
    task=snakemake.wildcards.task,
    data=dict(snakemake.params.data),
    source=snakemake.input.get("source"),
    out_npz=snakemake.output[0],
    log_path=snakemake.log[0],
)
