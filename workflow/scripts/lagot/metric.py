"""Rule lagot_metric: learn one dataset's metric from its snapshots (seed), resuming from checkpoints; then its
alignment with the true metric (steps.metric)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.lagot import steps

steps.metric(
    dataset=snakemake.wildcards.dataset,
    config=dict(snakemake.params.dataset),
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    data_npz=snakemake.input.data,
    out_model=snakemake.output.model,
    out_curve=snakemake.output.curve,
    out_field=snakemake.output.field,
    out_record=snakemake.output.record,
    ckpt_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
