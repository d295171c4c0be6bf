"""Snakemake adapter of rule ttg_render: render every request as English (in-template and held-out-template
splits)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.ttg import steps

steps.render(
    requests_jsonl=snakemake.input.requests,
    render=snakemake.params.render,
    out_train=snakemake.output.train,
    out_test_in=snakemake.output.test_in,
    out_test_held=snakemake.output.test_held,
    out_summary=snakemake.output.summary,
    log_path=snakemake.log[0],
)
