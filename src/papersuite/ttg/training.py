"""The resumable optimisation loop of the translator, shared by the tiny seq2seq and the hub LLM.

A kind (:mod:`.seq2seq`, :mod:`.hub_lora`) provides the model, the optimizer, the batches of an
epoch and the loss of a batch; :func:`run_loop` runs the linear warm-up / linear decay schedule
with gradient accumulation and clipping, writes the training curve, and saves resumable
``papersuite.core.checkpoint`` files (model, optimizer, scheduler position, curve, RNG state) so an
interrupted run resumes to the same weights as an uninterrupted one.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from papersuite.core import checkpoint, io, progress

__all__ = ["CURVE_COLUMNS", "fingerprint", "run_loop", "save_translator", "schedule", "trainable_state"]

log = logging.getLogger("papersuite.ttg.translator")  # one logger for the translator's modules

CURVE_COLUMNS = ["step", "epoch", "loss", "lr", "elapsed_s"]


def schedule(step: int, warmup: int, total: int) -> float:
    """Linear warm-up then linear decay to 0 (multiplier of the base lr)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def fingerprint(pairs, mcfg, tcfg, seed, train_jsonl) -> dict:
    """What a checkpoint must have been written for to be resumed."""
    return {
        "model": mcfg,
        "train": tcfg,
        "seed": int(seed),
        "pairs": len(pairs),
        "data_sha256": io.sha256_file(train_jsonl),
    }


def trainable_state(model) -> dict:
    """The trained tensors only: every weight of the seq2seq, the LoRA adapters of a hub LLM (a
    checkpoint of a 70B model's frozen weights would be 140 GB)."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def _steps(tcfg: Mapping[str, Any], n_batches: int) -> tuple[int, int, int, int]:
    """(epochs, gradient-accumulation steps, optimizer steps per epoch, total optimizer steps); a
    small training subset repeats epochs until ``min_steps``."""
    epochs = int(tcfg["epochs"])
    accum = max(1, int(tcfg["grad_accum"]))
    steps_per_epoch = max(1, n_batches // accum)
    epochs = max(epochs, math.ceil(int(tcfg["min_steps"]) / steps_per_epoch))
    return epochs, accum, steps_per_epoch, epochs * steps_per_epoch


def _resume(run: checkpoint.TrainingCheckpoints, model, optimizer, total: int):
    """(step, curve rows, wall seconds, running loss sum, batches in it) of the latest matching
    checkpoint, loaded into ``model`` and ``optimizer``; a fresh start without one."""
    ckpt = run.resume()
    if ckpt is None:
        return 0, [], 0.0, 0.0, 0
    model.load_state_dict(ckpt["model"], strict=False)
    optimizer.load_state_dict(ckpt["optimizer"])
    step = int(ckpt["step"])
    log.info("resumed from the checkpoint at step %d of %d", step, total)
    return (
        step,
        [list(r) for r in ckpt["curve"]],
        float(ckpt["wall_s"]),
        float(ckpt["running"][0]),
        int(ckpt["running"][1]),
    )


def run_loop(
    model,
    optimizer,
    batches_for_epoch: Callable[[int], list],
    n_batches: int,
    tcfg: Mapping[str, Any],
    ckpt_dir,
    fingerprint: Mapping[str, Any],
    loss_fn: Callable[[Any], Any],
    after_checkpoint: Callable[[int], None],
) -> tuple[list[list[float]], float]:
    """The resumable optimisation loop shared by both kinds; returns the curve rows and train
    seconds. ``after_checkpoint(step)`` is called after each checkpoint is written."""
    import torch

    epochs, accum, steps_per_epoch, total = _steps(tcfg, n_batches)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    run = checkpoint.TrainingCheckpoints(ckpt_dir, fingerprint, tcfg["checkpoint_every"])
    step, rows, wall, running, seen = _resume(run, model, optimizer, total)
    log.info("training: %d epochs x %d steps = %d steps", epochs, steps_per_epoch, total)
    model.train()
    t0 = time.perf_counter() - wall
    batches, batches_epoch = None, -1
    bar = iter(progress.progress(range(total - step), total=total - step, desc="translator steps", logger=log))
    while step < total:
        epoch, position = divmod(step, steps_per_epoch)
        if epoch != batches_epoch:  # the data order of an epoch depends on (seed, epoch) only
            batches, batches_epoch = batches_for_epoch(epoch), epoch
        for k in range(accum):
            loss = loss_fn(batches[position * accum + k]) / accum
            loss.backward()
            running += float(loss.detach()) * accum
            seen += 1
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(tcfg["clip"]))
        scale = schedule(step, int(tcfg["warmup_steps"]), total)
        for g, lr in zip(optimizer.param_groups, base_lrs):
            g["lr"] = lr * scale
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        next(bar, None)
        if step % int(tcfg["log_every"]) == 0 or step == total:
            rows.append([step, epoch, running / max(seen, 1), base_lrs[0] * scale, time.perf_counter() - t0])
            running, seen = 0.0, 0
        if run.due(step, total) and step < total:
            state = {"model": trainable_state(model), "optimizer": optimizer.state_dict(), "curve": rows}
            run.save(step, {**state, "wall_s": time.perf_counter() - t0, "running": [running, seen]})
            after_checkpoint(step)
    for _ in bar:
        pass
    return rows, time.perf_counter() - t0


def save_translator(out_dir, out_curve_csv, rows, meta, model, tokenizer) -> None:
    """save_pretrained into a temporary sibling directory, then rename: no half-written model dir."""
    with io.atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        io.write_json(tmp / "translator.json", meta)
    with io.atomic_path(out_curve_csv) as tmp, open(tmp, "w", newline="") as fh:  # pandas costs a second to import
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CURVE_COLUMNS)
        writer.writerows(rows)
