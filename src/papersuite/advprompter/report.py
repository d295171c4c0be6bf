"""Table 1's shape (paper Sec. 4: train/test ASR@10, ASR@1 and perplexity per target) with our runs beside the
paper's numbers from config/references/advprompter.yaml, and the figure of ASR and perplexity vs lambda."""

from __future__ import annotations

import pandas as pd

# Table 1's columns, and ours that fill them (rates in %, as the paper prints them).
COLUMNS = {
    "Train ASR@10": "train_asr_at_k",
    "Train ASR@1": "train_asr_at_1",
    "Test ASR@10": "test_asr_at_k",
    "Test ASR@1": "test_asr_at_1",
    "PPL": "test_perplexity",
}
TINY_TARGET = "tiny refusal LM (SYNTHETIC benign toy world)"
PAPER_TARGETS = {"vicuna7b": "Vicuna-7b", "vicuna13b": "Vicuna-13b", "llama2chat": "Llama2-7b-chat",
                 "mistral7b": "Mistral-7b"}  # fmt: skip


def target_name(experiment: str) -> str:
    """The Table 1 row label of an experiment: the tiny world, or advbench_<target>."""
    if experiment == "tiny_world":
        return TINY_TARGET
    key = experiment.removeprefix("advbench_")
    return PAPER_TARGETS.get(key, key)


def our_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Table 1's cells as mean and se over seeds: the untrained prompter once per experiment (its evaluation does not
    depend on lambda: the same LoRA initialisation and samples at every lambda), then each lambda after training."""
    from papersuite.core import tables

    untrained = frame[frame["method"] == frame.groupby("experiment")["method"].transform("min")]
    rows = []
    for when, part in (("before", untrained), ("after", frame)):
        metrics = [f"{m}_{when}" for m in COLUMNS.values()]
        for _, s in tables.summarize(part, ["experiment", "method"], metrics).iterrows():
            method = (
                "untrained prompter" if when == "before" else f"AdvPrompter λ = {s['method'].removeprefix('lambda')}"
            )
            row = {"target": target_name(s["experiment"]), "method": method,
                   "source": f"ours, {int(s['n_seeds'])} seed(s)", "verified": None}  # fmt: skip
            for column, metric in COLUMNS.items():
                scale = 1.0 if metric.endswith("perplexity") else 100.0
                row[column], row[f"{column}_se"] = s[f"{metric}_{when}"] * scale, s[f"{metric}_{when}_se"] * scale
            rows.append(row)
    return pd.DataFrame(rows)


def paper_rows(numbers: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 1 cells from the references (each row says its source and whether it was verified)."""
    rows = {}
    for n in numbers[numbers["table"] == "Table 1"].to_dict("records"):
        key = (n["experiment"], n["row"])
        row = rows.setdefault(key, {"target": target_name(n["experiment"]), "method": n["row"],
                                    "source": n["source"], "verified": bool(n["verified"])})  # fmt: skip
        row[n["column"]] = float(n["value"])
        row["verified"] = row["verified"] and bool(n["verified"])
    return pd.DataFrame(list(rows.values()))


def table1(frame: pd.DataFrame, numbers: pd.DataFrame) -> pd.DataFrame:
    """Ours then the paper's rows, Table 1's columns (+ our `<column>_se`, which core.tables.estimate_view folds in)."""
    ours, paper = our_rows(frame), paper_rows(numbers)
    columns = ["target", "method", *COLUMNS, *[f"{c}_se" for c in COLUMNS], "source", "verified"]
    return pd.concat([ours, paper], ignore_index=True).reindex(columns=columns)


def lambda_figure(frame: pd.DataFrame, out_figure) -> None:
    """Test ASR@k, ASR@1 (left) and suffix perplexity (right) after training vs lambda, mean ± se over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from papersuite.core import plotting, tables

    metrics = ["test_asr_at_k_after", "test_asr_at_1_after", "test_perplexity_after", "test_asr_at_k_before"]
    summary = tables.summarize(frame, ["experiment", "method"], metrics)
    summary["lambda"] = summary["method"].str.removeprefix("lambda").astype(float)
    plotting.apply_style()
    fig, (ax_asr, ax_ppl) = plt.subplots(1, 2, figsize=(8, 3.2))
    for experiment, part in summary.sort_values("lambda").groupby("experiment"):
        label = target_name(experiment)
        for metric, name, style in (("test_asr_at_k_after", "ASR@10 after", "-o"),
                                    ("test_asr_at_1_after", "ASR@1 after", "-s"),
                                    ("test_asr_at_k_before", "ASR@10 before", ":^")):  # fmt: skip
            ax_asr.errorbar(part["lambda"], part[metric], yerr=part[f"{metric}_se"], fmt=style, ms=4,
                            label=f"{name} ({label})" if summary["experiment"].nunique() > 1 else name)  # fmt: skip
        ax_ppl.errorbar(part["lambda"], part["test_perplexity_after"], yerr=part["test_perplexity_after_se"],
                        fmt="-o", ms=4, label=label)  # fmt: skip
    ax_asr.set(xscale="log", xlabel="λ", ylabel="test keyword ASR", ylim=(-0.02, 1.02))
    ax_ppl.set(xscale="log", xlabel="λ", ylabel="suffix perplexity (base prompter)")
    ax_asr.legend(fontsize=7)
    plotting.save_figure(fig, out_figure)
