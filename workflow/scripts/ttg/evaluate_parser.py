"""Snakemake adapter: the rule-based template parser through the same evaluation (upper bound)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.ttg.evaluate import evaluate

evaluate(
    method="rule_parser",
    test_files={"test_in": snakemake.input.test_in, "test_held": snakemake.input.test_held},
    cities_path=snakemake.input.cities,
    flights_path=snakemake.input.flights,
    hotels_path=snakemake.input.hotels,
    meta_path=snakemake.input.meta,
    seed=int(snakemake.wildcards.seed),
    scale=snakemake.params.scale,
    out_records={"test_in": snakemake.output.in_template, "test_held": snakemake.output.held_out},
    out_predictions={"test_in": snakemake.output.predictions_in, "test_held": snakemake.output.predictions_held},
    solve_plans=True,
    latency_samples=snakemake.params.evaluate["latency_samples"],
    config=dict(snakemake.params.evaluate),
    log_path=snakemake.log[0],
)
