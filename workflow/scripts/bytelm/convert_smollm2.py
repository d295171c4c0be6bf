"""Snakemake adapter of rule bytelm_convert_smollm2: SmolLM2-135M-Instruct from its wheel's GGUF to a safetensors
model directory (the mid-token model)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.bytelm import steps

steps.convert_smollm2(
    gguf=snakemake.input.gguf,
    out_dir=snakemake.output[0],
    log_path=snakemake.log[0],
)
