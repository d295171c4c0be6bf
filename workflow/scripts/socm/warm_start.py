"""Rule socm_warm_start: fit the Gaussian-path warm start once per (setting, seed) (steps.warm_start)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.socm import steps

steps.warm_start(
    problem_npz=snakemake.input.problem,
    warm_start=dict(snakemake.params.warm_start),
    seed=int(snakemake.wildcards.seed),
    out_path=snakemake.output[0],
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
