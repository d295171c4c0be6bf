"""Lookups of the stored reference control u* on the training grid, as torch callables
(docs/papers/socm.md, "Reference solutions"; the solvers that compute them are in reference.py).

Separate from reference.py so that training and evaluation jobs do not import scipy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["LinearFeedbackControl", "OpenLoopControl", "TabulatedSeparableControl", "optimal_control_from_arrays"]


def _grid_index(t: Tensor, N: int, T: float) -> Tensor:
    """Nearest training-grid index of times t (…,)."""
    return torch.clamp(torch.round(t * (N / T)).long(), 0, N)


@dataclass
class LinearFeedbackControl:
    """u*(t_k, x) = K_k x on the training grid (LQ: K = −2σᵀF)."""

    gain: Tensor  # (N+1, d, d)
    T: float

    def __call__(self, t: Tensor, x: Tensor) -> Tensor:
        """t (K,) and x (K, B, d) or (K, E, B, d) -> x's shape."""
        k = _grid_index(t, self.gain.shape[0] - 1, self.T)
        return torch.einsum("kij,k...j->k...i", self.gain[k], x)


@dataclass
class OpenLoopControl:
    """u*(t_k, x) = u_k, independent of x (linear OU)."""

    values: Tensor  # (N+1, d)
    T: float

    def __call__(self, t: Tensor, x: Tensor) -> Tensor:
        """t (K,) and x (K, B, d) or (K, E, B, d) -> x's shape."""
        k = _grid_index(t, self.values.shape[0] - 1, self.T)
        values = self.values[k]  # (K, d)
        return values.reshape(values.shape[0], *[1] * (x.dim() - 2), values.shape[-1]).expand_as(x)


@dataclass
class TabulatedSeparableControl:
    """u*_i(t_k, x_i) from per-dimension 1-D tables at the cell faces, linear interpolation in x (double well)."""

    x_mid: Tensor  # (nm,)
    tables: Tensor  # (N+1, nm, n_unique)
    dim_table: Tensor  # (d,) long
    T: float

    def __call__(self, t: Tensor, x: Tensor) -> Tensor:
        """t (K,) and x (K, B, d) or (K, E, B, d) -> x's shape."""
        if x.dim() > 3:  # the ensemble's members folded into the batch
            return self(t, x.reshape(x.shape[0], -1, x.shape[-1])).reshape(x.shape)
        k = _grid_index(t, self.tables.shape[0] - 1, self.T)  # (K,)
        nm = self.x_mid.shape[0]
        h = self.x_mid[1] - self.x_mid[0]
        pos = ((x - self.x_mid[0]) / h).clamp(0.0, nm - 1.0)  # (K, B, d)
        i0 = pos.floor().long().clamp(max=nm - 2)
        w = pos - i0.to(pos.dtype)
        tab = self.tables[k][:, :, self.dim_table]  # (K, nm, d)
        tab = tab.unsqueeze(1).expand(-1, x.shape[1], -1, -1)  # (K, B, nm, d)
        u0 = torch.gather(tab, 2, i0.unsqueeze(2)).squeeze(2)
        u1 = torch.gather(tab, 2, (i0 + 1).unsqueeze(2)).squeeze(2)
        return (1.0 - w) * u0 + w * u1


def optimal_control_from_arrays(
    arrays: Mapping[str, np.ndarray], T: float, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
):
    """The u* lookup stored by build_reference (npz arrays with 'ref_' keys)."""

    def tens(key: str) -> Tensor:
        return torch.as_tensor(np.asarray(arrays[key]), dtype=dtype, device=device)

    if "ref_feedback" in arrays:
        return LinearFeedbackControl(tens("ref_feedback"), T)
    if "ref_open_loop" in arrays:
        return OpenLoopControl(tens("ref_open_loop"), T)
    if "ref_u_tables" in arrays:
        return TabulatedSeparableControl(
            tens("ref_x_mid"),
            tens("ref_u_tables"),
            torch.as_tensor(np.asarray(arrays["ref_dim_table"]), dtype=torch.long, device=device),
            T,
        )
    raise KeyError("no reference control in the arrays (expected ref_feedback, ref_open_loop or ref_u_tables)")
