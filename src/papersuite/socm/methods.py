"""The eight methods the paper compares (its main figure and Table 1), and their display labels.

Kept free of torch so that the table step, which only needs the names, does not import it. The
losses themselves are in losses.py; docs/papers/socm.md, "Methods", describes each.
"""

from __future__ import annotations

__all__ = ["METHODS", "METHOD_LABELS"]

METHODS = ("SOCM", "SOCM_const_M", "SOCM_adjoint", "adjoint", "cross_entropy", "log_variance", "moment", "variance")
METHOD_LABELS = {
    "SOCM": "SOCM",
    "SOCM_const_M": "SOCM (M=I)",
    "SOCM_adjoint": "SOCM-Adjoint",
    "adjoint": "Adjoint (rel. entropy)",
    "cross_entropy": "Cross-entropy",
    "log_variance": "Log-variance",
    "moment": "Moment",
    "variance": "Variance",
}
