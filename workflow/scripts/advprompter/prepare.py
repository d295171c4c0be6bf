"""Rule advprompter_prepare: the benign tiny world in AdvBench's CSV schema and its two LMs (steps.prepare)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.advprompter import steps

steps.prepare(
    world=dict(snakemake.params.world),
    models=dict(snakemake.params.models),
    seed=0,
    out_dir=snakemake.output[0],
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
