"""Rule socm_train: train one (setting, method, seed) control, resuming from checkpoints (steps.train)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.socm import steps

steps.train(
    problem_npz=snakemake.input.problem,
    setting=snakemake.wildcards.setting,
    method=snakemake.wildcards.method,
    train=dict(snakemake.params.train),
    seed=int(snakemake.wildcards.seed),
    out_model=snakemake.output.model,
    out_curve_csv=snakemake.output.curve,
    ckpt_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
    warm_start_path=getattr(snakemake.input, "warm_start", None),
)
