"""The kNN graph and the GCN embedding φ (docs/papers/mfm.md, "Method", "Known answers")."""

from __future__ import annotations

import pytest
import torch

from papersuite.mfm.graph import dense_gcn_adjacency, gcn_propagate, knn_indices
from papersuite.mfm.models import PopulationGCN


def test_knn_matches_brute_force():
    x = torch.randn(3, 40, 5, generator=torch.Generator().manual_seed(0))
    got = knn_indices(x, 6)  # (3, 40, 6)
    assert got.shape == (3, 40, 6)
    for b in range(3):
        for i in range(40):
            d = ((x[b] - x[b, i]) ** 2).sum(-1)
            d[i] = float("inf")
            assert set(got[b, i].tolist()) == set(torch.argsort(d)[:6].tolist())


def test_knn_k_is_capped_and_zero_gives_no_edges():
    x = torch.randn(5, 2)
    assert knn_indices(x, 10).shape == (5, 4)
    assert knn_indices(x, 0).shape == (5, 0)


def test_propagation_equals_the_dense_symmetric_normalisation():
    """Â h with Â = D^{-1/2}(A + I)D^{-1/2}; in a kNN graph every in-degree is k, so every row of Â sums to 1."""
    gen = torch.Generator().manual_seed(1)
    x, h = torch.randn(30, 2, generator=gen), torch.randn(30, 7, generator=gen)
    nb = knn_indices(x, 4)
    A = dense_gcn_adjacency(nb, 30)
    torch.testing.assert_close(gcn_propagate(h, nb), A @ h, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(A.sum(1), torch.ones(30))
    assert torch.allclose(A[A > 0], torch.full_like(A[A > 0], 1 / 5))


def test_k_zero_has_only_self_loops():
    nb = knn_indices(torch.randn(12, 2), 0)
    assert torch.equal(dense_gcn_adjacency(nb, 12), torch.eye(12))
    h = torch.randn(12, 3)
    torch.testing.assert_close(gcn_propagate(h, nb), h)


@pytest.mark.parametrize("k", [0, 5])
def test_embedding_is_unit_norm_and_permutation_invariant(k):
    torch.manual_seed(0)
    gnn = PopulationGCN(dim_in=4, hidden=16, n_layers=3, k=k)
    x, extra = torch.randn(2, 50, 3), torch.randn(2, 50, 1)
    phi = gnn(x, extra)  # (2, 16)
    assert phi.shape == (2, 16)
    torch.testing.assert_close(phi.norm(dim=-1), torch.ones(2))
    perm = torch.randperm(50)
    torch.testing.assert_close(gnn(x[:, perm], extra[:, perm]), phi, atol=1e-6, rtol=0)
    torch.testing.assert_close(gnn(x[1], extra[1]), phi[1], atol=1e-6, rtol=0)  # batched = one at a time


def test_embedding_tells_populations_apart():
    """φ of two different populations differs (an untrained φ is not constant), that of a copy does not."""
    torch.manual_seed(0)
    gnn = PopulationGCN(dim_in=2, hidden=16, n_layers=2, k=5)
    a, b = torch.randn(60, 2), torch.randn(60, 2) * 0.3 + 2.0
    assert (gnn(a) - gnn(b)).norm() > 0.1  # measured 1.07 (seed 0)
    torch.testing.assert_close(gnn(a), gnn(a.clone()))
