"""Snakemake adapter of rule ttg_evaluate_parser: the rule-based template parser through the same evaluation
(upper bound)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.ttg import steps

steps.evaluate_parser(
    test_in=snakemake.input.test_in,
    test_held=snakemake.input.test_held,
    cities=snakemake.input.cities,
    flights=snakemake.input.flights,
    hotels=snakemake.input.hotels,
    meta=snakemake.input.meta,
    evaluate=snakemake.params.evaluate,
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    out_in_template=snakemake.output.in_template,
    out_held_out=snakemake.output.held_out,
    out_predictions_in=snakemake.output.predictions_in,
    out_predictions_held=snakemake.output.predictions_held,
    log_path=snakemake.log[0],
)
