"""Rule tokenbounds_ptq: a pretrained model quantized after training, coded and bounded (steps.ptq)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.tokenbounds import steps

steps.ptq(
    model=snakemake.wildcards.model,
    snapshot_dir=snakemake.input.snapshot,
    evaluate=dict(snakemake.params.evaluate),
    block_size=int(snakemake.params.block_size),
    seed=0,
    scale=snakemake.params.scale,
    data_dir=snakemake.input.data,
    out_record=snakemake.output.record,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
