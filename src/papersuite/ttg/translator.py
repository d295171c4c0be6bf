"""The Instruction Translator: English request -> linearised symbolic request (spec B1.1, B5.3).

Two kinds, one interface (:func:`train_translator`, :class:`Translator`):

- ``seq2seq`` (tiny): a small BART encoder-decoder built with ``transformers`` from a config (no
  download) and a ``tokenizers`` word-level tokenizer trained on the run's own training text
  (lower-cased, digits split into single tokens so numbers are copied digit by digit), trained
  from scratch with AdamW; saved with ``save_pretrained``.
- ``hub_lora`` (full): the pretrained instruction LLM named in the config (the paper fine-tuned
  Llama-3 70B per a secondary source; the recipe is not retrievable), loaded from the snapshot the
  download rule put on disk (``HF_HUB_OFFLINE=1``), fine-tuned with LoRA (peft) on a GPU as a causal
  LM on "prompt + target", the loss on the target tokens only.

Training resumes from ``papersuite.core.checkpoint`` files (model, optimizer, scheduler position,
data order, RNG state) to the same weights as an uninterrupted run.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from papersuite.core import checkpoint, io, progress, runtime

__all__ = [
    "MODEL_DEFAULTS",
    "PROMPT",
    "TRAIN_DEFAULTS",
    "Translator",
    "build_tokenizer",
    "build_seq2seq",
    "train_translator",
]

log = logging.getLogger("papersuite.ttg.translator")

SPECIALS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "bos_token": "[BOS]", "eos_token": "[EOS]"}
PROMPT = "Translate the travel request into its symbolic form.\nRequest: {text}\nSymbolic form:"

MODEL_DEFAULTS: dict[str, Any] = {
    "kind": "seq2seq",
    "arch": "t5",  # t5 | bart
    "d_model": 64,
    "layers": 2,  # encoder and decoder layers each
    "heads": 4,
    "ffn": 128,
    "dropout": 0.0,
    "max_source_len": 160,
    "max_target_len": 64,
    # hub_lora only
    "hub_model": None,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "lora_targets": ["q_proj", "k_proj", "v_proj", "o_proj"],
}
TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 15,
    "batch": 32,
    "lr": 2e-3,
    "weight_decay": 0.01,
    "warmup_steps": 100,
    "grad_accum": 1,
    "clip": 1.0,
    "checkpoint_every": 200,  # optimizer steps between resumable checkpoints (0: none)
    "log_every": 50,
    "min_steps": 0,  # small training subsets repeat epochs until this many steps (EM-vs-size curve)
    "unk_prob": 0.0,  # word dropout: replace source filler words by [UNK] with this probability
}
CURVE_COLUMNS = ["step", "epoch", "loss", "lr", "elapsed_s"]


# --------------------------------------------------------------------------- tokenizer and model


def build_tokenizer(texts: Sequence[str]):
    """A word-level ``tokenizers`` tokenizer trained on ``texts``, wrapped in PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token=SPECIALS["unk_token"]))
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    trainer = trainers.WordLevelTrainer(special_tokens=list(SPECIALS.values()), min_frequency=1)
    tok.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIALS)


def build_seq2seq(tokenizer, model: Mapping[str, Any]):
    """A T5 or BART encoder-decoder from a tiny config (random init from the global torch RNG)."""
    arch = model.get("arch", "t5")
    common = dict(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.bos_token_id,
    )
    if arch == "t5":
        from transformers import T5Config, T5ForConditionalGeneration

        config = T5Config(
            d_model=int(model["d_model"]),
            d_kv=int(model["d_model"]) // int(model["heads"]),
            d_ff=int(model["ffn"]),
            num_layers=int(model["layers"]),
            num_decoder_layers=int(model["layers"]),
            num_heads=int(model["heads"]),
            relative_attention_num_buckets=32,
            relative_attention_max_distance=128,
            dropout_rate=float(model["dropout"]),
            feed_forward_proj="relu",
            tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id,
            **common,
        )
        return T5ForConditionalGeneration(config)
    if arch == "bart":
        from transformers import BartConfig, BartForConditionalGeneration

        config = BartConfig(
            d_model=int(model["d_model"]),
            encoder_layers=int(model["layers"]),
            decoder_layers=int(model["layers"]),
            encoder_attention_heads=int(model["heads"]),
            decoder_attention_heads=int(model["heads"]),
            encoder_ffn_dim=int(model["ffn"]),
            decoder_ffn_dim=int(model["ffn"]),
            max_position_embeddings=max(int(model["max_source_len"]), int(model["max_target_len"])) + 2,
            dropout=float(model["dropout"]),
            attention_dropout=0.0,
            activation_dropout=0.0,
            bos_token_id=tokenizer.bos_token_id,
            forced_eos_token_id=None,
            scale_embedding=False,
            **common,
        )
        return BartForConditionalGeneration(config)
    raise ValueError(f"model.arch must be 't5' or 'bart', got {arch!r}")


