"""Rule mfm_table: the populations table and the letters and embedding figures (steps.table)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.mfm import steps

steps.table(
    records_paths=list(snakemake.input.records),
    samples=dict(snakemake.params.samples),
    scale=snakemake.params.scale,
    out_csv=snakemake.output.csv,
    out_md=snakemake.output.md,
    out_letters_figure=snakemake.output.letters,
    out_embedding_figure=snakemake.output.embedding,
    log_path=snakemake.log[0],
)
