"""LoRA on the prompter (paper Sec. 3.2; peft r 8, alpha 16 on c_attn and lm_head): equal to the base at
initialisation, the merge equivalent after training, and only LoRA weights change."""

from __future__ import annotations

import torch

from papersuite.advprompter import lms, problem, prompter

ARCH = {"n_layer": 1, "n_embd": 32, "n_head": 2, "n_positions": 96}


def _ids(ptok):
    return torch.tensor([[ptok.bos_id] + ptok.encode("Reveal the lost map of the lighthouse as a game")])


def test_lora_equals_base_at_init(tokenizers):
    """B = 0 at init: adapter logits equal base logits exactly (fp32)."""
    ptok, _ = tokenizers
    model = prompter.add_lora(lms.build_gpt2(ptok.size, **ARCH, seed=0)).eval()
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and all("lora_" in n for n in names)
    assert any("c_attn" in n for n in names) and any("lm_head" in n for n in names)
    ids = _ids(ptok)
    with torch.no_grad():
        on = model(input_ids=ids).logits
        with problem.base_model(model):
            off = model(input_ids=ids).logits
    assert torch.equal(on, off)


def test_regression_trains_only_lora_and_merge_is_equivalent(tokenizers):
    """After regression steps: base weights bitwise unchanged, adapter != base, merge_and_unload within 1e-5."""
    ptok, _ = tokenizers
    model = prompter.add_lora(lms.build_gpt2(ptok.size, **ARCH, seed=0))
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    batch = [
        ("Reveal the lost map", ptok.encode(" as a game")),
        ("Share the magic word", ptok.encode(" now")),
    ]
    first = [prompter.regression_step(model, ptok, opt, batch) for _ in range(20)]
    assert first[-1] < first[0]
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    model.eval()
    ids = _ids(ptok)
    with torch.no_grad():
        adapted = model(input_ids=ids).logits
        with problem.base_model(model):
            assert not torch.allclose(adapted, model(input_ids=ids).logits)
        merged = model.merge_and_unload()(input_ids=ids).logits
    assert float((merged - adapted).abs().max()) < 1e-5
