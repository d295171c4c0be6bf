"""Snakemake adapter: check every enabled paper's claims against our metrics records."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.core import steps

steps.claims(
    records=list(snakemake.input.records),
    references=list(snakemake.input.references),
    scale=snakemake.params.scale,
    out_markdown=snakemake.output.markdown,
    out_json=snakemake.output.json,
    log_path=snakemake.log[0],
)
