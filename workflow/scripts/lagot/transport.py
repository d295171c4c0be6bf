"""Rule lagot_transport: the neural dual of one (experiment, seed), resuming from checkpoints; then its marginal W2,
obstacle share and paths (steps.transport)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.lagot import steps

steps.transport(
    experiment=snakemake.wildcards.experiment,
    config=dict(snakemake.params.experiment),
    evaluate=dict(snakemake.params.evaluate),
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    out_model=snakemake.output.model,
    out_curve=snakemake.output.curve,
    out_paths=snakemake.output.paths,
    out_record=snakemake.output.record,
    ckpt_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
