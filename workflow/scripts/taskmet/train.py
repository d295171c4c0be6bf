"""Rule taskmet_train: train one (task, method, seed) predictor, and TaskMet's metric, resuming from checkpoints; then
its test metrics record and predictions (steps.train)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.taskmet import steps

steps.train(
    task=snakemake.wildcards.task,
    task_config=dict(snakemake.params.task),
    train=dict(snakemake.params.train),
    evaluate=dict(snakemake.params.evaluate),
    method=snakemake.wildcards.method,
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    data_npz=snakemake.input.data,
    out_model=snakemake.output.model,
    out_curve=snakemake.output.curve,
    out_record=snakemake.output.record,
    out_predictions=snakemake.output.predictions,
    ckpt_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
