"""Snakemake adapter of rule bytelm_train_toy: train the learned toy (a tiny GPT-2 on tokenized Markov samples), then
score naive vs token-healing vs byte-level error against the true transitions, in one job."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.bytelm import steps

steps.train_toy(
    params=dict(snakemake.params.toy),
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    out_dir=snakemake.output.model,
    ckpt_dir=snakemake.params.checkpoint_dir,
    out_table=snakemake.output.table,
    out_records={m: getattr(snakemake.output, m) for m in ("naive", "token_healing", "byte_level")},
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
