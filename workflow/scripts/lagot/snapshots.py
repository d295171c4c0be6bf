"""Rule lagot_snapshots: one dataset's snapshots, regenerated from its true metric or read from the authors' file
(steps.snapshots)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.lagot import steps

steps.snapshots(
    dataset=snakemake.wildcards.dataset,
    snapshots=dict(snakemake.params.snapshots),
    source=getattr(snakemake.input, "source", None),
    out_npz=snakemake.output[0],
    log_path=snakemake.log[0],
)
