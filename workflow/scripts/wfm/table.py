"""Snakemake adapter of rule wfm_table: wfm tables beside the paper's claims, and its figures."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.wfm import steps

steps.table(
    records=list(snakemake.input.records),
    samples=list(snakemake.input.samples),
    curves=list(snakemake.input.curves),
    data=list(snakemake.input.data),
    references=snakemake.input.references,
    scale=snakemake.params.scale,
    tables_dir=Path(snakemake.output.gaussians_csv).parent,
    figures_dir=Path(snakemake.output.gaussians_figure).parent,
    log_path=snakemake.log[0],
)
