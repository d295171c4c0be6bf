"""The metric's hypergradient by implicit differentiation (paper §4, eq. 5; the authors' torchopt
`custom_root` with normal-CG): at an inner optimum ∇_θ L_pred(θ*, φ) = 0, so

    dL_task/dφ = −(∂²L_pred/∂φ∂θ)ᵀ v,   with  H v = ∇_θ L_task(θ*),  H = ∇²_θθ L_pred(θ*, φ).

H is never formed: H·v (a Hessian-vector product) and the mixed term (a VJP) are both backward passes
through one torch.func.vjp of the gradient map (θ, φ) ↦ ∇_θ L_pred. θ and φ are flat vectors.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import grad, hessian, vjp

__all__ = ["SOLVERS", "conjugate_gradient", "normal_cg", "hvp_operator", "implicit_hypergradient"]

SOLVERS = ("normal_cg", "cg", "exact")

InnerLoss = Callable[[Tensor, Tensor], Tensor]  # (θ (P,), φ (Q,)) -> scalar L_pred
MatVec = Callable[[Tensor], Tensor]


def conjugate_gradient(matvec: MatVec, b: Tensor, maxiter: int, tol: float = 0.0) -> Tensor:
    """Conjugate gradient for M v = b with M symmetric PSD, from v = 0, ``maxiter`` steps or ‖r‖ ≤ tol."""
    v = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = r.dot(r)
    for _ in range(maxiter):
        if float(rr.sqrt()) <= tol or float(rr) == 0.0:
            break
        Mp = matvec(p)
        curvature = p.dot(Mp)
        if float(curvature) <= 0.0:  # M not PD along p: stop with the current iterate
            break
        alpha = rr / curvature
        v = v + alpha * p
        r = r - alpha * Mp
        rr_new = r.dot(r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return v


def normal_cg(matvec: MatVec, b: Tensor, maxiter: int, ridge: float) -> Tensor:
    """Solve (HᵀH + ρI) v = Hᵀ b by CG for symmetric H (torchopt's `solve_normal_cg`): a PSD system even
    where H is indefinite (an MLP predictor away from a strict minimum)."""
    return conjugate_gradient(lambda u: matvec(matvec(u)) + ridge * u, matvec(b), maxiter)


def hvp_operator(inner_loss: InnerLoss, theta: Tensor, phi: Tensor) -> tuple[MatVec, Callable[[Tensor], Tensor]]:
    """(v ↦ H v, v ↦ (∂²L_pred/∂φ∂θ)ᵀ v) at (θ, φ) from one reverse-over-reverse linearisation.

    torch.func.vjp of the gradient map (θ, φ) ↦ ∇_θ L_pred records the graph once; each product is then
    one backward pass through it (H is symmetric, so its VJP is the HVP).
    """
    _, vjp_fn = vjp(grad(inner_loss, argnums=0), theta, phi)

    def hvp(v: Tensor) -> Tensor:
        return vjp_fn(v)[0]

    def mixed(v: Tensor) -> Tensor:
        return vjp_fn(v)[1]

    return hvp, mixed


def implicit_hypergradient(
    inner_loss: InnerLoss,
    outer_grad: Tensor,
    theta: Tensor,
    phi: Tensor,
    solver: str = "normal_cg",
    maxiter: int = 5,
    ridge: float = 1e-5,
) -> Tensor:
    """dL_task/dφ (Q,) at the inner solution θ* = ``theta`` (P,), given ``outer_grad`` = ∇_θ L_task(θ*) (P,).

    solver "normal_cg" (the authors' default: 5 iterations, ridge 1e-5), "cg" (plain CG on H + ρI) or
    "exact" (the dense Hessian, P × P, solved with ridge ρ; for small problems and tests).
    """
    theta, phi, outer_grad = theta.detach(), phi.detach(), outer_grad.detach()
    matvec, mixed = hvp_operator(inner_loss, theta, phi)
    if solver == "exact":
        H = hessian(inner_loss, argnums=0)(theta, phi)  # (P, P)
        eye = torch.eye(H.shape[0], dtype=H.dtype, device=H.device)
        v = torch.linalg.solve(H + ridge * eye, outer_grad)
    elif solver == "normal_cg":
        v = normal_cg(matvec, outer_grad, maxiter, ridge)
    elif solver == "cg":
        v = conjugate_gradient(lambda u: matvec(u) + ridge * u, outer_grad, maxiter)
    else:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    return -mixed(v)
