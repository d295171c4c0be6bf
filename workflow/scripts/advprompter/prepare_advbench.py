"""Rule advprompter_prepare_advbench: AdvBench's split, the keyword list and the hub models of one target
(steps.prepare_advbench)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.advprompter import steps

steps.prepare_advbench(
    splits={split: snakemake.input[f"advbench_{split}"] for split in ("train", "validation", "test")},
    keywords=snakemake.input.refusal_keywords,
    prompter_dir=snakemake.input.prompter,
    target_dir=snakemake.input.target,
    target=snakemake.wildcards.target,
    template=list(snakemake.params.template),
    out_dir=snakemake.output[0],
    log_path=snakemake.log[0],
)
