"""Workflow entry points of tokenbounds: one function per rule `tokenbounds_<step>`, called by
`workflow/scripts/tokenbounds/<step>.py`. Each imports its science lazily. The paper: Lotfi, Kuang, Amos, Goldblum,
Finzi, Wilson, "Unlocking Tokens as Data Points for Generalization Bounds on Larger Language Models", NeurIPS 2024,
arXiv:2407.18158; what each step reproduces is described in docs/papers/tokenbounds.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["prepare", "prepare_openwebtext", "bound", "ptq", "table"]

log = logging.getLogger("papersuite.tokenbounds.steps")

STREAM, TOKENIZER, MANIFEST = "stream.npy", "tokenizer.json", "manifest.json"
TOPK = (1, 10, 100)


def prepare(*, corpus: Mapping[str, Any], seed: int, out_dir: str | Path, log_path: str | Path | None = None) -> None:
    """The stdlib corpus (manifest with sha256 per file), a byte-level BPE and the training token stream."""
    import numpy as np

    from papersuite.core import io, runtime

    from .data import encode_stream, stdlib_documents, train_tokenizer

    runtime.setup_logging(log_path)
    train_docs, _, manifest = stdlib_documents(int(corpus["max_train_bytes"]), float(corpus["heldout_frac"]), seed)
    tok = train_tokenizer(train_docs, int(corpus["vocab_size"]))
    stream = encode_stream(tok, train_docs)
    manifest.update({"vocab_size": int(corpus["vocab_size"]), "n_tokens": int(len(stream))})
    with io.atomic_dir(out_dir) as tmp:
        np.save(Path(tmp) / STREAM, stream)
        tok.save(str(Path(tmp) / TOKENIZER))
        io.write_json(Path(tmp) / MANIFEST, manifest)
    log.info("stdlib: %d documents, %d bytes, %d tokens", len(train_docs), manifest["train_bytes"], len(stream))


def prepare_openwebtext(*, subsets: Sequence[str | Path], tokenizer_dir: str | Path, eot: str, out_dir: str | Path,
                        log_path: str | Path | None = None) -> None:  # fmt: skip
    """OpenWebText (the downloaded subset tars) tokenized with the pretrained tokenizer into one token stream."""
    from tokenizers import Tokenizer

    from papersuite.core import io, runtime

    from .openwebtext import documents, write_stream

    runtime.setup_logging(log_path)
    tok = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
    eot_id = tok.token_to_id(eot)
    if eot_id is None:
        raise ValueError(f"{tokenizer_dir}/tokenizer.json: no token {eot!r} to separate documents")
    with io.atomic_dir(out_dir) as tmp:
        counts = write_stream(documents(subsets), tok, eot_id, Path(tmp) / STREAM)
        manifest = {"corpus": "openwebtext", "subsets": [Path(s).name for s in subsets], "eot_id": eot_id,
                    "vocab_size": tok.get_vocab_size(), "params": {"tokenizer": str(tokenizer_dir)},
                    **counts}  # fmt: skip
        io.write_json(Path(tmp) / MANIFEST, manifest)
    log.info("openwebtext: %d documents, %d tokens", counts["n_docs"], counts["n_tokens"])


def ptq(*, model: str, snapshot_dir: str | Path, evaluate: Mapping[str, Any], block_size: int, seed: int,
        scale: str, data_dir: str | Path, out_record: str | Path, threads: int,
        log_path: str | Path | None = None) -> None:  # fmt: skip
    """A pretrained model quantized after training, coded and bounded on the stream (the paper's GPT-2 rows)."""
    import numpy as np

    from papersuite.core import io, records, runtime

    from .evaluate import model_bounds
    from .pretrained import load_pretrained

    runtime.setup_logging(log_path)
    device = runtime.choose_device(threads)
    start = time.perf_counter()
    manifest = io.read_json(Path(data_dir) / MANIFEST)
    stream = np.load(Path(data_dir) / STREAM, mmap_mode="r")
    net = load_pretrained(snapshot_dir, device)
    vocab = int(net.hf.config.vocab_size)
    if vocab < int(manifest["vocab_size"]):
        raise ValueError(f"{snapshot_dir}: vocabulary {vocab} < the stream's tokenizer ({manifest['vocab_size']})")
    metrics = model_bounds(net, stream, int(manifest["eot_id"]), vocab, block_size, dict(evaluate), seed)
    rec = records.make_record(
        paper="tokenbounds", experiment=f"{manifest['corpus']}_pretrained", method=model, seed=seed, scale=scale,
        metrics={k: records.finite_or_none(v) for k, v in metrics.items()}, wall_s=time.perf_counter() - start,
        device=device, config={"evaluate": dict(evaluate), "block_size": block_size, "snapshot": str(snapshot_dir)},
        extra={"kind": "post-training quantization", "n_tokens": manifest["n_tokens"]},
    )  # fmt: skip
    records.write_record(out_record, rec)


def bound(
    *,
    experiment: str = "stdlib",
    method: str,
    config: Mapping[str, Any],
    seed: int,
    scale: str,
    data_dir: str | Path,
    out_record: str | Path,
    ckpt_dir: str | Path | None,
    threads: int,
    log_path: str | Path | None = None,
) -> None:
    """Train one parametrization (config: kind, arch, train, evaluate; optional vocab_size, the model's vocabulary when
    larger than the stream's tokenizer, e.g. GPT-2's 50257 padded to 50304) on the stream, compress it, bound it."""
    import numpy as np

    from papersuite.core import io, records, runtime

    from .evaluate import model_bounds
    from .gpt import build_model
    from .train import train_model

    runtime.setup_logging(log_path)
    device = runtime.choose_device(threads)
    start = time.perf_counter()
    stream = np.load(Path(data_dir) / STREAM, mmap_mode="r")
    manifest = io.read_json(Path(data_dir) / MANIFEST)
    vocab = max(int(manifest["vocab_size"]), int(config.get("vocab_size", 0)))
    eot_id = int(manifest.get("eot_id", 0))  # the stdlib BPE puts its EOT first (id 0)
    arch = dict(config["arch"])
    model = build_model(vocab, config["kind"], arch, seed=seed)
    losses = train_model(model, stream, int(arch["block_size"]), dict(config["train"]), seed, ckpt_dir)
    metrics = model_bounds(model, stream, eot_id, vocab, int(arch["block_size"]), dict(config["evaluate"]), seed)
    metrics["train_loss_bits"] = float(np.mean(losses[-20:]) / np.log(2))
    rec = records.make_record(
        paper="tokenbounds",
        experiment=experiment,
        method=method,
        seed=seed,
        scale=scale,
        metrics={k: records.finite_or_none(v) for k, v in metrics.items()},
        wall_s=time.perf_counter() - start,
        device=device,
        config={"method": dict(config), "data": manifest["params"]},
        extra={"steps": len(losses), "kind": config["kind"]},
    )
    records.write_record(out_record, rec)
    if ckpt_dir is not None:
        from papersuite.core.checkpoint import clear_checkpoints

        clear_checkpoints(ckpt_dir)


def table(
    *,
    records: Sequence[str | Path],
    vocab_size: int,
    out_csv: str | Path,
    out_md: str | Path,
    out_figure: str | Path,
    log_path: str | Path | None = None,
) -> None:
    """Table 1's shape (BPD and top-k bounds, compressed size, empirical BPD, random guess) with the document-level
    bound beside the token-level one, and the bound vs compressed size figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from papersuite.core import plotting, runtime, tables
    from papersuite.core.records import load_records, records_frame

    from .evaluate import random_guess

    runtime.setup_logging(log_path)
    frame = records_frame(load_records(records))
    cols = ["bpd_bound", "doc_bound", *[f"top{k}_bound" for k in TOPK], "compressed_bits", "bpd_empirical"]
    summary = tables.summarize(frame, ["experiment", "method"], cols)  # stdlib (from scratch); full: + pretrained
    guess = random_guess(vocab_size, TOPK)
    notes = [
        f"random guess: {guess['bpd']:.3f} bits per token; top-k error "
        + ", ".join(f"top-{k} {guess[f'top{k}']:.4f}" for k in TOPK),
        "bpd_bound: token-level (m = training tokens); doc_bound: document-level bound of the same quantized model"
        " (m = documents). Values below the random-guess line are non-vacuous.",
    ]
    tables.write_estimates(summary, out_csv, out_md, "Token-level bounds on the stdlib corpus (Table 1 shape)", notes)
    plotting.apply_style()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    colors = plotting.method_colors(summary["method"])
    for _, row in summary.iterrows():
        ax.scatter(row["compressed_bits"], row["bpd_bound"], color=colors[row["method"]], label=row["method"])
    ax.axhline(guess["bpd"], color="grey", ls="--", lw=1, label="random guess")
    ax.set(xscale="log", xlabel="compressed size C (bits)", ylabel="BPD bound (bits per token)")
    ax.legend(fontsize=7)
    plotting.save_figure(fig, out_figure)
