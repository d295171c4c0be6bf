"""Snakemake adapter: train one translator run, resuming from checkpoints."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.ttg.translator import train_translator

train_translator(
    train_jsonl=snakemake.input.pairs,
    model=dict(snakemake.params.translator),
    train=dict(snakemake.params.train),
    seed=int(snakemake.wildcards.seed),
    n_pairs=snakemake.params.n_pairs,
    out_dir=snakemake.output.model,
    out_curve_csv=snakemake.output.curve,
    ckpt_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
    hub_dir=snakemake.input.hub[0] if snakemake.input.hub else None,
)
