"""Rule taskmet_table: the decision-quality and RL tables beside the paper's numbers, and the figures
(steps.table)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.taskmet import steps

steps.table(
    records=list(snakemake.input.records),
    predictions=list(snakemake.input.predictions),
    references=snakemake.input.references,
    scale=snakemake.params.scale,
    outputs=dict(snakemake.output),
    log_path=snakemake.log[0],
    sources=dict(snakemake.params.sources),
)
