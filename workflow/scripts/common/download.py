"""Snakemake adapter of the shared `download` rule: place one raw input of a paper (a file shipped in an
installed package, or a checksummed download) and write its manifest."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.core import steps

steps.download(
    source=dict(snakemake.params.source),
    dest=snakemake.output.data,
    manifest=snakemake.output.manifest,
    log_path=snakemake.log[0],
)
