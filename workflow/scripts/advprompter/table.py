"""Rule advprompter_table: Table 1's shape beside the paper's reprinted numbers, and ASR and perplexity vs lambda
(steps.table)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.advprompter import steps

steps.table(
    records=list(snakemake.input.records),
    references=snakemake.input.references,
    scale=snakemake.params.scale,
    out_csv=snakemake.output.csv,
    out_md=snakemake.output.md,
    out_figure=snakemake.output.figure,
    log_path=snakemake.log[0],
)
