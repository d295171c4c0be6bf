"""Snakemake adapter of rule ttg_table: TTG tables beside the paper's numbers, and its figures."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.ttg import steps

steps.table(
    records=snakemake.input.records,
    predictions=snakemake.input.predictions,
    curves=snakemake.input.curves,
    references=snakemake.input.references,
    scale=snakemake.params.scale,
    tables_dir=Path(snakemake.output.main_csv).parent,
    figures_dir=Path(snakemake.output.size_figure).parent,
    log_path=snakemake.log[0],
)
