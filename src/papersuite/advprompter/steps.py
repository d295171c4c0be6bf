"""Workflow entry points of advprompter (workflow/rules/advprompter.smk): `prepare` builds the benign tiny world and its
two LMs, `prepare_advbench` readies AdvBench and one target's hub models (full scale), `train` runs AdvPrompterTrain
for one lambda and seed and evaluates before and after, `table` writes Table 1's shape. The paper: Paulus,
Zharmagambetov, Guo, Amos, Tian, "AdvPrompter: Fast Adaptive Adversarial Prompting for LLMs", ICML 2025,
arXiv:2404.16873; docs/papers/advprompter.md describes what each step reproduces.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .spec import TargetSpec, Vocab

__all__ = ["prepare", "prepare_advbench", "train", "table"]

log = logging.getLogger("papersuite.advprompter.steps")

SPLITS = ("train", "validation", "test")
TARGET, PROMPTER, MANIFEST, KEYWORDS = "target", "prompter", "manifest.json", "refusal_keywords.csv"


@dataclass(frozen=True, eq=False)
class World:
    """What training reads from a prepared data dir: the splits, both tokenizers and models, the target's spec."""

    rows: dict[str, list[dict[str, str]]]
    ptok: Vocab
    prompter: Any  # the base prompter LM (LoRA is added by train)
    ttok: Vocab
    target: Any  # frozen
    spec: TargetSpec


def prepare(*, world: Mapping[str, Any], models: Mapping[str, Any], seed: int, out_dir: str | Path,
            threads: int = 1, log_path: str | Path | None = None) -> None:  # fmt: skip
    """The tiny world's CSVs (AdvBench schema), both tokenizers, the trained target and prompter base LMs."""
    from safetensors.torch import save_file

    from papersuite.core import io, runtime

    from . import lms
    from . import world as tiny

    runtime.setup_logging(log_path)
    runtime.choose_device(threads)
    runtime.seed_everything(seed)
    rows = tiny.make_behaviours(seed)
    split = tiny.split_behaviours(rows)
    dialogs = tiny.target_dialogs(rows, int(world["n_dialogs"]), seed)
    corpus = tiny.prompter_corpus(rows, int(world["n_prompter_texts"]), seed, float(world["p_trigger_prompter"]))
    ttok = lms.train_tokenizer([p + r for p, r in dialogs], int(models["target_vocab"]))
    ptok = lms.train_tokenizer(corpus, int(models["prompter_vocab"]))
    target, t_losses = lms.train_target(dialogs, ttok, dict(models["train"]), seed)
    base, p_losses = lms.train_prompter_base(corpus, ptok, dict(models["train"]), seed + 1)
    with io.atomic_dir(out_dir) as tmp:
        for name in SPLITS:
            tiny.write_csv(split[name], Path(tmp) / f"{name}.csv")
        io.write_text(Path(tmp) / KEYWORDS, "prefix\n" + "\n".join(tiny.REFUSAL_KEYWORDS) + "\n")
        for name, model, tok in ((TARGET, target, ttok), (PROMPTER, base, ptok)):
            save_file(
                {k: v.contiguous() for k, v in model.state_dict().items()}, str(Path(tmp) / f"{name}.safetensors")
            )
            tok.save(str(Path(tmp) / f"{name}_tokenizer.json"))
        manifest = {"kind": "tiny_world", "world": dict(world), "models": dict(models), "seed": seed,
                    "target_final_loss": t_losses[-1], "prompter_final_loss": p_losses[-1]}  # fmt: skip
        io.write_json(Path(tmp) / MANIFEST, manifest)
    log.info(
        "target loss %.3f -> %.3f, prompter loss %.3f -> %.3f", t_losses[0], t_losses[-1], p_losses[0], p_losses[-1]
    )


def prepare_advbench(*, splits: Mapping[str, str | Path], keywords: str | Path, prompter_dir: str | Path,
                     target_dir: str | Path, target: str, template: Sequence[str], out_dir: str | Path,
                     log_path: str | Path | None = None) -> None:  # fmt: skip
    """AdvBench in the authors' train/validation/test split (checked for the `instruct,target` schema), the
    original's refusal keywords, where the prompter and target snapshots are, and the target's prompt template
    (pieces with one {full_instruct}, the original's conf/target_llm/<name>.yaml; full scale)."""
    from papersuite.core import io, runtime

    from . import world as tiny

    runtime.setup_logging(log_path)
    rows = {split: tiny.read_csv(Path(splits[split])) for split in SPLITS}
    words = [w.strip().strip('"') for w in Path(keywords).read_text().splitlines() if w.strip()]
    spec = TargetSpec(template=tuple(template), refusal_keywords=tuple(words))  # checks both
    with io.atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            tiny.write_csv(rows[split], Path(tmp) / f"{split}.csv")
        io.write_text(Path(tmp) / KEYWORDS, "prefix\n" + "\n".join(words) + "\n")
        io.write_json(Path(tmp) / MANIFEST, {"kind": "advbench", "target": target, "prompter_dir": str(prompter_dir),
                      "target_dir": str(target_dir), "template": list(spec.template),
                      "rows": {s: len(r) for s, r in rows.items()}})  # fmt: skip
    log.info("AdvBench %s; %d refusal keywords", {s: len(r) for s, r in rows.items()}, len(words))