def _encode(tokenizer, texts: Sequence[str], max_len: int, eos: bool = False) -> list[list[int]]:
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    tail = [tokenizer.eos_token_id] if eos else []
    return [x[: max_len - len(tail)] + tail for x in ids]


def _pad(seqs: Sequence[Sequence[int]], value: int):
    import torch

    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


# --------------------------------------------------------------------------- training


def read_pairs(path) -> list[dict]:
    from .sampling import read_requests

    return read_requests(path)


def subset_pairs(pairs: Sequence[dict], n: int | None, seed: int) -> list[dict]:
    """A seeded random subset of ``n`` training pairs (all of them for None or n >= len)."""
    if n is None or n >= len(pairs):
        return list(pairs)
    idx = np.sort(np.random.default_rng([int(seed), int(n)]).choice(len(pairs), size=int(n), replace=False))
    return [pairs[i] for i in idx]


def _length_batches(src: Sequence[Sequence[int]], batch: int, seed: int, pool: int = 16) -> list[list[int]]:
    """Batches of similar source length (less padding): shuffle, sort within pools of ``pool``
    batches, then shuffle the batches; depends on ``seed`` only."""
    import torch

    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(src), generator=g).tolist()
    batches = []
    for i in range(0, len(perm), batch * pool):
        chunk = sorted(perm[i : i + batch * pool], key=lambda j: len(src[j]))
        batches += [chunk[k : k + batch] for k in range(0, len(chunk), batch)]
    order = torch.randperm(len(batches), generator=g).tolist()
    return [batches[k] for k in order]


def _droppable_ids(tokenizer, targets: Sequence[str]):
    """Bool mask over the vocabulary: the filler words word dropout may hide. Never a token of the
    targets (cities, digits, keys), a month or a number word: those carry the request."""
    import torch

    from .render import MONTH_NAMES, NUMBER_WORDS

    vocab = tokenizer.get_vocab()
    keep = {t for text in targets for t in tokenizer.tokenize(text)}
    keep |= {m.lower() for m in MONTH_NAMES} | {m[:3].lower() for m in MONTH_NAMES} | set(NUMBER_WORDS)
    keep |= set(tokenizer.all_special_tokens)
    mask = torch.zeros(len(tokenizer), dtype=torch.bool)
    for token, i in vocab.items():
        mask[i] = token not in keep and token.isalpha()
    return mask


