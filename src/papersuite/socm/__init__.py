"""Stochastic Optimal Control Matching (Domingo-Enrich et al., NeurIPS 2024, arXiv:2312.02027).

Modules: problems (the four settings), reference (ground-truth controls and costs), models
(∇V U-Net, M_t(s)), sde (Euler–Maruyama with importance weights), losses (the eight methods),
warm_start (Gaussian-path warm start), optim (a dependency-light Adam), and the workflow entry
points prepare.prepare_problem, train.train_control, evaluate.evaluate_control and
report.build_report.
"""

from .methods import METHOD_LABELS, METHODS

__all__ = ["METHODS", "METHOD_LABELS"]
