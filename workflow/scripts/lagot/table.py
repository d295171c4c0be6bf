"""Rule lagot_table: the transport and alignment tables and the obstacle and learned-metric figures (steps.table)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.lagot import steps

steps.table(
    records=list(snakemake.input.records),
    paths=list(snakemake.input.paths),
    fields=list(snakemake.input.fields),
    references=snakemake.input.references,
    scale=snakemake.params.scale,
    outputs=dict(snakemake.output),
    log_path=snakemake.log[0],
)