def load_world(data_dir: str | Path, device=None) -> World:
    """The splits, tokenizers, models and target spec of prepare's (tiny, on the CPU) or prepare_advbench's
    directory (hub snapshots on `device`, default CPU)."""
    from papersuite.core import io

    from . import world as tiny
    from .spec import read_keywords

    data_dir = Path(data_dir)
    manifest = io.read_json(data_dir / MANIFEST)
    rows = {s: tiny.read_csv(data_dir / f"{s}.csv") for s in SPLITS}
    keywords = read_keywords(data_dir / KEYWORDS)
    kind = manifest.get("kind", "tiny_world")
    if kind == "tiny_world":
        (ptok, prompter), (ttok, target) = (_load_tiny(data_dir, name, manifest) for name in (PROMPTER, TARGET))
        spec = tiny.target_spec(keywords)
    elif kind == "advbench":
        prompter_dir, target_dir = manifest["prompter_dir"], manifest["target_dir"]
        (ptok, prompter), (ttok, target) = (_load_hub(path, device) for path in (prompter_dir, target_dir))
        spec = TargetSpec(template=tuple(manifest["template"]), refusal_keywords=keywords)
    else:
        raise ValueError(f"{data_dir}: unknown kind {kind!r}")
    target.requires_grad_(False)
    return World(rows, ptok, prompter, ttok, target, spec)


def _load_tiny(data_dir: Path, name: str, manifest: Mapping[str, Any]):
    """(Vocab, GPT-2 in eval mode) of one tiny LM, both written by prepare."""
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    from . import lms
    from .spec import vocab_from_tokens

    tok = Tokenizer.from_file(str(data_dir / f"{name}_tokenizer.json"))
    model = lms.build_gpt2(tok.get_vocab_size(), **manifest["models"]["train"]["arch"], seed=0)
    model.load_state_dict(load_file(str(data_dir / f"{name}.safetensors")))
    return vocab_from_tokens(tok, lms.BOS, lms.EOS, pad=lms.PAD), model.eval()


