"""Rule taskmet_rl: one CartPole-with-distractors run of one agent, trained and evaluated (steps.rl)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.taskmet import steps

steps.rl(
    agent=snakemake.wildcards.agent,
    distractors=int(snakemake.wildcards.distractors),
    rl=dict(snakemake.params.rl),
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    out_record=snakemake.output.record,
    out_curve=snakemake.output.curve,
    ckpt_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
