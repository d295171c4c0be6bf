"""Stochastic Optimal Control Matching (Domingo-Enrich et al., NeurIPS 2024, arXiv:2312.02027).

Modules: problems (the four settings), reference (ground-truth controls and costs) and optimal_control
(their torch lookups), models (∇V U-Net, M_t(s)), unet_step and unet_grid (the U-Net per simulation step
as one autograd node, and on the grid from the simulation's activations), sde (Euler–Maruyama with
importance weights), methods and losses (the eight methods), learned_control (u_θ and Ẑ₀), metrics (the
EMA training curve), warm_start (Gaussian-path warm start), optim (a dependency-light Adam), train (the
training loop), evaluate (control objective and metrics record), report (tables and figures), and steps:
the workflow entry points, one per rule. docs/papers/socm.md describes what is reproduced and every
deviation.
"""

from .methods import METHOD_LABELS, METHODS

__all__ = ["METHODS", "METHOD_LABELS"]
