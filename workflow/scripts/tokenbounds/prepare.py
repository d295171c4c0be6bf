"""Rule tokenbounds_prepare: the stdlib corpus, its manifest, a byte-level BPE and the token stream
(steps.prepare)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.tokenbounds import steps

steps.prepare(
    corpus=dict(snakemake.params.corpus),
    seed=0,
    out_dir=snakemake.output[0],
    log_path=snakemake.log[0],
)
