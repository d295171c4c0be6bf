"""The prompter pi_theta = frozen base + LoRA (paper Sec. 3.2): sampling suffixes, the LoRA regression step on
AdvPrompterOpt's suffixes (paper Sec. 3.2, Eq. 5)."""

from __future__ import annotations

import random

from papersuite.advprompter.lms import pad_batch
from papersuite.advprompter.losses import mask_disallowed
from papersuite.advprompter.problem import ascii_allowed
from papersuite.advprompter.spec import Vocab, lora_modules, model_device


def add_lora(model, r: int = 8, alpha: int = 16, modules=None, seed: int = 0):
    """peft LoRA (r 8, alpha 16, no bias) on `modules`, by default the architecture's (spec.LORA_MODULES: GPT-2's
    c_attn and lm_head, Llama's q_proj, v_proj and lm_head); only the LoRA weights train."""
    import warnings

    import torch
    from peft import LoraConfig, get_peft_model

    modules = lora_modules(model) if modules is None else tuple(modules)
    torch.manual_seed(seed)
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, bias="none", target_modules=list(modules))
    with warnings.catch_warnings():  # peft sets fan_in_fan_out per layer type (Conv1D c_attn, Linear lm_head)
        warnings.filterwarnings("ignore", message="fan_in_fan_out")
        return get_peft_model(model, cfg)


def sample_suffixes(model, ptok: Vocab, instructs: list[str], max_new_tokens: int, generator, temperature=1.0,
                    top_p=0.9):  # fmt: skip
    """Nucleus-sample suffix ids from the prompter given <s> x (ASCII tokens only): one id list per instruction;
    `generator` is a CPU torch.Generator (the draws are made on the CPU, the forwards on the model's device)."""
    import torch

    device = model_device(model)
    allowed = ascii_allowed(ptok).to(device)
    seqs = [[ptok.bos_id] + ptok.encode(x) for x in instructs]
    out: list[list[int]] = [[] for _ in instructs]
    with torch.no_grad():
        for _ in range(max_new_tokens):
            ids, mask = pad_batch([s + o for s, o in zip(seqs, out)], ptok.pad_id, device)  # (B, L)
            rows = torch.arange(len(seqs), device=device)
            logits = model(input_ids=ids, attention_mask=mask).logits[rows, mask.sum(1) - 1].float()  # (B, V)
            probs = (mask_disallowed(logits, allowed) / temperature).softmax(-1)  # (B, V)
            sorted_p, order = probs.sort(-1, descending=True)
            keep = sorted_p.cumsum(-1) - sorted_p < top_p  # the smallest prefix reaching top_p
            sorted_p = (sorted_p * keep).cpu()
            pick = torch.multinomial(sorted_p / sorted_p.sum(-1, keepdim=True), 1, generator=generator)  # (B, 1)
            for row, tok_id in enumerate(order.gather(1, pick.to(device))[:, 0].tolist()):
                out[row].append(tok_id)
    return out


def suffix_nll(model, ptok: Vocab, instructs: list[str], suffixes: list[list[int]]):
    """Mean token NLL of each suffix given <s> x under the model (Eq. 5 regression loss; perplexity = exp): (B,)."""
    import torch

    prefixes = [[ptok.bos_id] + ptok.encode(x) for x in instructs]
    ids, mask = pad_batch([p + s for p, s in zip(prefixes, suffixes)], ptok.pad_id, model_device(model))  # (B, L)
    labels = torch.full_like(ids, -100)
    for row, (p, s) in enumerate(zip(prefixes, suffixes)):
        labels[row, len(p) : len(p) + len(s)] = torch.tensor(s, device=ids.device)
    logp = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float().log_softmax(-1)  # (B, L-1, V)
    tgt = labels[:, 1:]
    nll = -logp.gather(2, tgt.clamp_min(0)[..., None])[..., 0] * (tgt >= 0)
    return nll.sum(1) / (tgt >= 0).sum(1)


def regression_step(model, ptok, optimizer, batch: list[tuple[str, list[int]]]) -> float:
    """One Adam step on the mean NLL of AdvPrompterOpt's suffixes q* given x (the q-regression, paper Eq. 5)."""
    loss = suffix_nll(model, ptok, [x for x, _ in batch], [q for _, q in batch]).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def augment_target(target: str, rng: random.Random) -> str:
    """Train-time target augmentation: p=0.5 "Sure, here is" -> "Sure, here's", p=0.5 "Sure, h" -> "H"."""
    if rng.random() < 0.5:
        target = target.replace("Sure, here is", "Sure, here's")
    if rng.random() < 0.5:
        target = target.replace("Sure, h", "H")
    return target
