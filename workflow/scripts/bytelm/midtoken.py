"""Snakemake adapter of rule bytelm_midtoken: mid-token HumanEval completion by naive, token-healing and byte-level
decoding."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.bytelm import steps

steps.midtoken(
    model_dir=snakemake.input.model,
    tasks_path=snakemake.input.tasks,
    params=dict(snakemake.params.midtoken),
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    out_rows=snakemake.output.rows,
    out_records={m: getattr(snakemake.output, m) for m in ("naive", "token_healing", "byte_level")},
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
