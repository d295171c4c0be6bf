"""Snakemake adapter: the one-page summary for a reviewer."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.core import steps

steps.summary(
    papers=list(snakemake.params.papers),
    scale=snakemake.params.scale,
    claims_json=snakemake.input.claims,
    records=list(snakemake.input.records),
    outputs=list(snakemake.input.outputs),
    benchmarks_dir=snakemake.params.benchmarks_dir,
    out_markdown=snakemake.output.markdown,
    provenance_json=snakemake.input.provenance,
    out_html=snakemake.output.overview,
    log_path=snakemake.log[0],
)
