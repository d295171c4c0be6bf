"""Snakemake adapter of rule bytelm_fim_table: the FIM table (method x metric) from the bytelm_fim records (full
scale)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.bytelm import steps

steps.fim_table(
    records=list(snakemake.input.records),
    scale=snakemake.params.scale,
    out_csv=snakemake.output.csv,
    out_md=snakemake.output.md,
    log_path=snakemake.log[0],
)
