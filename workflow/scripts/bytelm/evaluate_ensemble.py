"""Snakemake adapter of rule bytelm_evaluate_ensemble: bits per byte of the members and of their byte-level ensemble."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.bytelm import steps

steps.evaluate_ensemble(
    corpus_dir=snakemake.input.corpus,
    model_dirs=list(snakemake.input.models),
    members=list(snakemake.params.members),
    params=dict(snakemake.params.evaluate),
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    out_rows=snakemake.output.rows,
    out_records=list(snakemake.output.records),
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
