"""Workflow entry points of socm: one function per rule `socm_<step>`, called by `workflow/scripts/socm/<step>.py`.

Each function imports the science modules inside its body, so a job imports only what its step uses.
The paper: Domingo-Enrich, Han, Amos, Bruna, Chen, "Stochastic Optimal Control Matching", NeurIPS 2024,
arXiv:2312.02027; what each step reproduces is described in docs/papers/socm.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["prepare", "warm_start", "train", "table"]


def prepare(
    *,
    setting: str,
    problem: Mapping[str, Any],
    out_npz: str | Path,
    out_json: str | Path,
    log_path: str | Path | None = None,
) -> None:
    """Draw one setting's problem and solve for its reference control (the paper's four settings and their
    ground truth: docs/papers/socm.md, "Settings" and "Reference solutions").

    Writes the problem (x0, A, σ, ω, κ, ν, … drawn from problem['seed']) and its reference solution on
    the training grid to out_npz, and a JSON summary (V(0,x0), F(0), …) to out_json.
    """
    import logging

    import numpy as np
    import torch

    from papersuite.core import io, runtime

    from .problems import make_problem, problem_arrays, problem_from_arrays
    from .reference import build_reference

    runtime.setup_logging(log_path)
    with runtime.Stopwatch() as watch:
        arrays = make_problem(problem)
        prob = problem_from_arrays(arrays, dtype=torch.float64)
        ref_arrays, summary = build_reference(prob, pde=problem.get("pde"))
        payload = {**problem_arrays(prob), **ref_arrays}
        # a file handle: np.savez would append ".npz" to a path
        with io.atomic_path(out_npz) as tmp, open(tmp, "wb") as fh:
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
    logging.getLogger("papersuite.socm.prepare").info(
        "prepared %s (%s, d=%d, N=%d): V(0,x0) = %.6f in %.2f s",
        *(setting, prob.kind, prob.d, prob.N, optimal_cost, watch.elapsed),
    )


def warm_start(
    *,
    problem_npz: str | Path,
    warm_start: Mapping[str, Any],
    seed: int,
    out_path: str | Path,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """Fit the Gaussian-path warm start of quadratic OU hard once per (setting, seed) and save its state_dict;
    every method's run of the setting loads it (the paper's main figure; docs/papers/socm.md, "Warm start")."""
    import torch

    from papersuite.core import io, runtime
    from papersuite.core.allocator import retain_freed_memory

    from .problems import load_problem
    from .warm_start import WARM_START_SEED_OFFSET, fit_gaussian_path

    retain_freed_memory()
    runtime.setup_logging(log_path)
    device = runtime.choose_device(threads)
    problem = load_problem(problem_npz, device=device)
    generator = torch.Generator(device=device).manual_seed(int(seed) + WARM_START_SEED_OFFSET)
    path = fit_gaussian_path(
        problem,
        int(warm_start["iterations"]),
        int(warm_start["batch"]),
        int(warm_start["knots"]),
        float(warm_start["lr"]),
        int(warm_start["time_points"]),
        generator,
    )
    state = {name: tensor.detach().cpu() for name, tensor in path.state_dict().items()}
    with io.atomic_path(out_path) as tmp:
        torch.save(state, tmp)


def train(
    *,
    problem_npz: str | Path,
    setting: str,
    method: str,
    train: Mapping[str, Any],
    seeds: list[int],
    evaluate: Mapping[str, Any],
    scale: str,
    out_model: str | Path,
    out_curve_csv: str | Path,
    out_record: str | Path,
    ckpt_dir: str | Path,
    threads: int = 1,
    log_path: str | Path | None = None,
    warm_start_paths: list[str | Path] | None = None,
) -> None:
    """Train every seed of one (setting, method) as one stacked ensemble with one of the eight losses the paper
    compares, resuming from checkpoints, then evaluate each member: writes the model file (all members), their
    EMA training curves and one record file of per-seed metrics records: Monte Carlo control objective beside the
    optimal cost V(0, x0), the L2 error and the curves' final values (the paper's main figure and Table 1;
    docs/papers/socm.md, "Methods", "Training and metrics" and "Jobs and ensembles")."""
    from papersuite.core.allocator import retain_freed_memory

    from .evaluate import evaluate_ensemble
    from .train import train_control

    retain_freed_memory()
    train_control(
        problem_npz,
        setting,
        method,
        train,
        seeds,
        out_model,
        out_curve_csv,
        ckpt_dir,
        threads=threads,
        log_path=log_path,
        warm_start_paths=warm_start_paths,
    )
    evaluate_ensemble(
        problem_npz,
        out_model,
        out_curve_csv,
        setting,
        method,
        evaluate,
        scale,
        out_record,
        threads=threads,
        log_path=log_path,
    )


def table(
    *,
    records: list,
    curves: list,
    references: Any,
    scale: str,
    tables_dir: str | Path,
    figures_dir: str | Path,
    log_path: str | Path | None = None,
) -> None:
    """Write the SOCM tables (final control L2 error with ranks, Table 1 timings beside the paper's, control
    objective) and figures (the paper's main figure of control L2 error curves; normalised importance-weight
    std), see docs/papers/socm.md, "Outputs"."""
    from .report import build_report

    build_report(records, curves, references, scale, tables_dir, figures_dir, log_path=log_path)
