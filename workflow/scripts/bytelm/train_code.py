"""Snakemake adapter: train one ensemble member (BPE + tiny GPT-2 on code, A-T4), resuming from checkpoints."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.bytelm.experiments import train_code_run

train_code_run(
    corpus_dir=snakemake.input.corpus,
    member=dict(snakemake.params.member),
    seed=int(snakemake.wildcards.seed),
    out_dir=snakemake.output[0],
    ckpt_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
