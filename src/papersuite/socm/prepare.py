"""Build one setting's problem arrays and reference solution (spec B2, B3) and write them to disk."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from papersuite.core import io, runtime

from .problems import make_problem, problem_arrays, problem_from_arrays
from .reference import build_reference

__all__ = ["prepare_problem"]

log = logging.getLogger("papersuite.socm.prepare")


def prepare_problem(
    setting: str,
    problem: Mapping[str, Any],
    out_npz: str | Path,
    out_json: str | Path,
    log_path: str | Path | None = None,
) -> None:
    """Write the problem (x0, A, σ, ω, κ, ν, … drawn from problem['seed']) and its reference solution
    on the training grid to out_npz, and a JSON summary (V(0,x0), F(0), …) to out_json."""
    runtime.setup_logging(log_path)
    with runtime.Stopwatch() as watch:
        arrays = make_problem(problem)
        prob = problem_from_arrays(arrays, dtype=torch.float64)
        ref_arrays, summary = build_reference(prob, pde=problem.get("pde"))
        payload = {**problem_arrays(prob), **ref_arrays}
        with io.atomic_path(out_npz) as tmp:
            with open(tmp, "wb") as fh:  # a file handle: np.savez would append ".npz" to a path
                np.savez(fh, **payload)
    optimal_cost = float(ref_arrays["ref_V0"])
    info = {
        "setting": setting,
        "kind": prob.kind,
        "d": prob.d,
        "N": prob.N,
        "T": prob.T,
        "lam": prob.lam,
        "x0": prob.x0.tolist(),
        "optimal_cost": optimal_cost,
        "seconds": watch.elapsed,
        **summary,
    }
    io.write_json(out_json, info)
    log.info(
        "prepared %s (%s, d=%d, N=%d): V(0,x0) = %.6f in %.2f s",
        setting,
        prob.kind,
        prob.d,
        prob.N,
        optimal_cost,
        watch.elapsed,
    )
