"""Rule advprompter_train: AdvPrompterTrain at one lambda and seed, evaluated before and after (steps.train)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.advprompter import steps

steps.train(
    experiment=snakemake.wildcards.experiment,
    lambda_val=float(snakemake.wildcards.lam),
    config=dict(snakemake.params.experiment_config),
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    data_dir=snakemake.input.data,
    out_record=snakemake.output.record,
    threads=snakemake.threads,
    ckpt_dir=snakemake.params.checkpoint_dir,
    log_path=snakemake.log[0],
)
