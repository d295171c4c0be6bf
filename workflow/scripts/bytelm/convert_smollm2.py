"""Snakemake adapter: SmolLM2-135M-Instruct from its wheel's GGUF to a safetensors model directory (A-T3)."""

import sys
from pathlib import Path

# This checkout's code, also inside a conda env that holds only the dependencies.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from papersuite.bytelm.experiments import convert_smollm2_run

convert_smollm2_run(
    gguf=snakemake.input.gguf,
    out_dir=snakemake.output[0],
    log_path=snakemake.log[0],
)
