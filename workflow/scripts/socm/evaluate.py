"""Rule socm_evaluate: control objective and metrics record of one trained control (steps.evaluate)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.socm import steps

steps.evaluate(
    problem_npz=snakemake.input.problem,
    model=snakemake.input.model,
    curve_csv=snakemake.input.curve,
    setting=snakemake.wildcards.setting,
    method=snakemake.wildcards.method,
    evaluate=dict(snakemake.params.evaluate),
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    out_record=snakemake.output.record,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
