"""The full-scale translator: a pretrained instruction LLM fine-tuned with LoRA (peft) on a GPU.

The paper fine-tunes Llama-3 70B (a secondary source; its recipe is not retrievable:
``docs/papers/ttg.md``, "Reconstructions"). The model named in the config is loaded from the
snapshot the download rule put on disk (``HF_HUB_OFFLINE=1``) and trained as a causal LM on
"prompt + target", the loss on the target tokens only, through
:func:`papersuite.ttg.training.run_loop`. Only the adapter weights are saved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from papersuite.core import checkpoint, runtime

from .batching import causal_lm_batches
from .training import fingerprint, run_loop, save_translator

__all__ = ["PROMPT", "causal_lm_example", "load_base_model", "train_hub_lora"]

PROMPT = "Translate the travel request into its symbolic form.\nRequest: {text}\nSymbolic form:"


def causal_lm_example(tokenizer, text: str, target: str, max_len: int) -> tuple[list[int], list[int]]:
    """(input ids, labels) of "prompt + target + eos" with the prompt's labels masked to -100."""
    prompt = tokenizer(PROMPT.format(text=text), add_special_tokens=True)["input_ids"]
    answer = tokenizer(" " + target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = (prompt + answer)[:max_len]
    labels = ([-100] * len(prompt) + answer)[:max_len]
    return ids, labels


def load_base_model(path, device):
    """The hub LLM of the snapshot at ``path``: bf16 spread over the GPUs, or float32 on the CPU."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype, device_map="auto" if device.type == "cuda" else None)


def _lora_model(mcfg: Mapping[str, Any], hub_dir, device):
    """The base model of ``hub_dir`` with LoRA adapters on ``lora_targets`` (gradient checkpointing on)."""
    from peft import LoraConfig, get_peft_model  # full scale only

    base = load_base_model(hub_dir, device)
    base.gradient_checkpointing_enable()
    base.enable_input_require_grads()
    lora = LoraConfig(
        r=int(mcfg["lora_r"]),
        lora_alpha=int(mcfg["lora_alpha"]),
        lora_dropout=float(mcfg["lora_dropout"]),
        target_modules=list(mcfg["lora_targets"]),
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, lora)
    model.print_trainable_parameters()
    return model


def train_hub_lora(
    pairs, mcfg, tcfg, seed, train_jsonl, out_dir, out_curve_csv, ckpt_dir, threads, hub_dir, after_checkpoint: Callable
) -> dict:
    """Fine-tune the hub LLM of ``hub_dir`` with LoRA on ``pairs``; write the adapters and the curve."""
    import os

    import torch
    from transformers import AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # compute nodes read the downloaded snapshot only
    device = runtime.choose_device(threads)
    runtime.seed_everything(seed)
    tokenizer = AutoTokenizer.from_pretrained(hub_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = _lora_model(mcfg, hub_dir, device)
    max_len = int(mcfg["max_source_len"]) + int(mcfg["max_target_len"]) + 64
    examples = [causal_lm_example(tokenizer, p["text"], p["target"], max_len) for p in pairs]
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"]))
    batch = int(tcfg["batch"])
    input_device = model.get_input_embeddings().weight.device

    def loss_fn(b):
        ids, mask, labels = (t.to(input_device) for t in b)
        return model(input_ids=ids, attention_mask=mask, labels=labels).loss

    rows, wall = run_loop(
        model,
        optimizer,
        causal_lm_batches(examples, batch, seed, tokenizer.pad_token_id),
        math.ceil(len(examples) / batch),
        tcfg,
        ckpt_dir,
        fingerprint(pairs, mcfg, tcfg, seed, train_jsonl),
        loss_fn,
        after_checkpoint,
    )
    meta = {
        "kind": "hub_lora",
        "hub_model": mcfg["hub_model"],
        "base_dir": str(hub_dir),
        "train_pairs": len(pairs),
        "train_wall_s": wall,
        "steps": int(rows[-1][0]) if rows else 0,
        "device": str(device),
        "max_target_len": int(mcfg["max_target_len"]),
        "seed": int(seed),
        "final_loss": rows[-1][2] if rows else None,
    }
    save_translator(out_dir, out_curve_csv, rows, meta, model=model, tokenizer=tokenizer)  # adapter weights only
    checkpoint.clear_checkpoints(ckpt_dir)
    return meta
