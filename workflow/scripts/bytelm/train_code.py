"""Snakemake adapter of rule bytelm_train_code: train one ensemble member (BPE + tiny GPT-2 on code), resuming from
checkpoints."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.bytelm import steps

steps.train_code(
    corpus_dir=snakemake.input.corpus,
    member=dict(snakemake.params.member),
    seed=int(snakemake.wildcards.seed),
    out_dir=snakemake.output[0],
    ckpt_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
