"""Rule mfm_prepare: one experiment's train / val / test populations (steps.prepare)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.mfm import steps

steps.prepare(
    experiment=snakemake.wildcards.experiment,
    data=dict(snakemake.params.data),
    seed=int(snakemake.params.data["seed"]),
    source=snakemake.input.get("source"),
    out_data=snakemake.output[0],
    log_path=snakemake.log[0],
)
