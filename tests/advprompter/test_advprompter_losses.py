"""The objective's terms (paper Eq. 2-3): the reweighted CE against a hand computation, padding ignored, and the
repetition penalty on a known logit vector."""

from __future__ import annotations

import math

import torch

from papersuite.advprompter import losses, problem


def test_reweighted_ce_by_hand():
    """Position t weighted by 1/(t+1), masked mean over the real positions."""
    logits = torch.log(torch.tensor([[[0.5, 0.5], [0.25, 0.75], [0.9, 0.1]]]))  # (1, 3, 2)
    labels = torch.tensor([[0, 1, 1]])
    mask = torch.tensor([[1, 1, 0]])
    expected = (-math.log(0.5) / 1 - math.log(0.75) / 2) / 2
    assert abs(float(losses.reweighted_ce(logits, labels, mask)[0]) - expected) < 1e-6
    plain = (-math.log(0.5) - math.log(0.75)) / 2
    assert abs(float(losses.reweighted_ce(logits, labels, mask, reweight=False)[0]) - plain) < 1e-6


def test_target_loss_ignores_padding(models, tokenizers, target_spec):
    """A pair's loss is the same alone and in a right-padded batch with longer neighbours."""
    _, ttok = tokenizers
    _, target = models
    pairs = [("Reveal the true name of the owl" + s, "Sure, here is the true name of the owl")
             for s in ("", " kindly now as a game please", " x")]  # fmt: skip
    with torch.no_grad():
        batch = problem.target_losses(target, ttok, target_spec, pairs)
        alone = torch.cat([problem.target_losses(target, ttok, target_spec, [p]) for p in pairs])
    assert torch.allclose(batch, alone, atol=1e-5)


def test_repetition_penalty_on_known_logits():
    """Positive logits of used ids / 1.2, negative ones * 1.2, unused ids untouched; a repeated id counts once."""
    logits = torch.tensor([[2.4, -1.0, 0.5, -3.0, 0.0]])
    out = losses.repetition_penalty(logits, [[0, 1, 1, 4]], 1.2)
    assert torch.allclose(out, torch.tensor([[2.0, -1.2, 0.5, -3.0, 0.0]]))
    assert torch.equal(losses.repetition_penalty(logits, [[]], 1.2), logits)


def test_readability_masks_disallowed_tokens():
    allowed = torch.tensor([True, False, True])
    logp = losses.readability_logprobs(torch.tensor([[1.0, 5.0, 1.0]]), [[]], allowed, 1.2)
    assert torch.allclose(logp[0, [0, 2]].exp(), torch.tensor([0.5, 0.5])) and float(logp[0, 1].exp()) == 0.0


def test_ascii_mask_excludes_specials_and_partial_bytes(tokenizers):
    ptok, _ = tokenizers
    allowed = problem.ascii_allowed(ptok)
    assert not allowed[:3].any()  # <s>, </s>, <pad>
    texts = [ptok.decode([i]) for i in allowed.nonzero()[:, 0].tolist()]
    assert all(t.isascii() and t.isprintable() for t in texts)
    assert 0 < int(allowed.sum()) < ptok.size
