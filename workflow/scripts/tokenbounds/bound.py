"""Rule tokenbounds_bound: train one parametrization, compress it, bound it (steps.bound)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.tokenbounds import steps

steps.bound(
    experiment=snakemake.wildcards.corpus,
    method=snakemake.wildcards.method,
    config=dict(snakemake.params.method),
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    data_dir=snakemake.input.data,
    out_record=snakemake.output.record,
    ckpt_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
