"""Workflow steps of the oni wing (docs/papers/oni.md, "Workflow"): train one agent per reward type and seed with
the live LLM server inside the job, then the tables and figures. Heavy imports stay inside the functions."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["server_command", "run_metrics", "train", "table"]

METRICS = [
    "return_mean",
    "success_rate",
    "episode_distinct",
    "run_distinct",
    "labels_distinct",
    "labels_foo",
    "rm_accuracy",
    "rm_majority",
    "rm_gain",
    "annot_msgs_per_s",
    "annot_latency_p50",
    "annot_latency_p95",
]


def server_command(server: Mapping[str, Any]) -> tuple[list[str], int | None]:
    """(command, port) of the LLM server: `transformers` = our FastAPI server (prints its port), `vllm` = vLLM's
    OpenAI-compatible server on a fixed port (full scale, the paper's Llama-3.1-8B-Instruct)."""
    if server["kind"] == "transformers":
        command = [sys.executable, "-m", "papersuite.oni.server", server["model"], "--threads", str(server["threads"])]
        return command + (["--raw"] if server["raw"] else []), None
    if server["kind"] == "vllm":
        port = int(server["port"])
        command = ["vllm", "serve", server["model"], "--host", "127.0.0.1", "--port", str(port)]
        return command + [str(a) for a in server.get("args", [])], port
    raise ValueError(f"unknown server kind {server['kind']!r}")


def _latency_metrics(stats: Any) -> dict[str, float | None]:
    """Annotation throughput (labelled messages per second of requests) and request latency p50/p95."""
    import numpy as np

    lat = np.asarray(getattr(stats, "latencies", []) or [], dtype=float)  # (requests,) seconds
    if lat.size == 0:
        return {"annot_msgs_per_s": None, "annot_latency_p50": None, "annot_latency_p95": None}
    return {
        "annot_msgs_per_s": stats.labelled / float(lat.sum()),
        "annot_latency_p50": float(np.percentile(lat, 50)),
        "annot_latency_p95": float(np.percentile(lat, 95)),
    }


@contextlib.contextmanager
def _spawned_children_skip_main() -> Iterator[None]:
    """Hide the main script's path while the job spawns processes: multiprocessing's spawn re-runs `__main__.__file__`
    in every child (the collector's env workers, the annotator), and a Snakemake script would start a second job
    there. Everything the children need lives in papersuite modules."""
    main = sys.modules["__main__"]
    path = main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        if path is not None:
            main.__file__ = path


def run_metrics(out: Mapping[str, Any], kind: str, last_frac: float) -> dict[str, float | None]:
    """A run's metrics with their standard errors: episodes in the last `last_frac` of training (per-episode SEs),
    distinct messages over the run, labels, the classifier against the majority class, annotation speed."""
    from papersuite.core.noise import mean_se, rate_se

    episodes = out["episodes"]  # (frames, return, distinct, success)
    total = out["curve"][-1][0] if out["curve"] else 0
    late = [e for e in episodes if e[0] > (1.0 - last_frac) * total] or episodes
    m: dict[str, float | None] = {}
    if late:
        m["return_mean"], m["return_mean_se"] = mean_se([e[1] for e in late])
        m["episode_distinct"], m["episode_distinct_se"] = mean_se([e[2] for e in late])
        m["success_rate"], m["success_rate_se"] = rate_se(sum(e[3] > 0 for e in late), len(late))
    m["run_distinct"], m["run_distinct_se"] = float(len(out["seen"])), 0.0  # an exact count in this run
    model = out.get("model")
    if model is not None and model.labels:
        labels = list(model.labels.values())
        m["labels_distinct"], m["labels_distinct_se"] = float(len(labels)), 0.0  # an exact count (pairs: ranking)
        if kind != "ranking":
            m["labels_foo"], m["labels_foo_se"] = rate_se(sum(labels), len(labels))
        if kind == "classification":
            m.update(model.accuracy_on_labels())
    if kind != "none":
        # the mean intrinsic reward per learner batch: 0 throughout means the agent was trained on extrinsic reward
        # alone (claims comparing it with the extrinsic-only agent require it > 0)
        m["intrinsic_mean"], m["intrinsic_mean_se"] = (
            mean_se([row[5] for row in out["curve"]]) if out["curve"] else (None, None)
        )
        m.update(_latency_metrics(out.get("stats")))
    return m


def train(
    *,
    config: Mapping[str, Any],
    method: str,
    seed: int,
    scale: str,
    out_record: str | Path,
    ckpt_dir: str | Path | None,
    threads: int,
    log_path: str | Path | None = None,
) -> None:
    """Train one agent (reward type `method`) on the configured task; the LLM server starts and stops inside.
    Resumes from the checkpoints in `ckpt_dir` (cleared once the record is written)."""
    import torch

    from papersuite.core import records, runtime

    from .learner import labels_as_rows, train_agent

    runtime.setup_logging(log_path)
    torch.set_num_threads(threads)
    start = time.perf_counter()
    command, port = server_command(config["server"])
    with _spawned_children_skip_main():
        kind = config["methods"][method]["reward"]
        out = train_agent(
            {**config, "server_port": port}, kind, seed, command, None if ckpt_dir is None else str(ckpt_dir)
        )
    metrics = run_metrics(out, kind, float(config["evaluate"]["last_frac"]))
    stats = out.get("stats")
    rec = records.make_record(
        paper="oni",
        experiment=config["env"]["task"],
        method=method,
        seed=seed,
        scale=scale,
        metrics={k: records.finite_or_none(v) for k, v in metrics.items()},
        wall_s=time.perf_counter() - start,
        device=out.get("device", "cpu"),
        config=dict(config),
        extra={
            "episodes": out["episodes"],
            "curve": out["curve"],
            "arrivals": out["arrivals"],
            "server_start_s": out["server_s"],
            "latencies": list(getattr(stats, "latencies", []) or []),
            "labels": labels_as_rows(out["model"].labels) if out.get("model") is not None else [],
        },
    )
    records.write_record(out_record, rec)
    if ckpt_dir is not None:
        from papersuite.core.checkpoint import clear_checkpoints

        clear_checkpoints(ckpt_dir)


def _curve_axes(recs: list[dict], axes: Any, colors: Mapping[str, str], window: int) -> None:
    """Episode return and success (moving means over `window` episodes) against frames, one line per run."""
    import numpy as np

    for rec in recs:
        ep = np.asarray(rec["extra"]["episodes"], dtype=float).reshape(-1, 4)  # (episodes, 4)
        if len(ep) == 0:
            continue
        kernel = np.ones(min(window, len(ep))) / min(window, len(ep))
        label = f"{rec['method']} s{rec['seed']}"
        for ax, col in zip(axes, (1, 3)):
            ax.plot(ep[len(kernel) - 1 :, 0], np.convolve(ep[:, col], kernel, "valid"), color=colors[rec["method"]],
                    lw=1, label=label)  # fmt: skip


def table(
    *,
    records: Sequence[str | Path],
    out_csv: str | Path,
    out_md: str | Path,
    out_curves: str | Path,
    out_labels: str | Path,
    window: int,
    log_path: str | Path | None = None,
) -> None:
    """The runs table (returns, success, distinct messages, labels, classifier vs majority, annotation throughput and
    latency), the return/success curves per task and reward type, and the label table's size over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from papersuite.core import plotting, runtime, tables
    from papersuite.core.records import load_records, records_frame

    runtime.setup_logging(log_path)
    recs = load_records(records)
    frame = records_frame(recs)
    metrics = [m for m in METRICS if m in frame.columns]
    summary = tables.summarize(frame, ["experiment", "method"], metrics)
    notes = [
        "return_mean, success_rate, episode_distinct: episodes in the last part of training (evaluate.last_frac);"
        " run_distinct: distinct non-empty messages seen over the run; labels_distinct: messages labelled by the"
        " live LLM server; labels_foo: their FOO fraction; rm_*: the classifier's accuracy on its own labels,"
        " the majority class's, and their paired difference; annot_*: labelled messages per second of requests,"
        " request latency p50/p95 (s). Mean over seeds, +- the larger of the seed spread and the runs' own SEs.",
    ]
    tables.write_estimates(summary, out_csv, out_md, "ONI runs per task and reward type", notes)
    plotting.apply_style()
    colors = plotting.method_colors(sorted({r["method"] for r in recs}))
    for task in sorted({r["experiment"] for r in recs}):
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        _curve_axes([r for r in recs if r["experiment"] == task], axes, colors, window)
        axes[0].set(xlabel="environment frames", ylabel="extrinsic episode return", title=task)
        axes[1].set(xlabel="environment frames", ylabel="success rate", title=task)
        axes[1].legend(fontsize=6)
        plotting.save_figure(fig, out_curves)  # one task per scale: the configured one
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for rec in recs:
        arrivals = rec["extra"]["arrivals"]
        if arrivals:
            t = [a[1] for a in arrivals]
            ax.step(t, [a[2] for a in arrivals], where="post", color=colors[rec["method"]],
                    label=f"{rec['method']} s{rec['seed']}")  # fmt: skip
    ax.set(xlabel="seconds since the job started", ylabel="labelled messages (label table size)")
    ax.legend(fontsize=6)
    plotting.save_figure(fig, out_labels)