def _schedule(step: int, warmup: int, total: int) -> float:
    """Linear warm-up then linear decay to 0 (multiplier of the base lr)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def train_translator(
    train_jsonl,
    model: Mapping[str, Any],
    train: Mapping[str, Any],
    seed: int,
    n_pairs: int | None,
    out_dir,
    out_curve_csv,
    ckpt_dir,
    threads: int = 1,
    log_path=None,
    hub_dir=None,
) -> dict:
    """Train a translator on the first ``n_pairs`` of a seeded shuffle of the training pairs (all for
    None); write it to ``out_dir`` (save_pretrained + translator.json) and its loss curve."""
    runtime.setup_logging(log_path)
    mcfg = {**MODEL_DEFAULTS, **dict(model)}
    tcfg = {**TRAIN_DEFAULTS, **dict(train)}
    pairs = subset_pairs(read_pairs(train_jsonl), n_pairs, seed)
    if not pairs:
        raise ValueError(f"{train_jsonl}: no training pairs")
    if mcfg["kind"] == "seq2seq":
        return _train_seq2seq(pairs, mcfg, tcfg, seed, train_jsonl, out_dir, out_curve_csv, ckpt_dir, threads)
    if mcfg["kind"] == "hub_lora":
        if hub_dir is None:
            raise ValueError("a hub_lora translator needs hub_dir, the downloaded model snapshot")
        return _train_hub_lora(pairs, mcfg, tcfg, seed, train_jsonl, out_dir, out_curve_csv, ckpt_dir, threads, hub_dir)
    raise ValueError(f"model.kind must be 'seq2seq' or 'hub_lora', got {mcfg['kind']!r}")


def _fingerprint(pairs, mcfg, tcfg, seed, train_jsonl) -> dict:
    """What a checkpoint must have been written for to be resumed."""
    return {
        "model": mcfg,
        "train": tcfg,
        "seed": int(seed),
        "pairs": len(pairs),
        "data_sha256": io.sha256_file(train_jsonl),
    }


def _trainable_state(model) -> dict:
    """The trained tensors only: every weight of the seq2seq, the LoRA adapters of a hub LLM (a
    checkpoint of a 70B model's frozen weights would be 140 GB)."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def _after_checkpoint(step: int) -> None:
    """Hook called after each checkpoint is written; tests patch it to interrupt training."""


def _run_loop(
    model, optimizer, batches_for_epoch, n_batches: int, tcfg, seed, ckpt_dir, fingerprint, device, loss_fn
) -> tuple[list[list[float]], float]:
    """The resumable optimisation loop shared by both kinds; returns the curve rows and train seconds."""
    import torch

    epochs = int(tcfg["epochs"])
    accum = max(1, int(tcfg["grad_accum"]))
    steps_per_epoch = max(1, n_batches // accum)
    epochs = max(epochs, math.ceil(int(tcfg["min_steps"]) / steps_per_epoch))
    total = epochs * steps_per_epoch
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    rows: list[list[float]] = []
    step, wall, running, seen = 0, 0.0, 0.0, 0
    run = checkpoint.TrainingCheckpoints(ckpt_dir, fingerprint, tcfg["checkpoint_every"])
    ckpt = run.resume()
    if ckpt is not None:
        model.load_state_dict(ckpt["model"], strict=False)
        optimizer.load_state_dict(ckpt["optimizer"])
        step = int(ckpt["step"])
        rows = [list(r) for r in ckpt["curve"]]
        wall = float(ckpt["wall_s"])
        running, seen = float(ckpt["running"][0]), int(ckpt["running"][1])
        log.info("resumed from the checkpoint at step %d of %d", step, total)
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
        scale = _schedule(step, int(tcfg["warmup_steps"]), total)
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
            run.save(
                step,
                {
                    "model": _trainable_state(model),
                    "optimizer": optimizer.state_dict(),
                    "curve": rows,
                    "wall_s": time.perf_counter() - t0,
                    "running": [running, seen],
                },
            )
            _after_checkpoint(step)
    for _ in bar:
        pass
    return rows, time.perf_counter() - t0


def _train_seq2seq(pairs, mcfg, tcfg, seed, train_jsonl, out_dir, out_curve_csv, ckpt_dir, threads) -> dict:
    import torch

    device = runtime.choose_device(threads)
    runtime.seed_everything(seed)
    texts = [p["text"] for p in pairs]
    targets = [p["target"] for p in pairs]
    tokenizer = build_tokenizer(texts + targets)
    src = _encode(tokenizer, texts, int(mcfg["max_source_len"]))
    tgt = _encode(tokenizer, targets, int(mcfg["max_target_len"]), eos=True)
    model = build_seq2seq(tokenizer, mcfg).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log.info(
        "seq2seq translator: %d pairs, vocabulary %d, %.2fM parameters, source length %d, target %d",
        len(pairs),
        len(tokenizer),
        n_params / 1e6,
        max(map(len, src)),
        max(map(len, tgt)),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"]))
    batch = int(tcfg["batch"])
    n_batches = math.ceil(len(pairs) / batch)
    pad = tokenizer.pad_token_id

    droppable = _droppable_ids(tokenizer, targets) if float(tcfg["unk_prob"]) > 0 else None

    def batches_for_epoch(epoch: int):
        out = []
        g = torch.Generator().manual_seed(int(seed) * 7919 + epoch)
        for idx in _length_batches(src, batch, int(seed) * 100003 + epoch):
            input_ids = _pad([src[j] for j in idx], pad)
            if droppable is not None:
                drop = (torch.rand(input_ids.shape, generator=g) < float(tcfg["unk_prob"])) & droppable[input_ids]
                input_ids = input_ids.masked_fill(drop, tokenizer.unk_token_id)
            labels = _pad([tgt[j] for j in idx], -100)
            out.append((input_ids, input_ids != pad, labels))
        return out

    def loss_fn(b):
        input_ids, mask, labels = (t.to(device) for t in b)
        return model(input_ids=input_ids, attention_mask=mask, labels=labels).loss

    fingerprint = _fingerprint(pairs, mcfg, tcfg, seed, train_jsonl)
    rows, wall = _run_loop(
        model, optimizer, batches_for_epoch, n_batches, tcfg, seed, ckpt_dir, fingerprint, device, loss_fn
    )
    meta = {
        "kind": "seq2seq",
        "train_pairs": len(pairs),
        "parameters": n_params,
        "vocabulary": len(tokenizer),
        "train_wall_s": wall,
        "steps": int(rows[-1][0]) if rows else 0,
        "device": str(device),
        "max_source_len": int(mcfg["max_source_len"]),
        "max_target_len": int(mcfg["max_target_len"]),
        "seed": int(seed),
        "final_loss": rows[-1][2] if rows else None,
    }
    _save(out_dir, out_curve_csv, rows, meta, model=model.cpu(), tokenizer=tokenizer)
    checkpoint.clear_checkpoints(ckpt_dir)
    log.info("trained in %.1f s, final loss %.4f", wall, meta["final_loss"] or float("nan"))
    return meta


def _save(out_dir, out_curve_csv, rows, meta, model, tokenizer) -> None:
    """save_pretrained into a temporary sibling directory, then rename: no half-written model dir."""
    with io.atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        io.write_json(tmp / "translator.json", meta)
    io.write_csv(out_curve_csv, pd.DataFrame(rows, columns=CURVE_COLUMNS))


# --------------------------------------------------------------------------- full scale: LoRA on a hub LLM


def causal_lm_example(tokenizer, text: str, target: str, max_len: int) -> tuple[list[int], list[int]]:
    """(input ids, labels) of "prompt + target + eos" with the prompt's labels masked to -100."""
    prompt = tokenizer(PROMPT.format(text=text), add_special_tokens=True)["input_ids"]
    answer = tokenizer(" " + target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = (prompt + answer)[:max_len]
    labels = ([-100] * len(prompt) + answer)[:max_len]
    return ids, labels


def _train_hub_lora(pairs, mcfg, tcfg, seed, train_jsonl, out_dir, out_curve_csv, ckpt_dir, threads, hub_dir) -> dict:
    import os

    import torch
    from peft import LoraConfig, get_peft_model  # full scale only
    from transformers import AutoModelForCausalLM, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # compute nodes read the downloaded snapshot only
    device = runtime.choose_device(threads)
    runtime.seed_everything(seed)
    tokenizer = AutoTokenizer.from_pretrained(hub_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    base = AutoModelForCausalLM.from_pretrained(
        hub_dir, dtype=dtype, device_map="auto" if device.type == "cuda" else None
    )
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
    max_len = int(mcfg["max_source_len"]) + int(mcfg["max_target_len"]) + 64
    examples = [causal_lm_example(tokenizer, p["text"], p["target"], max_len) for p in pairs]
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"]))
    batch = int(tcfg["batch"])
    n_batches = math.ceil(len(examples) / batch)
    input_device = model.get_input_embeddings().weight.device

    def batches_for_epoch(epoch: int):
        perm = torch.randperm(len(examples), generator=torch.Generator().manual_seed(int(seed) * 100003 + epoch))
        out = []
        for i in range(0, len(examples), batch):
            idx = perm[i : i + batch].tolist()
            ids = _pad([examples[j][0] for j in idx], tokenizer.pad_token_id)
            labels = _pad([examples[j][1] for j in idx], -100)
            mask = _pad([[1] * len(examples[j][0]) for j in idx], 0)
            out.append((ids, mask, labels))
        return out

    def loss_fn(b):
        ids, mask, labels = (t.to(input_device) for t in b)
        return model(input_ids=ids, attention_mask=mask, labels=labels).loss

    fingerprint = _fingerprint(pairs, mcfg, tcfg, seed, train_jsonl)
    rows, wall = _run_loop(
        model, optimizer, batches_for_epoch, n_batches, tcfg, seed, ckpt_dir, fingerprint, device, loss_fn
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
    _save(out_dir, out_curve_csv, rows, meta, model=model, tokenizer=tokenizer)  # adapter weights only
    checkpoint.clear_checkpoints(ckpt_dir)
    return meta


# --------------------------------------------------------------------------- inference


class Translator:
    """A trained translator: ``translate(texts)`` -> linearised targets (greedy decoding)."""

    def __init__(self, model_dir, threads: int | None = None, device: str = "auto"):
        import torch

        self.model_dir = Path(model_dir)
        meta_path = self.model_dir / "translator.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{self.model_dir}: no trained translator here (translator.json missing)")
        self.meta = io.read_json(meta_path)
        self.device = runtime.choose_device(threads, prefer=device)
        self.kind = self.meta["kind"]
        if self.kind == "seq2seq":
            from transformers import AutoModelForSeq2SeqLM, PreTrainedTokenizerFast

            self.tokenizer = PreTrainedTokenizerFast.from_pretrained(self.model_dir)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(self.model_dir).to(self.device)
        elif self.kind == "hub_lora":
            import os

            from peft import PeftModel

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from transformers import AutoModelForCausalLM, AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            self.tokenizer.padding_side = "left"
            dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
            base = AutoModelForCausalLM.from_pretrained(
                self.meta["base_dir"], dtype=dtype, device_map="auto" if self.device.type == "cuda" else None
            )
            self.model = PeftModel.from_pretrained(base, self.model_dir)
        else:
            raise ValueError(f"{meta_path}: unknown translator kind {self.kind!r}")
        self.model.eval()

    def unknown_fraction(self, text: str) -> float:
        """Share of the words of ``text`` the tokenizer has never seen (seq2seq only; 0 otherwise)."""
        if self.kind != "seq2seq":
            return 0.0
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return sum(i == self.tokenizer.unk_token_id for i in ids) / max(len(ids), 1)

    def _constraint(self, texts: Sequence[str], cities: Sequence[str]):
        """prefix_allowed_tokens_fn of the target grammar, cities restricted to those each text names."""
        from .grammar import END, allowed_next, mentioned_cities

        vocab = self.tokenizer.get_vocab()
        inverse = {i: t for t, i in vocab.items()}
        known = [c.lower() for c in cities if c.lower() in vocab]
        per_text = [[c for c in mentioned_cities(t, known)] or known for t in texts]
        eos, pad = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        skip = {self.tokenizer.bos_token_id, pad}

        def allowed(batch_id: int, input_ids) -> list[int]:
            prefix = [inverse[i] for i in input_ids.tolist() if i not in skip]
            if prefix and prefix[-1] == SPECIALS["eos_token"]:
                return [pad, eos]
            tokens = allowed_next(prefix, per_text[batch_id])
            ids = [eos if t == END else vocab[t] for t in tokens if t == END or t in vocab]
            return ids or [eos]

        return allowed

    def translate(self, texts: Sequence[str], batch_size: int = 64, cities: Sequence[str] | None = None) -> list[str]:
        """Greedy decoding; with ``cities`` (the world's), constrained to the target grammar
        (:mod:`papersuite.ttg.grammar`; seq2seq only)."""
        import torch

        out: list[str] = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                chunk = list(texts[i : i + batch_size])
                if self.kind == "seq2seq":
                    src = _encode(self.tokenizer, chunk, int(self.meta["max_source_len"]))
                    ids = _pad([s or [self.tokenizer.unk_token_id] for s in src], self.tokenizer.pad_token_id)
                    constraint = self._constraint(chunk, cities) if cities is not None else None
                    gen = self.model.generate(
                        input_ids=ids.to(self.device),
                        attention_mask=(ids != self.tokenizer.pad_token_id).to(self.device),
                        max_new_tokens=int(self.meta["max_target_len"]),
                        num_beams=1,
                        do_sample=False,
                        prefix_allowed_tokens_fn=constraint,
                    )
                    for row in gen.tolist():
                        toks = self.tokenizer.convert_ids_to_tokens(row)
                        words = []
                        for t in toks:
                            if t == SPECIALS["eos_token"]:
                                break
                            if t not in (SPECIALS["bos_token"], SPECIALS["pad_token"]):
                                words.append(t)
                        out.append(" ".join(words))
                else:
                    prompts = [PROMPT.format(text=t) for t in chunk]
                    enc = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.model.device)
                    gen = self.model.generate(
                        **enc,
                        max_new_tokens=int(self.meta["max_target_len"]) * 2,
                        do_sample=False,
                        pad_token_id=self.tokenizer.pad_token_id,
                    )
                    new = gen[:, enc["input_ids"].shape[1] :]
                    out.extend(t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True))
        return out
