"""Rule mfm_train: one method on one experiment and seed, resuming from checkpoints; then its metrics per split
(steps.train)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.mfm import steps

steps.train(
    experiment=snakemake.wildcards.experiment,
    method=snakemake.wildcards.method,
    config=dict(snakemake.params.method),
    evaluate=dict(snakemake.params.evaluate),
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    data_path=snakemake.input.data,
    out_record=snakemake.output.record,
    out_samples=snakemake.output.samples,
    ckpt_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
