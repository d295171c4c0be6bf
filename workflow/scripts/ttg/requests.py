"""Snakemake adapter: sample feasible symbolic requests and their MILP optimum."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.ttg.sampling import generate_requests

requests = dict(snakemake.params.requests)
generate_requests(
    cities_path=snakemake.input.cities,
    flights_path=snakemake.input.flights,
    hotels_path=snakemake.input.hotels,
    meta_path=snakemake.input.meta,
    requests=requests,
    seed=requests["seed"],
    out_jsonl=snakemake.output.requests,
    out_summary=snakemake.output.summary,
    threads=snakemake.threads,
    log_path=snakemake.log[0],
)
