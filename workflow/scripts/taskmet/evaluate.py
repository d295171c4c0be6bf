"""Rule taskmet_evaluate: normalised DQ and MSE of one trained predictor on the test instances (steps.evaluate)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.taskmet import steps

steps.evaluate(
    task=snakemake.wildcards.task,
    task_config=dict(snakemake.params.task),
    evaluate=dict(snakemake.params.evaluate),
    method=snakemake.wildcards.method,
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    data_npz=snakemake.input.data,
    model=snakemake.input.model,
    out_record=snakemake.output.record,
    out_predictions=snakemake.output.predictions,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
