"""Snakemake adapter of rule bytelm_evaluate_toy: naive vs token-healing vs byte-level error of the learned toy."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.bytelm import steps

steps.evaluate_toy(
    model_dir=snakemake.input.model,
    params=dict(snakemake.params.toy),
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    out_table=snakemake.output.table,
    out_records={m: getattr(snakemake.output, m) for m in ("naive", "token_healing", "byte_level")},
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
