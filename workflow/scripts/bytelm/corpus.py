"""Snakemake adapter of rule bytelm_corpus: the Python standard library code corpus with its manifest
(cross-vocabulary ensemble data)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.bytelm import steps

steps.corpus(
    params=dict(snakemake.params.corpus),
    out_dir=snakemake.output[0],
    log_path=snakemake.log[0],
)
