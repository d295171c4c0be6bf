"""AdvPrompterTrain (paper Alg. 1, the original's main.py train_epoch): per batch, search q* with AdvPrompterOpt,
add it to the prioritized replay buffer with priority relu(L(q_s) - L(q*)) + 1[jailbroken], regress the LoRA
prompter on replayed suffixes."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from papersuite.advprompter.lms import greedy_generate
from papersuite.advprompter.opt import SearchConfig, advprompter_opt
from papersuite.advprompter.problem import TextSuffixProblem
from papersuite.advprompter.prompter import augment_target, regression_step, sample_suffixes
from papersuite.advprompter.replay import PrioritizedReplay


@dataclass(frozen=True)
class TrainConfig:
    """The original's train.yaml loop settings (batch 8, buffer 256, alpha 1.5, 8 updates, lr 5e-4); epochs scaled."""

    epochs: int = 10
    batch_size: int = 8
    lr: float = 5e-4
    buffer_size: int = 256
    priority_alpha: float = 1.5
    updates_per_batch: int = 8
    response_tokens: int = 12  # greedy target response checked by the keyword judge (150 in the original)
    search: SearchConfig = field(default_factory=SearchConfig)


def search_batch(prompter, ptok, target, ttok, spec, batch, cfg: TrainConfig, generator, rng) -> list[dict]:
    """q-step for one batch: q_s sampled, q* searched, q* judged by the target's greedy response."""
    targets = [augment_target(row["target"], rng) for row in batch]
    instructs = [row["instruct"] for row in batch]
    sampled = sample_suffixes(prompter, ptok, instructs, cfg.search.max_new_tokens, generator)
    import torch

    records = []
    for x, y, q_s in zip(instructs, targets, sampled):
        problem = TextSuffixProblem(prompter, ptok, target, ttok, spec, x, y)
        best = advprompter_opt(problem, cfg.search, generator)
        with torch.no_grad():
            loss_s = float(problem.target_loss([q_s])[0])
        text = problem.suffix_text(best.suffix)
        prompt = spec.prompt_ids(ttok, problem.full_instruct(best.suffix))
        jailbroken = spec.is_jailbroken(greedy_generate(target, ttok, [prompt], cfg.response_tokens)[0])
        priority = max(loss_s - best.loss, 0.0) + float(jailbroken)
        records.append({"instruct": x, "target": y, "suffix": text, "suffix_ids": best.suffix, "loss": best.loss,
                        "loss_sampled": loss_s, "jailbroken": jailbroken, "priority": priority})  # fmt: skip
    return records


def _loop_state(rng: random.Random, generator, buffer: PrioritizedReplay) -> dict:
    """The loop's own RNGs and the replay buffer, weights_only-safe (tensors, numbers, strings, lists, dicts)."""
    import torch

    version, internal, gauss = rng.getstate()
    return {
        "python_rng": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "torch_generator": generator.get_state(),
        "buffer": {
            "items": [[x, list(q)] for x, q in buffer.items], "priorities": list(buffer.priorities),
            "n_added": buffer.n_added, "rng": buffer.rng.bit_generator.state,
        },
    }  # fmt: skip


def _restore_loop_state(state: dict, rng: random.Random, generator, buffer: PrioritizedReplay) -> None:
    py = state["python_rng"]
    rng.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss"]))
    generator.set_state(state["torch_generator"])
    saved = state["buffer"]
    buffer.items = [(x, [int(v) for v in q]) for x, q in saved["items"]]
    buffer.priorities = [float(p) for p in saved["priorities"]]
    buffer.n_added = int(saved["n_added"])
    buffer.rng.bit_generator.state = saved["rng"]


def advprompter_train(
    prompter, ptok, target, ttok, spec, rows: list[dict], cfg: TrainConfig, seed: int, run=None
) -> list[dict]:
    """Alternate AdvPrompterOpt and LoRA regression for cfg.epochs epochs; returns one log line per batch.

    `run` (core.checkpoint.TrainingCheckpoints, counting epochs) saves the LoRA weights, Adam, the replay buffer and
    every RNG after each due epoch, and a rerun resumes there to the same result.
    """
    import torch

    rng, generator = random.Random(seed), torch.Generator().manual_seed(seed)
    buffer = PrioritizedReplay(cfg.buffer_size, cfg.priority_alpha, seed)
    params = [p for p in prompter.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    log, start_epoch = [], 0
    ckpt = None if run is None else run.resume()
    if ckpt is not None:
        prompter.load_state_dict(ckpt["prompter"], strict=False)  # the LoRA weights; the frozen base is unchanged
        optimizer.load_state_dict(ckpt["optimizer"])
        _restore_loop_state(ckpt["loop"], rng, generator, buffer)
        log, start_epoch = list(ckpt["log"]), int(ckpt["step"])
    for epoch in range(start_epoch, cfg.epochs):
        state = (rng, generator, buffer, optimizer)
        log += train_epoch(prompter, ptok, target, ttok, spec, rows, cfg, epoch, state)
        if run is not None and run.due(epoch + 1, cfg.epochs):
            lora = {k: v for k, v in prompter.state_dict().items() if "lora_" in k}
            run.save(epoch + 1, {"prompter": lora, "optimizer": optimizer.state_dict(), "log": log,
                                 "loop": _loop_state(rng, generator, buffer)})  # fmt: skip
    return log


def train_epoch(prompter, ptok, target, ttok, spec, rows: list[dict], cfg: TrainConfig, epoch: int,
                state) -> list[dict]:  # fmt: skip
    """One epoch of Alg. 1 over shuffled rows in batches: search, add to the buffer, replayed regression steps."""
    rng, generator, buffer, optimizer = state
    order, log = rng.sample(rows, len(rows)), []
    for start in range(0, len(order), cfg.batch_size):
        prompter.eval()
        batch = order[start : start + cfg.batch_size]
        records = search_batch(prompter, ptok, target, ttok, spec, batch, cfg, generator, rng)
        for r in records:
            buffer.add((r["instruct"], r["suffix_ids"]), r["priority"])
        reg = []
        if len(buffer) >= cfg.batch_size:
            prompter.train()
            for _ in range(min(cfg.updates_per_batch, len(buffer) // cfg.batch_size)):
                reg.append(regression_step(prompter, ptok, optimizer, buffer.sample(cfg.batch_size)))
            prompter.eval()
        log.append({
            "epoch": epoch, "loss_opt": sum(r["loss"] for r in records) / len(records),
            "loss_sampled": sum(r["loss_sampled"] for r in records) / len(records),
            "asr_opt": sum(r["jailbroken"] for r in records) / len(records),
            "regression_nll": sum(reg) / len(reg) if reg else None, "buffer": len(buffer),
        })  # fmt: skip
    return log
