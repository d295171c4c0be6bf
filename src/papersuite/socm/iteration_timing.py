"""Seconds per training iteration of SOCM and the adjoint loss at the paper's quadratic OU easy setting on CPU.

The figure beside the paper's Table 1 (docs/papers/socm.md, "Speed against the original code"): one iteration
is train._iteration, i.e. simulate a batch, the method's loss, backward and one Adam step, as in training.
The methods alternate round by round (after one untimed warm-up iteration each), so that a slow spell of a
shared machine falls on both. Ẑ₀ is set to 1 instead of being estimated (it changes no iteration's cost).

CLI: ``python -m papersuite.socm.iteration_timing [--rounds 3] [--threads 1] ...`` prints one JSON object:
{"benchmark": "socm_iteration_timing", "setting", "device", "threads", "torch", "d", "N", "batch", "hdims",
"M_hdims", "rounds", "methods": {method: {"seconds_per_iteration": median, "seconds": [per round]}}}.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from typing import Any

import torch

from .metrics import initial_state
from .optimal_control import optimal_control_from_arrays
from .problems import make_problem, problem_arrays, problem_from_arrays
from .reference import build_reference
from .train import _build_run, _iteration, _resolve_train

__all__ = ["FULL_EASY_PROBLEM", "time_iterations", "main"]

# quadratic OU easy at full scale (config/socm.yaml, full.settings.ou_quadratic_easy.problem)
FULL_EASY_PROBLEM: dict[str, Any] = {
    "kind": "ou_quadratic",
    "d": 20,
    "T": 1.0,
    "lam": 1.0,
    "N": 50,
    "a": 0.2,
    "p": 0.2,
    "q": 0.1,
    "x0": None,
    "seed": 0,
}


def time_iterations(
    methods: Sequence[str] = ("SOCM", "adjoint"),
    rounds: int = 3,
    d: int = 20,
    N: int = 50,
    batch: int = 128,
    hdims: Sequence[int] = (256, 128, 64),
    M_hdims: Sequence[int] = (128, 128),
    threads: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Wall seconds of one training iteration per method and round on CPU (full scale by default, paper Table 1)."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    threads_before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        arrays = make_problem({**FULL_EASY_PROBLEM, "d": int(d), "N": int(N)})
        problem64 = problem_from_arrays(arrays, dtype=torch.float64)
        ref_arrays, _ = build_reference(problem64)
        problem = problem_from_arrays(problem_arrays(problem64))  # float32, as training loads it
        u_star = optimal_control_from_arrays(ref_arrays, problem.T)
        cfg = _resolve_train(
            {"iterations": rounds + 1, "batch": int(batch), "hdims": list(hdims), "M_hdims": list(M_hdims)}
        )
        runs, states = {}, {}
        for method in methods:
            runs[method] = _build_run(problem, u_star, method, cfg, [seed], "cpu")  # an ensemble of one (E=1)
            states[method] = [initial_state(1.0, 0.0)]
            _iteration(runs[method], method, cfg, states[method], 0, method == "adjoint")  # warm-up, untimed
        seconds: dict[str, list[float]] = {m: [] for m in methods}
        for r in range(rounds):
            for method in methods:
                (step,) = _iteration(runs[method], method, cfg, states[method], r + 1, method == "adjoint")
                seconds[method].append(step.seconds)
    finally:
        torch.set_num_threads(threads_before)
    return {
        "benchmark": "socm_iteration_timing",
        "setting": "ou_quadratic_easy",
        "device": "cpu",
        "threads": int(threads),
        "torch": torch.__version__,
        "d": int(d),
        "N": int(N),
        "batch": int(batch),
        "hdims": [int(h) for h in hdims],
        "M_hdims": [int(h) for h in M_hdims],
        "rounds": int(rounds),
        "methods": {m: {"seconds_per_iteration": statistics.median(s), "seconds": s} for m, s in seconds.items()},
    }


def _widths(text: str) -> list[int]:
    return [int(w) for w in text.split(",")]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse the command line, time the iterations, print the JSON object (and return it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="SOCM,adjoint", help="comma-separated methods")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--N", type=int, default=50)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--hdims", type=_widths, default=[256, 128, 64], help="e.g. 256,128,64")
    parser.add_argument("--M-hdims", type=_widths, default=[128, 128], help="e.g. 128,128")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    result = time_iterations(
        args.methods.split(","), args.rounds, args.d, args.N, args.batch, args.hdims, args.M_hdims, args.threads
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
