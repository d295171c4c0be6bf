"""Rule oni_train: one APPO agent with its reward type, the LLM server inside the job (steps.train)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.oni import steps

steps.train(
    config=dict(snakemake.params.config),
    method=snakemake.wildcards.method,
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    out_record=snakemake.output.record,
    ckpt_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
