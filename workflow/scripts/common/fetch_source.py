"""Snakemake adapter of every <id>_download rule: place one raw input (a file shipped in an installed
package, or a checksummed download) and write its manifest."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.core.download import fetch_source

fetch_source(
    source=dict(snakemake.params.source),
    dest=snakemake.output.data,
    manifest=snakemake.output.manifest,
    log_path=snakemake.log[0],
)
