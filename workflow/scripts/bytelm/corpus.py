"""Snakemake adapter: the Python standard library code corpus with its manifest (A-T4)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.bytelm.experiments import build_corpus_run

build_corpus_run(
    params=dict(snakemake.params.corpus),
    out_dir=snakemake.output[0],
    log_path=snakemake.log[0],
)
