"""Snakemake adapter of rule bytelm_oracle: the exact tokenization-bias table and its records."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.bytelm import steps

steps.oracle(
    params=dict(snakemake.params.oracle),
    scale=snakemake.params.scale,
    out_table=snakemake.output.table,
    out_records=list(snakemake.output.records),
    log_path=snakemake.log[0],
)
