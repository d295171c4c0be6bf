"""Snakemake adapter of rule wfm_train: train one wfm (family, experiment, method, seed) run, resuming from
checkpoints."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.wfm import steps

steps.train(
    family=snakemake.wildcards.family,
    data_path=snakemake.input.data,
    method=snakemake.wildcards.method,
    train=dict(snakemake.params.train),
    seed=int(snakemake.wildcards.seed),
    out_model=snakemake.output.model,
    out_curve=snakemake.output.curve,
    ckpt_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
