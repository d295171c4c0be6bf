"""The kNN graph and GCN propagation of the population embedding φ (MFM, "Population embedding"; docs/papers/mfm.md,
"Method").

The graph has a directed edge j → i for each of the k nearest neighbours j of i (PyG `knn_graph`, flow
source_to_target, no self loops). GCN normalisation adds self loops and weights the message j → i by
deg_i^{-1/2} deg_j^{-1/2} with deg the in-degree plus one; in a kNN graph every node has in-degree k, so every
weight is 1/(k+1). k = 0 leaves only the self loops (the DeepSets-like ablation). Brute force `cdist` + `topk`
replaces torch-cluster, which has no CPU wheels.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["knn_indices", "gcn_weights", "gcn_propagate", "dense_gcn_adjacency"]


def knn_indices(x: Tensor, k: int) -> Tensor:
    """Indices (..., n, k') of the k' = min(k, n−1) nearest other points of each point of x (..., n, d)."""
    n = x.shape[-2]
    k = min(int(k), n - 1)
    if k <= 0:
        return torch.empty(*x.shape[:-1], 0, dtype=torch.long, device=x.device)
    dist = torch.cdist(x, x)  # (..., n, n)
    dist.diagonal(dim1=-2, dim2=-1).fill_(torch.inf)  # no self loops among the neighbours
    return dist.topk(k, dim=-1, largest=False).indices  # (..., n, k)


def gcn_weights(neighbours: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Symmetric-normalisation weights of the kNN edges (..., n, k) and of the self loops (..., n):
    w_ij = (deg_i deg_j)^{-1/2} with deg = in-degree + 1 (GCN, Kipf & Welling 2017, with added self loops)."""
    deg = torch.ones(*neighbours.shape[:-2], n, device=neighbours.device)  # (..., n): the self loop
    deg = deg + neighbours.shape[-1]  # every node receives exactly k edges (its k nearest neighbours)
    inv_sqrt = deg.rsqrt()  # (..., n)
    src = torch.gather(inv_sqrt.unsqueeze(-1).expand(*neighbours.shape[:-1], neighbours.shape[-1]), -2, neighbours)
    edge = inv_sqrt.unsqueeze(-1) * src  # (..., n, k)
    return edge, inv_sqrt**2


def gcn_propagate(h: Tensor, neighbours: Tensor) -> Tensor:
    """Â h for node features h (..., n, f) on the kNN graph (..., n, k): the self loop plus the k messages."""
    n, f = h.shape[-2:]
    edge, self_w = gcn_weights(neighbours, n)
    flat = neighbours.reshape(*neighbours.shape[:-2], -1, 1).expand(*neighbours.shape[:-2], -1, f)  # (..., n*k, f)
    msgs = torch.gather(h, -2, flat).reshape(*neighbours.shape, f)  # (..., n, k, f): h_j for each edge j → i
    return self_w.unsqueeze(-1) * h + (edge.unsqueeze(-1) * msgs).sum(-2)


def dense_gcn_adjacency(neighbours: Tensor, n: int) -> Tensor:
    """Â = D^{-1/2}(A + I)D^{-1/2} (n, n) of one graph (n, k), A[i, j] = 1 for the edge j → i, D = rowsum(A + I)."""
    A = torch.eye(n)
    A[torch.arange(n).repeat_interleave(neighbours.shape[-1]), neighbours.reshape(-1)] = 1.0
    d = A.sum(1).rsqrt()
    return d[:, None] * A * d[None, :]
