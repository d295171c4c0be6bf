"""Rule tokenbounds_prepare_openwebtext: the OpenWebText subsets as one token stream (steps.prepare_openwebtext)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.tokenbounds import steps

steps.prepare_openwebtext(
    subsets=list(snakemake.input.subsets),
    tokenizer_dir=snakemake.input.tokenizer,
    eot=snakemake.params.eot,
    out_dir=snakemake.output[0],
    log_path=snakemake.log[0],
)
