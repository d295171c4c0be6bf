"""Rule socm_table: SOCM tables beside the paper's numbers, and its figures (steps.table)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.socm import steps

steps.table(
    records=list(snakemake.input.records),
    curves=list(snakemake.input.curves),
    references=snakemake.input.references,
    scale=snakemake.params.scale,
    tables_dir=Path(snakemake.output.l2_csv).parent,
    figures_dir=Path(snakemake.output.l2_figure).parent,
    log_path=snakemake.log[0],
)
