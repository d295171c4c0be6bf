"""Rule socm_train: train every seed of one (setting, method) as one ensemble, resuming from checkpoints, and
evaluate each member (steps.train)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.socm import steps

warm_starts = getattr(snakemake.input, "warm_starts", None)
steps.train(
    problem_npz=snakemake.input.problem,
    setting=snakemake.wildcards.setting,
    method=snakemake.wildcards.method,
    train=dict(snakemake.params.train),
    seeds=list(snakemake.params.seeds),
    evaluate=dict(snakemake.params.evaluate),
    scale=snakemake.params.scale,
    out_model=snakemake.output.model,
    out_curve_csv=snakemake.output.curve,
    out_record=snakemake.output.record,
    ckpt_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
    warm_start_paths=None if warm_starts is None else list(warm_starts),
)
