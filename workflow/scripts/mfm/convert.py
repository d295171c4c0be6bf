"""Rule mfm_convert: the organoid pickle inside the downloaded archive -> parquet, once its sha256 matches config
(steps.convert)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.mfm import steps

steps.convert(
    archive=snakemake.input.archive,
    member=snakemake.params.member,
    sha256=snakemake.params.sha256,
    out_parquet=snakemake.output[0],
    log_path=snakemake.log[0],
)
