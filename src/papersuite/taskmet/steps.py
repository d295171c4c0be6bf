"""Workflow entry points of taskmet: one function per rule `taskmet_<step>`, called by
`workflow/scripts/taskmet/<step>.py`.

Each imports its science lazily, so that a job pays only for the imports its step uses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["prepare", "train", "rl", "table"]

log = logging.getLogger("papersuite.taskmet.steps")


def prepare(
    *, task: str, data: Mapping[str, Any], source: str | None, out_npz: str | Path, log_path: str | Path | None = None
) -> None:
    """Generate (cubic, budget) or build from the raw prices (portfolio) one task's train/val/test instances
    (paper §5.1, docs/papers/taskmet.md "Data")."""
    from papersuite.core import runtime

    from .data import save_splits
    from .tasks import get_task

    runtime.setup_logging(log_path)
    config = dict(data)
    seed = int(config.pop("seed"))
    if source is not None:
        config["csv"] = str(source)
    _, make_data = get_task(task)
    splits = make_data(config, seed)
    save_splits(out_npz, splits)
    log.info("%s: %s instances (train/val/test)", task, "/".join(str(s.n_instances) for s in splits.values()))


def train(
    *,
    task: str,
    task_config: Mapping[str, Any],
    train: Mapping[str, Any],
    evaluate: Mapping[str, Any],
    method: str,
    seed: int,
    scale: str,
    data_npz: str | Path,
    out_model: str | Path,
    out_curve: str | Path,
    out_record: str | Path,
    out_predictions: str | Path,
    ckpt_dir: str | Path | None,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """Train one (task, method, seed): two-stage MSE, DFL or TaskMet's bilevel metric learning (paper §4, Alg. 1),
    best-validation selection, resumable from checkpoints; then its normalised test DQ and MSE (paper Table 1)."""
    import torch

    from papersuite.core import io, runtime

    from .data import load_splits
    from .tasks import get_task
    from .train import train as train_method

    runtime.setup_logging(log_path)
    device = runtime.choose_device(threads)  # the networks run on CPU; this sets torch's threads
    make_task, _ = get_task(task)
    the_task, splits = make_task(task_config), load_splits(data_npz)
    with runtime.Stopwatch() as watch:
        result = train_method(the_task, splits, method, dict(train), seed, checkpoint_dir=ckpt_dir)
    model = {
        "task": task,
        "method": method,
        "seed": int(seed),
        "train": dict(train),
        "predictor": result.predictor_state,
        "metric": result.metric_state,
        "best_iteration": result.best_iteration,
        "train_wall_s": watch.elapsed,
    }
    with io.atomic_path(out_model) as tmp:
        torch.save(model, tmp)
    io.write_rows(out_curve, result.curve)
    log.info("%s/%s seed %d: best iteration %d, %.1f s", task, method, seed, result.best_iteration, watch.elapsed)
    _evaluate(the_task, splits, result, model, dict(task_config), dict(evaluate), scale, device, out_record)
    from .predictions import write_predictions

    write_predictions(out_predictions, splits["test"], result.predictor, result.metric)


def _evaluate(the_task, splits, result, model: Mapping, task_config, evaluate, scale, device, out_record) -> None:
    """The metrics record: normalised test DQ with hard decisions and test MSE of the best-validation predictor,
    each with its standard error over test instances."""
    from papersuite.core import records, runtime

    from .evaluate import evaluate as evaluate_predictor

    with runtime.Stopwatch() as watch:
        metrics = evaluate_predictor(
            the_task, splits["test"], result.predictor, model["seed"], n_random=int(evaluate["n_random"])
        )
    rec = records.make_record(
        paper="taskmet",
        experiment=model["task"],
        method=model["method"],
        seed=model["seed"],
        scale=scale,
        metrics=metrics,
        wall_s=float(model["train_wall_s"]),
        device=device,
        config={"task": task_config, "train": model["train"], "evaluate": evaluate},
        extra={"best_iteration": model["best_iteration"], "eval_seconds": watch.elapsed},
    )
    records.write_record(out_record, rec)
    log.info(
        "test: normalised DQ %.4f ± %.4f, MSE %.4g",
        metrics["normalized_dq"],
        metrics["normalized_dq_se"],
        metrics["mse"],
    )


def rl(
    *,
    agent: str,
    distractors: int,
    rl: Mapping[str, Any],
    seed: int,
    scale: str,
    out_record: str | Path,
    out_curve: str | Path,
    ckpt_dir: str | Path | None,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """One model-based RL run on CartPole with ``distractors`` noise dimensions: the MLE, OMD or TaskMet agent
    trained and evaluated (paper §5.2, the return-vs-distractors figure)."""
    from papersuite.core import io, records, runtime

    from .rl import run as run_agent

    runtime.setup_logging(log_path)
    device = runtime.choose_device(threads)
    with runtime.Stopwatch() as watch:
        result = run_agent(agent, int(distractors), dict(rl), int(seed), checkpoint_dir=ckpt_dir)
    io.write_rows(out_curve, result["curve"])
    rec = records.make_record(
        paper="taskmet",
        experiment=f"cartpole_D{int(distractors)}",
        method=agent,
        seed=int(seed),
        scale=scale,
        metrics=_rl_metrics(result),
        wall_s=watch.elapsed,
        device=device,
        config={"rl": dict(rl), "distractors": int(distractors)},
        extra={
            key: result.get(key)
            for key in ("final_returns", "metric_diagonal", "train_episodes", "skipped_metric_steps", "resumed_from")
        },
    )
    records.write_record(out_record, rec)
    log.info(
        "%s D=%d seed %d: return %.1f ± %.1f",
        agent,
        distractors,
        seed,
        result["final_return"],
        result["final_return_se"],
    )


def _rl_metrics(result: Mapping[str, Any]) -> dict[str, float | None]:
    """The record's metrics of one RL run: the final return ± se over the evaluation episodes, the model's next-state
    error, and the metric's mass on the true dimensions over the distractors ± se (rl.agents.mass_ratio)."""
    return {
        "return": float(result["final_return"]),
        "return_se": float(result["final_return_se"]),
        "model_mse": result.get("model_mse_true"),  # next-state squared error on the 4 true dimensions
        "model_mse_distractor": result.get("model_mse_distractor"),
        "metric_true_over_distractor": result.get("metric_true_over_distractor"),
        "metric_true_over_distractor_se": result.get("metric_true_over_distractor_se"),
    }


def table(
    *,
    records: list,
    predictions: list,
    references: Any,
    scale: str,
    outputs: Mapping[str, str],
    log_path: str | Path | None = None,
    sources: Mapping[str, str | None] | None = None,
) -> None:
    """Write the decision-quality table (paper Table 1), the RL table and the figures (docs/papers/taskmet.md,
    "Outputs"); `sources`: task -> its config `source` (names the data in the table)."""
    from .report import build_report

    build_report(records, predictions, references, scale, outputs, log_path=log_path, sources=sources)
