"""The four control problems of the SOCM paper (docs/papers/socm.md, "Settings"), vectorised over a batch.

Problem (paper Sec. 2): minimise E[∫_0^T (½|u|² + f(X_t)) dt + g(X_T)] subject to
dX = (b(X) + σu) dt + √λ σ dB, X_0 = x_0.

Every function takes states of shape (..., d) (e.g. (B, d) or (N+1, B, d)) and returns
(...,) for costs, (..., d) for drifts and gradients and (..., d, d) for the drift Jacobian
in the paper's transposed convention (∇b)_{ij} = ∂_i b_j.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "PROBLEM_KINDS",
    "RUNNING_COST_POINTS",
    "DRAW_GENERATORS",
    "ControlProblem",
    "make_problem",
    "problem_arrays",
    "problem_from_arrays",
    "load_problem",
]

PROBLEM_KINDS = ("ou_quadratic", "linear_ou", "double_well")
RUNNING_COST_POINTS = ("right", "left")  # f(X_{k+1}) (the original code) or f(X_k) in log α and the adjoint cost
DRAW_GENERATORS = ("torch", "numpy")  # x0 / ξ: torch.manual_seed(seed) on CPU (the original code) or numpy's PCG64


@dataclass(frozen=True)
class ControlProblem:
    """Drift, costs, noise and initial condition of one setting; all tensors on one device."""

    kind: str  # "ou_quadratic" | "linear_ou" | "double_well"
    d: int
    T: float
    lam: float  # λ, the noise level / temperature
    N: int  # Euler–Maruyama steps of the training grid
    x0: Tensor  # (d,)
    sigma: Tensor  # (d, d)
    A: Tensor | None = None  # (d, d) linear drift b = A x (OU settings)
    P: Tensor | None = None  # (d, d) running cost f = xᵀ P x (ou_quadratic)
    Q: Tensor | None = None  # (d, d) terminal cost g = xᵀ Q x (ou_quadratic)
    omega: Tensor | None = None  # (d,) terminal cost g = <ω, x> (linear_ou)
    kappa: Tensor | None = None  # (d,) double-well drift b = -∇Σ κ_i (x_i² - 1)²
    nu: Tensor | None = None  # (d,) double-well terminal cost g = Σ ν_i (x_i² - 1)²
    running_cost_point: str = "right"  # where f enters log α and the adjoint cost: X_{k+1} ("right") or X_k
    sigma_inv: Tensor = field(init=False)  # (d, d) σ^{-1}

    def __post_init__(self) -> None:
        if self.kind not in PROBLEM_KINDS:
            raise ValueError(f"unknown problem kind {self.kind!r}; expected one of {PROBLEM_KINDS}")
        if self.running_cost_point not in RUNNING_COST_POINTS:
            raise ValueError(
                f"running_cost_point must be one of {RUNNING_COST_POINTS}, got {self.running_cost_point!r}"
            )
        object.__setattr__(self, "sigma_inv", torch.linalg.inv(self.sigma))

    # ----------------------------------------------------------------- grid
    @property
    def dt(self) -> float:
        """Training time step T/N."""
        return self.T / self.N

    def time_grid(self, N: int | None = None) -> Tensor:
        """ts = linspace(0, T, N+1), the Euler–Maruyama grid, shape (N+1,)."""
        n = self.N if N is None else N
        return torch.linspace(0.0, self.T, n + 1, dtype=self.x0.dtype, device=self.x0.device)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> ControlProblem:
        """A copy with every tensor moved/cast."""
        changes = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.init and isinstance(v, Tensor):
                changes[f.name] = v.to(device=device, dtype=dtype)
        return replace(self, **changes)

    # ---------------------------------------------------------------- drift
    def drift(self, x: Tensor) -> Tensor:
        """b(x), (..., d) -> (..., d)."""
        if self.kind == "double_well":
            return -4.0 * self.kappa * x * (x**2 - 1.0)
        return x @ self.A.T

    def drift_jacobian(self, x: Tensor) -> Tensor:
        """(∇b)(x) with (∇b)_{ij} = ∂_i b_j, (..., d) -> (..., d, d)."""
        if self.kind == "double_well":
            return torch.diag_embed(-4.0 * self.kappa * (3.0 * x**2 - 1.0))
        return self.A.T.expand(*x.shape[:-1], self.d, self.d)

    def drift_jacobian_apply(self, x: Tensor, y: Tensor) -> Tensor:
        """(∇b)(x) y without forming the matrix where b is diagonal or linear, (..., d) -> (..., d)."""
        if self.kind == "double_well":
            return -4.0 * self.kappa * (3.0 * x**2 - 1.0) * y
        return y @ self.A  # Σ_j (∇b)_{ij} y_j = Σ_j A_{ji} y_j

    # ---------------------------------------------------------------- costs
    def running_cost(self, x: Tensor) -> Tensor:
        """f(x), (..., d) -> (...,)."""
        if self.kind == "ou_quadratic":
            return ((x @ self.P) * x).sum(-1)
        return torch.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)

    def running_cost_grad(self, x: Tensor) -> Tensor:
        """∇f(x), (..., d) -> (..., d)."""
        if self.kind == "ou_quadratic":
            return x @ (self.P + self.P.T)
        return torch.zeros_like(x)

    def terminal_cost(self, x: Tensor) -> Tensor:
        """g(x), (..., d) -> (...,)."""
        if self.kind == "ou_quadratic":
            return ((x @ self.Q) * x).sum(-1)
        if self.kind == "linear_ou":
            return x @ self.omega
        return ((x**2 - 1.0) ** 2 * self.nu).sum(-1)

    def terminal_cost_grad(self, x: Tensor) -> Tensor:
        """∇g(x), (..., d) -> (..., d)."""
        if self.kind == "ou_quadratic":
            return x @ (self.Q + self.Q.T)
        if self.kind == "linear_ou":
            return self.omega.expand_as(x)
        return 4.0 * self.nu * x * (x**2 - 1.0)

    @property
    def has_running_cost(self) -> bool:
        """Whether f is not identically zero."""
        return self.kind == "ou_quadratic"


# --------------------------------------------------------------------- construction
def _scalar_or_list(value: Any, d: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(d, float(arr))
    if arr.shape != (d,):
        raise ValueError(f"problem.{name} must be a scalar or a list of length d={d}, got shape {arr.shape}")
    return arr


class _SeededNormals:
    """Standard normal draws from problem['seed'], in the order the original code draws them (x0, then ξ)."""

    def __init__(self, generator: str, seed: int) -> None:
        if generator not in DRAW_GENERATORS:
            raise ValueError(f"problem.draws must be one of {DRAW_GENERATORS}, got {generator!r}")
        self.generator = generator
        # torch: the CPU generator that torch.manual_seed(seed) resets (the original draws on CPU, then moves)
        self.torch_gen = torch.Generator().manual_seed(seed) if generator == "torch" else None
        self.numpy_rng = np.random.default_rng(seed) if generator == "numpy" else None

    def scaled(self, scale: float, shape: tuple[int, ...]) -> np.ndarray:
        """scale · N(0, I) of `shape`; torch: multiplied in float32 as the original does, then widened."""
        if self.torch_gen is not None:
            return (scale * torch.randn(shape, generator=self.torch_gen)).double().numpy()
        return scale * self.numpy_rng.standard_normal(shape)


def make_problem(problem: Mapping[str, Any]) -> dict[str, np.ndarray | str | float | int]:
    """Arrays of one setting from its config dict; random parts drawn from problem['seed'] (paper Sec. 5).

    ou_quadratic: b = a x, f = p|x|², g = q|x|², σ = I, x0 given or 0.5·N(0, I).
    linear_ou: b = (−I + ξ) x, σ = I + ξ, ξ_ij ~ N(0, xi_std²), f = 0, g = <ω, x> with ω = 1, x0 = 0.
    double_well: b = −∇Σ κ_i (x_i² − 1)², f = 0, g = Σ ν_i (x_i² − 1)², σ = I, x0 = 0.
    problem['draws'] = "torch" (default) regenerates the original code's x0 / ξ: torch.manual_seed(seed), then
    torch.randn on CPU in float32 (docs/papers/socm.md, "Differences from the original code, settled"); "numpy"
    uses numpy's default_rng(seed).
    """
    kind = problem["kind"]
    if kind not in PROBLEM_KINDS:
        raise ValueError(f"problem.kind must be one of {PROBLEM_KINDS}, got {kind!r}")
    d = int(problem["d"])
    if d < 1:
        raise ValueError(f"problem.d must be >= 1, got {d}")
    normals = _SeededNormals(str(problem.get("draws", "torch")), int(problem.get("seed", 0)))
    running_cost_point = str(problem.get("running_cost_point", "right"))
    if running_cost_point not in RUNNING_COST_POINTS:
        raise ValueError(f"problem.running_cost_point must be one of {RUNNING_COST_POINTS}, got {running_cost_point!r}")
    eye = np.eye(d)
    out: dict[str, Any] = {
        "kind": kind,
        "d": d,
        "T": float(problem.get("T", 1.0)),
        "lam": float(problem.get("lam", 1.0)),
        "N": int(problem["N"]),
        "running_cost_point": running_cost_point,
    }
    if kind == "ou_quadratic":
        x0 = problem.get("x0")
        out["x0"] = normals.scaled(0.5, (d,)) if x0 is None else _scalar_or_list(x0, d, "x0")
        out["A"] = float(problem["a"]) * eye
        out["P"] = float(problem["p"]) * eye
        out["Q"] = float(problem["q"]) * eye
        out["sigma"] = eye.copy()
    elif kind == "linear_ou":
        xi = normals.scaled(float(problem.get("xi_std", 0.1)), (d, d))
        out["x0"] = np.zeros(d) if problem.get("x0") is None else _scalar_or_list(problem["x0"], d, "x0")
        out["A"] = -eye + xi
        out["sigma"] = eye + xi
        out["omega"] = _scalar_or_list(problem.get("omega", 1.0), d, "omega")
    else:
        out["x0"] = np.zeros(d) if problem.get("x0") is None else _scalar_or_list(problem["x0"], d, "x0")
        out["kappa"] = _scalar_or_list(problem["kappa"], d, "kappa")
        out["nu"] = _scalar_or_list(problem["nu"], d, "nu")
        out["sigma"] = eye.copy()
    return out


_TENSOR_KEYS = ("x0", "sigma", "A", "P", "Q", "omega", "kappa", "nu")


def problem_arrays(problem: ControlProblem) -> dict[str, np.ndarray]:
    """The problem as numpy arrays for np.savez (keys prefixed 'problem_')."""
    out: dict[str, np.ndarray] = {
        "problem_kind": np.array(problem.kind),
        "problem_d": np.array(problem.d),
        "problem_T": np.array(problem.T),
        "problem_lam": np.array(problem.lam),
        "problem_N": np.array(problem.N),
        "problem_running_cost_point": np.array(problem.running_cost_point),
    }
    for key in _TENSOR_KEYS:
        value = getattr(problem, key)
        if value is not None:
            out[f"problem_{key}"] = value.detach().cpu().double().numpy()
    return out


def problem_from_arrays(
    arrays: Mapping[str, Any], dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> ControlProblem:
    """Build a ControlProblem from make_problem's dict or from 'problem_'-prefixed npz arrays."""

    def get(key: str) -> Any:
        for k in (f"problem_{key}", key):
            if k in arrays:
                return arrays[k]
        return None

    point = get("running_cost_point")  # absent: the default, the original code's right point
    tensors = {}
    for key in _TENSOR_KEYS:
        v = get(key)
        tensors[key] = (
            None if v is None else torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=dtype, device=device)
        )
    return ControlProblem(
        kind=str(np.asarray(get("kind")).item()),
        d=int(np.asarray(get("d")).item()),
        T=float(np.asarray(get("T")).item()),
        lam=float(np.asarray(get("lam")).item()),
        N=int(np.asarray(get("N")).item()),
        running_cost_point="right" if point is None else str(np.asarray(point).item()),
        **tensors,
    )


def load_problem(
    npz_path: str | Path, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> ControlProblem:
    """The ControlProblem stored by prepare.prepare_problem."""
    with np.load(npz_path, allow_pickle=False) as data:
        return problem_from_arrays({k: data[k] for k in data.files}, dtype=dtype, device=device)
