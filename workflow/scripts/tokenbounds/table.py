"""Rule tokenbounds_table: the bounds table and the bound vs compressed size figure (steps.table)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.tokenbounds import steps

steps.table(
    records=list(snakemake.input.records),
    vocab_size=int(snakemake.params.vocab_size),
    out_csv=snakemake.output.csv,
    out_md=snakemake.output.md,
    out_figure=snakemake.output.figure,
    log_path=snakemake.log[0],
)
