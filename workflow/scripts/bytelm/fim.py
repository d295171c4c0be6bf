"""Snakemake adapter of rule bytelm_fim: HumanEval infilling (FIM) by naive, token-healing and byte-level decoding
(full scale)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.bytelm import steps

steps.fim(
    model_dir=snakemake.input.model,
    tasks_path=snakemake.input.tasks,
    params=dict(snakemake.params.fim),
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    out_records={m: getattr(snakemake.output, m) for m in ("naive", "token_healing", "byte_level")},
    out_rows=snakemake.output.rows,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
