"""Snakemake adapter of rule bytelm_table: bytelm tables beside the paper's claims, and the learned-toy figure."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.bytelm import steps

steps.table(
    records=list(snakemake.input.records),
    oracle_table=snakemake.input.oracle,
    toy_tables=list(snakemake.input.toy),
    references=snakemake.input.references,
    scale=snakemake.params.scale,
    tables_dir=Path(snakemake.output.bias_csv).parent,
    figures_dir=Path(snakemake.output.toy_figure).parent,
    log_path=snakemake.log[0],
)
