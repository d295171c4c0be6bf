"""Snakemake adapter of rule wfm_evaluate: generate from one trained wfm run, score it, write its metrics
record."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.wfm import steps

steps.evaluate(
    family=snakemake.wildcards.family,
    data_path=snakemake.input.data,
    model_path=snakemake.input.model,
    experiment=snakemake.wildcards.experiment,
    method=snakemake.wildcards.method,
    evaluate=dict(snakemake.params.evaluate),
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    out_record=snakemake.output.record,
    out_samples=snakemake.output.samples,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
