"""Known answers of quantization and arithmetic coding (docs/papers/tokenbounds.md "Known answers")."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from papersuite.tokenbounds import coding, quantize


def test_ideal_length_of_four_equal_levels():
    """1000 symbols split 250/250/250/250: ceil(N H) + 1 = 2001 bits; the range coder needs 2000..2064 bits."""
    symbols = np.repeat(np.arange(4), 250)
    np.random.default_rng(0).shuffle(symbols)
    assert coding.ideal_code_bits(np.bincount(symbols)) == 2001
    coded, total = coding.compress(symbols, 4)
    assert 2000 <= coded.payload_bits <= 2064  # measured 2016 (whole 32-bit words)
    assert total == coded.payload_bits + 16 * 4 + 4 * 10  # codebook + frequency table (ceil log2 1000 = 10)


def test_constant_vector_costs_no_payload():
    """H = 0: the ideal length is 1 bit, and our coder sends only the frequency table."""
    symbols = np.full(500, 2)
    assert coding.ideal_code_bits(np.bincount(symbols, minlength=5)) == 1
    coded, total = coding.compress(symbols, 5)
    assert coded.payload_bits == 0 and total == 16 * 5 + 5 * 9


@pytest.mark.parametrize("seed", range(5))
def test_round_trip_is_lossless(seed):
    """Short random sequences (skewed, some levels unused) decode exactly."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    symbols = rng.choice(11, n, p=np.r_[np.full(5, 0.02), 0.8, np.full(5, 0.02)])
    coded = coding.encode(symbols, 11)
    assert np.array_equal(coding.decode(coded), symbols)


def test_coded_length_close_to_entropy():
    """10^5 skewed symbols: the coded payload is within 0.1% of N H (measured 120256 vs 120218 bits)."""
    symbols = np.random.default_rng(0).choice(4, 100_000, p=[0.7, 0.2, 0.09, 0.01])
    coded, _ = coding.compress(symbols, 4)
    ideal = coding.ideal_code_bits(np.bincount(symbols))
    assert ideal - 1 <= coded.payload_bits <= 1.001 * ideal


def test_vector_on_few_values_is_exact():
    """A vector already on <= L fp16-representable values is reproduced exactly; decoded = codebook[symbols]."""
    values = np.array([-0.5, -0.125, 0.0, 0.25, 1.5])
    v = np.random.default_rng(0).choice(values, 1000)
    for levels in (5, 7, 11):
        cb = quantize.lloyd_codebook(v, levels)
        sym = quantize.assign(v, cb)
        assert np.array_equal(quantize.dequantize(sym, cb), v)
        assert np.array_equal(quantize.dequantize(sym, cb), cb[sym])


def test_quantization_error_within_a_bin_and_lloyd_never_worse():
    """Nearest-centroid error <= one bin width (2 max|v| / L) plus fp16 rounding; Lloyd steps lower the MSE."""
    v = np.random.default_rng(1).standard_normal(20_000)
    levels = 11
    width = 2 * np.abs(v).max() / levels
    uni = quantize.uniform_codebook(v, levels)
    err = np.abs(v - uni[quantize.assign(v, uni)])
    assert err.max() <= width * (1 + 1e-3)
    lloyd = quantize.lloyd_codebook(v, levels, iters=20)
    mse = lambda cb: np.mean((v - cb[quantize.assign(v, cb)]) ** 2)  # noqa: E731
    assert mse(lloyd) < mse(uni)
    assert np.all(np.asarray(lloyd, dtype=np.float16).astype(np.float64) == lloyd)  # stored in fp16


def test_assign_is_nearest_centroid():
    """The sorted-search assignment equals the brute-force argmin of |v - c|."""
    rng = np.random.default_rng(2)
    v = rng.standard_normal(5000)
    cb = rng.permutation(rng.standard_normal(9))
    assert np.array_equal(quantize.assign(v, cb), np.abs(v[:, None] - cb[None, :]).argmin(axis=1))


def test_straight_through_gradients_and_finetuning():
    """ste_quantize: forward = nearest centroid, d/dv = 1, d/dc = counts; finetuning a codebook lowers a loss."""
    v = torch.tensor([-1.0, -0.9, 0.1, 0.2, 0.95], requires_grad=True)
    cb = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    q = quantize.ste_quantize(v, cb)
    assert torch.equal(q.detach(), torch.tensor([-1.0, -1.0, 0.0, 0.0, 1.0]))
    q.sum().backward()
    assert torch.equal(v.grad, torch.ones(5)) and torch.equal(cb.grad, torch.tensor([2.0, 2.0, 1.0]))
    target = torch.tensor([-0.8, -0.8, 0.3, 0.3, 0.7])
    loss = lambda q: ((q - target) ** 2).sum()  # noqa: E731
    v1, cb1 = quantize.finetune_quantized(v.detach().numpy(), cb.detach().numpy(), loss, steps=200, lr=0.01)
    q1 = quantize.dequantize(quantize.assign(v1, cb1), cb1)
    assert float(loss(torch.tensor(q1))) < 0.5 * float(loss(q.detach()))


def test_post_training_quantization_writes_the_decoded_weights():
    """After PTQ every trainable weight is a codebook value, frozen weights are untouched, and the message length
    is the coded length of exactly the trainable entries."""
    from papersuite.tokenbounds import compress

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    model[0].weight.requires_grad_(False)
    frozen = model[0].weight.detach().clone()
    comp = compress.post_training_quantize(model, 7)
    after = compress.trainable_vector(model)
    assert np.allclose(after, comp.values, atol=0, rtol=1e-7)  # float32 copy of fp16 centroids: exact
    assert len(np.unique(after)) <= 7 and torch.equal(model[0].weight, frozen)
    assert after.size == 32 + 32 * 4 + 4
    assert comp.message_bits == coding.message_bits(coding.encode(comp.symbols, 7))
