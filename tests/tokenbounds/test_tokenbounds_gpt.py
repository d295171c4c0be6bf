"""The GPT's four parametrizations: what is trained, what is frozen from the seed, the subspace projector
(docs/papers/tokenbounds.md "Models")."""

from __future__ import annotations

import pytest
import torch

from papersuite.tokenbounds import compress, gpt, subspace

ARCH = {"n_layer": 2, "n_head": 4, "n_embd": 32, "block_size": 16, "intrinsic_dim": 500}
VOCAB = 64


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Single-threaded (tests/conftest.py)."""


def _loss(model, seed=0):
    idx = torch.randint(0, VOCAB, (3, 12), generator=torch.Generator().manual_seed(seed))
    logits = model(idx)
    assert logits.shape == (3, 12, VOCAB)
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), idx[:, 1:].reshape(-1))


@pytest.mark.parametrize("kind", gpt.PARAMETRIZATIONS)
def test_frozen_parts_come_from_the_seed(kind):
    """Two builds with one seed are identical (frozen parts cost 0 bits); only trainable tensors get gradients."""
    a, b = gpt.build_model(VOCAB, kind, ARCH, seed=3), gpt.build_model(VOCAB, kind, ARCH, seed=3)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    c = gpt.build_model(VOCAB, kind, ARCH, seed=4)
    frozen = [n for n, p in c.named_parameters() if not p.requires_grad]
    assert kind == "dense" or any(not torch.equal(c.get_parameter(n), a.get_parameter(n)) for n in frozen)
    _loss(a).backward()
    for name, p in a.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name
    assert gpt.n_trainable(a) == compress.trainable_vector(a).size


def test_trainable_counts():
    """Dense trains everything; Monarch (b = 4) only its attention and head blocks; SubLoRA only w (d = 500)."""
    d, layers = ARCH["n_embd"], ARCH["n_layer"]
    dense = gpt.build_model(VOCAB, "dense", ARCH)
    assert gpt.n_trainable(dense) == sum(p.numel() for p in dense.parameters())
    monarch = gpt.build_model(VOCAB, "monarch", ARCH)
    blk = d // 4
    per_layer = (4 * blk * blk + 4 * (3 * d // 4) * blk) + 2 * d * d // 4  # c_attn (d -> 3d) + c_proj
    head = 4 * blk * blk + 4 * (VOCAB // 4) * blk
    assert gpt.n_trainable(monarch) == layers * per_layer + head
    kron = gpt.build_model(VOCAB, "kronecker", ARCH)  # mode-4 pairs: 32 = 4 x 8, 96 = 6 x 16, 64 = 8 x 8
    assert gpt.n_trainable(kron) == layers * ((4 * 6 + 8 * 16) + (4 * 4 + 8 * 8)) + (4 * 8 + 8 * 8)
    assert gpt.n_trainable(gpt.build_model(VOCAB, "sublora", ARCH)) == 500


def test_kronecker_embedding_is_tied_to_the_head():
    """Token t's embedding is column t of the head's U kron V."""
    model = gpt.build_model(VOCAB, "kronecker", ARCH)
    idx = torch.arange(VOCAB)[None]
    assert torch.allclose(model.embed(idx)[0], torch.kron(model.lm_head.u, model.lm_head.v).T)


def test_subspace_starts_at_theta0_and_moves_with_w():
    """w = 0 reproduces the wrapped model (LoRA B = 0: the random base); w != 0 changes it; w gets a gradient."""
    model = gpt.build_model(VOCAB, "sublora", ARCH, seed=1)
    idx = torch.randint(0, VOCAB, (2, 10))
    assert torch.allclose(model(idx), model.model(idx), atol=1e-6)
    _loss(model).backward()
    assert model.w.grad is not None and model.w.grad.abs().sum() > 0
    with torch.no_grad():
        model.w.add_(torch.randn(500))
    assert not torch.allclose(model(idx), model.model(idx), atol=1e-4)


def test_kronecker_qr_projector_is_an_isometry():
    """With D = D1 D2 exactly, P = Q1 kron Q2 has orthonormal columns: |P w| = |w| and P^T P = I."""
    proj = subspace.KroneckerQRProjector(full_dim=400, intrinsic_dim=36, seed=0)  # D1 = D2 = 20, d1 = d2 = 6
    p = torch.stack([proj(e) for e in torch.eye(36)], dim=1)  # (400, 36)
    assert torch.allclose(p.T @ p, torch.eye(36), atol=1e-5)


def test_log_probs_with_padding_equal_one_by_one():
    """Right-padded batched scoring of varying contexts equals scoring each context alone; ranks are consistent."""
    model = gpt.build_model(VOCAB, "dense", ARCH, seed=2).eval()
    gen = torch.Generator().manual_seed(0)
    contexts = [torch.randint(0, VOCAB, (n,), generator=gen) for n in (1, 5, 15, 3)]
    targets = torch.randint(0, VOCAB, (4,), generator=gen)
    with torch.no_grad():
        logp, ranks = gpt.log_probs_at(model, contexts, targets)
        for i, c in enumerate(contexts):
            row = torch.log_softmax(model(c[None])[0, -1].double(), dim=-1)
            assert logp[i] == pytest.approx(float(row[targets[i]]), abs=1e-5)
            assert int(ranks[i]) == int((row > row[targets[i]]).sum())
