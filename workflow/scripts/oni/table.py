"""Rule oni_table: the runs table, the return/success curves and the label table's size (steps.table)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.oni import steps

steps.table(
    records=list(snakemake.input.records),
    out_csv=snakemake.output.csv,
    out_md=snakemake.output.md,
    out_curves=snakemake.output.curves,
    out_labels=snakemake.output.labels,
    window=int(snakemake.params.window),
    log_path=snakemake.log[0],
)
