"""Snakemake adapter of rule ttg_train: train one translator run, resuming from checkpoints."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.ttg import steps

steps.train(
    pairs=snakemake.input.pairs,
    translator=snakemake.params.translator,
    train=snakemake.params.train,
    seed=int(snakemake.wildcards.seed),
    n_pairs=snakemake.params.n_pairs,
    out_model=snakemake.output.model,
    out_curve=snakemake.output.curve,
    checkpoint_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
    hub_dir=snakemake.input.hub[0] if snakemake.input.hub else None,
)
