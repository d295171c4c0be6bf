"""Snakemake adapter of rule ttg_requests: sample feasible symbolic requests and their MILP optimum."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.ttg import steps

steps.requests(
    cities=snakemake.input.cities,
    flights=snakemake.input.flights,
    hotels=snakemake.input.hotels,
    meta=snakemake.input.meta,
    requests=snakemake.params.requests,
    out_requests=snakemake.output.requests,
    out_summary=snakemake.output.summary,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