def _load_hub(path: str | Path, device=None):
    """(Vocab, causal LM in eval mode) of a hub snapshot, offline and from safetensors only: bf16 on CUDA, fp32 on
    the CPU (the original: fp32 prompter, fp16 target)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .spec import vocab_from_transformers

    device = torch.device("cpu") if device is None else torch.device(device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, local_files_only=True, use_safetensors=True)
    return vocab_from_transformers(tokenizer), model.to(device).eval()


def search_seconds(prompter, ptok, target, ttok, spec, rows, search, seed: int) -> list[float]:
    """Wall seconds of one AdvPrompterOpt search per instruction (the per-instance optimisation the trained
    prompter replaces)."""
    import torch

    from .opt import advprompter_opt
    from .problem import TextSuffixProblem

    seconds = []
    for row in rows:
        start = time.perf_counter()
        problem = TextSuffixProblem(prompter, ptok, target, ttok, spec, row["instruct"], row["target"])
        advprompter_opt(problem, search, torch.Generator().manual_seed(seed))
        seconds.append(time.perf_counter() - start)
    return seconds


def train(*, experiment: str, lambda_val: float, config: Mapping[str, Any], seed: int, scale: str, data_dir: str | Path,
          out_record: str | Path, threads: int, ckpt_dir: str | Path | None = None,
          log_path: str | Path | None = None) -> None:  # fmt: skip
    """AdvPrompterTrain at one lambda; train/test ASR@1, ASR@k, perplexity and time per suffix before and after
    training, the gain in test ASR@k (paired over instructions) and the search-to-generation time ratio."""
    from papersuite.core import io, records, runtime
    from papersuite.core.checkpoint import TrainingCheckpoints

    from .evaluate import evaluate_prompter, training_metrics
    from .opt import SearchConfig
    from .prompter import add_lora
    from .spec import model_device
    from .train import TrainConfig, advprompter_train

    runtime.setup_logging(log_path)
    device = runtime.choose_device(threads)
    runtime.seed_everything(seed)
    start = time.perf_counter()
    world = load_world(data_dir, device)
    rows, ptok, ttok, target, spec = world.rows, world.ptok, world.ttok, world.target, world.spec
    lora = dict(config.get("lora", {}))  # modules: the architecture's (spec.LORA_MODULES) unless named
    prompter = add_lora(world.prompter, r=int(lora.get("r", 8)), alpha=float(lora.get("alpha", 16)),
                        modules=lora.get("modules"), seed=seed)  # fmt: skip
    search = SearchConfig(**dict(config["search"]), lambda_val=float(lambda_val))
    cfg = TrainConfig(**dict(config["train"]), search=search)
    ev = dict(config["evaluate"])
    n_eval = int(ev["n_instructions"])
    splits = {"test": rows["test"][:n_eval], "train": rows["train"][:n_eval]}

    def evaluate(split):
        args = (splits[split], list(ev["lengths"]), int(ev["trials"]), cfg.response_tokens, seed)
        return evaluate_prompter(prompter, ptok, target, ttok, spec, *args)

    before = {split: evaluate(split) for split in splits}
    data = {path.name: io.sha256_file(path) for path in sorted(Path(data_dir).iterdir())}  # prepare's files
    fingerprint = {"config": dict(config), "lambda": float(lambda_val), "seed": seed, "data": data}
    run = TrainingCheckpoints(ckpt_dir, fingerprint, int(config.get("ckpt_every", 0)))
    history = advprompter_train(prompter, ptok, target, ttok, spec, rows["train"][: int(config["n_train"])], cfg, seed,
                                run)  # fmt: skip
    after = {split: evaluate(split) for split in splits}
    timed = splits["test"][: int(ev["n_search_timing"])]
    search_s = search_seconds(prompter, ptok, target, ttok, spec, timed, search, seed)
    metrics = training_metrics(before, after, search_s)
    rec = records.make_record(
        paper="advprompter", experiment=experiment, method=f"lambda{lambda_val:g}",
        seed=seed, scale=scale, metrics={k: records.finite_or_none(v) for k, v in metrics.items()},
        wall_s=time.perf_counter() - start, device=model_device(target),
        config={"config": dict(config), "lambda": float(lambda_val)},
        extra={"history": history, "asr_curve_before": before["test"]["asr_curve"],
               "asr_curve_after": after["test"]["asr_curve"], "examples_before": before["test"]["examples"],
               "examples_after": after["test"]["examples"]},
    )  # fmt: skip
    records.write_record(out_record, rec)
    run.clear()
    log.info(
        "lambda %g: test ASR@1 %.3f -> %.3f, ASR@k %.3f -> %.3f, perplexity %.2f -> %.2f, search/generation %.0fx",
        lambda_val, before["test"]["asr_at_1"], after["test"]["asr_at_1"], metrics["test_asr_at_k_before"],
        metrics["test_asr_at_k_after"], before["test"]["perplexity"], after["test"]["perplexity"],
        metrics["search_over_generation"],
    )  # fmt: skip


def table(*, records: Sequence[str | Path], references: str | Path, scale: str, out_csv: str | Path,
          out_md: str | Path, out_figure: str | Path, log_path: str | Path | None = None) -> None:  # fmt: skip
    """Table 1's shape (ours before/after training per lambda, the paper's reprinted rows beside) and the figure of
    ASR and perplexity vs lambda."""
    from papersuite.core import runtime, tables
    from papersuite.core.records import load_records, records_frame
    from papersuite.core.references import load_references, paper_numbers

    from . import report

    runtime.setup_logging(log_path)
    frame = records_frame(load_records(records))
    table1 = report.table1(frame, paper_numbers(load_references(references)))
    notes = [
        "ASR in %, keyword judge (no refusal keyword in the target's greedy response); ASR@10 = any success in 10"
        " sampled suffixes per instruction (5 trials x lengths), ASR@1 = the first; PPL = perplexity of the suffix"
        " under the base prompter. Ours: mean ± se over seeds (or the run's own se).",
        "The paper's rows come from config/references/advprompter.yaml with their source; verified = False: read in"
        " a reprint (ReMiss, arXiv:2406.14393), not in the paper itself.",
    ]
    if scale == "tiny":
        notes.append(
            "Tiny: a SYNTHETIC benign toy world (a 2-layer target trained to refuse unless the word 'game' appears;"
            " toy secrets), not AdvBench: our numbers are not comparable with the paper's rows, only their shape."
        )
    tables.write_estimates(table1, out_csv, out_md, "AdvPrompter: Table 1 shape", notes)
    report.lambda_figure(frame, out_figure)
