"""Snakemake adapter of rule ttg_world: draw the TTG world (cities, flights, hotels) from a seed."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.ttg import steps

steps.world(
    world=snakemake.params.world,
    out_cities=snakemake.output.cities,
    out_flights=snakemake.output.flights,
    out_hotels=snakemake.output.hotels,
    out_meta=snakemake.output.meta,
    log_path=snakemake.log[0],
)
