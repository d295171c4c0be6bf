"""Snakemake adapter of rule wfm_train: train one wfm (family, experiment, method, seed) run, resuming from
checkpoints, then generate from it and score it (steps.train)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.wfm import steps

steps.train(
    family=snakemake.wildcards.family,
    data_path=snakemake.input.data,
    experiment=snakemake.wildcards.experiment,
    method=snakemake.wildcards.method,
    train=dict(snakemake.params.train),
    evaluate=dict(snakemake.params.evaluate),
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    out_model=snakemake.output.model,
    out_curve=snakemake.output.curve,
    out_record=snakemake.output.record,
    out_samples=snakemake.output.samples,
    ckpt_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
