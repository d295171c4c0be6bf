"""Rule socm_prepare: draw one SOCM problem and its reference control (steps.prepare)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.socm import steps

steps.prepare(
    setting=snakemake.wildcards.setting,
    problem=dict(snakemake.params.problem),
    out_npz=snakemake.output.problem,
    out_json=snakemake.output.summary,
    log_path=snakemake.log[0],
)
