"""Known answers of the Monarch and Kronecker layers (docs/papers/tokenbounds.md "Known answers")."""

from __future__ import annotations

import pytest
import torch

from papersuite.tokenbounds import structured

D64 = torch.float64


def _permutation(perm: list[int]) -> torch.Tensor:
    """Matrix P with (P x)[i] = x[perm[i]]."""
    p = torch.zeros(len(perm), len(perm), dtype=D64)
    p[torch.arange(len(perm)), torch.tensor(perm)] = 1.0
    return p


def _explicit_monarch(w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """P_out blockdiag(w2) P_mid blockdiag(w1), built from index formulas independently of the fast multiply."""
    k, q, _ = w1.shape
    l, s, r = w2.shape
    # P_mid: block a, entry c of the middle vector = out1[c * l + a] (reshape (r, l), transpose)
    p_mid = _permutation([c * l + a for a in range(l) for c in range(r)])
    # P_out: output s_idx * l + l_idx = out2 block l_idx, entry s_idx
    p_out = _permutation([a * s + b for b in range(s) for a in range(l)])
    return p_out @ torch.block_diag(*w2) @ p_mid @ torch.block_diag(*w1)


@pytest.mark.parametrize(("d_in", "d_out", "nblocks"), [(16, 16, 4), (12, 20, 4), (32, 8, 2), (10, 14, 3)])
def test_monarch_fast_multiply_equals_dense(d_in, d_out, nblocks):
    """The fast multiply equals x @ M^T for the explicit block-diagonal / permutation product (cut to d_out, d_in)."""
    torch.manual_seed(0)
    layer = structured.MonarchLinear(d_in, d_out, nblocks).to(D64)
    dense = _explicit_monarch(layer.w1.detach(), layer.w2.detach())[:d_out, :d_in]
    x = torch.randn(7, 3, d_in, dtype=D64)
    assert torch.allclose(layer(x), x @ dense.T, atol=1e-12)
    assert torch.allclose(layer.dense(), dense, atol=1e-12)


def test_monarch_one_block_is_a_product_of_two_dense_matrices():
    """nblocks = 1: M = W2 W1."""
    layer = structured.MonarchLinear(6, 9, 1).to(D64)
    assert torch.allclose(layer.dense(), layer.w2[0] @ layer.w1[0], atol=1e-12)


@pytest.mark.parametrize(("n", "nblocks"), [(128, 4), (768, 4), (64, 8)])
def test_monarch_parameter_count(n, nblocks):
    """Square n x n with b blocks: 2 n^2 / b parameters."""
    layer = structured.MonarchLinear(n, n, nblocks)
    assert sum(p.numel() for p in layer.parameters()) == 2 * n * n // nblocks


def test_divisor_pairs():
    """768 -> (6, 128) (mode 4), 128 -> (8, 16) (clamped to the last pair), 1024 -> (16, 64)."""
    assert structured.divisor_pair(768) == (6, 128)
    assert structured.divisor_pair(128) == (8, 16)
    assert structured.divisor_pair(1024) == (16, 64)


@pytest.mark.parametrize(("d_in", "d_out"), [(128, 128), (128, 384), (768, 1024), (12, 30)])
def test_kronecker_fast_multiply_equals_dense(d_in, d_out):
    """The reshape-based product equals x kron(U, V); parameter count n1 m1 + n2 m2."""
    layer = structured.KroneckerLinear(d_in, d_out).to(D64)
    x = torch.randn(5, d_in, dtype=D64)
    kron = torch.kron(layer.u, layer.v)  # (d_in, d_out)
    assert torch.allclose(layer(x), x @ kron, atol=1e-12)
    assert torch.allclose(layer.dense(), kron.T)
    (n1, m1), (n2, m2) = layer.u.shape, layer.v.shape
    assert sum(p.numel() for p in layer.parameters()) == n1 * m1 + n2 * m2
