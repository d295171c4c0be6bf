"""Snakemake adapter: fit the Gaussian-path warm start once per (setting, seed)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.socm.warm_start import fit_warm_start

fit_warm_start(
    problem_npz=snakemake.input.problem,
    warm_start=dict(snakemake.params.warm_start),
    seed=int(snakemake.wildcards.seed),
    out_path=snakemake.output[0],
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
