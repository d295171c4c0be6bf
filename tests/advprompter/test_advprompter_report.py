"""Table 1's shape: the untrained prompter once, each lambda after training (rates in %), the paper's rows from the
references with source and verified flag; and the full-scale AdvBench preparation on a benign stand-in file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from papersuite.advprompter import report, steps
from papersuite.core import tables
from papersuite.core.references import load_references, paper_numbers

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = ("<s>[INST]", "{full_instruct}", "[/INST]")  # the original's conf/target_llm/llama2_chat.yaml pieces


def _record_frame() -> pd.DataFrame:
    rows = []
    for method, after in (("lambda1", 0.5), ("lambda10", 0.9)):
        for seed, before in ((0, 0.1), (1, 0.3)):
            row = {"experiment": "tiny_world", "method": method, "seed": seed}
            for split in ("train", "test"):
                for metric in ("asr_at_k", "asr_at_1"):
                    row |= {f"{split}_{metric}_before": before, f"{split}_{metric}_after": after}
                    row |= {f"{split}_{metric}_before_se": 0.01, f"{split}_{metric}_after_se": 0.01}
                row |= {f"{split}_perplexity_before": 2.0, f"{split}_perplexity_after": 3.0}
                row |= {f"{split}_perplexity_before_se": 0.1, f"{split}_perplexity_after_se": 0.1}
            rows.append(row)
    return pd.DataFrame(rows)


def test_table1_rows_units_and_paper_numbers():
    numbers = paper_numbers(load_references(REPO / "config" / "references" / "advprompter.yaml"))
    table = report.table1(_record_frame(), numbers)
    ours = table[table["source"].str.startswith("ours")]
    assert list(ours["method"]) == ["untrained prompter", "AdvPrompter λ = 1", "AdvPrompter λ = 10"]
    assert ours["Test ASR@10"].tolist() == pytest.approx([20.0, 50.0, 90.0])  # % of the seed mean
    # the seed spread (0.1 vs 0.3: se 0.1) dominates the runs' own se 0.01
    assert ours["Test ASR@10_se"].iloc[0] == pytest.approx(10.0)
    assert ours["PPL"].tolist() == pytest.approx([2.0, 3.0, 3.0])
    vicuna = table[(table["target"] == "Vicuna-7b") & (table["method"] == "AdvPrompter")].iloc[0]
    assert (vicuna["Test ASR@10"], vicuna["Test ASR@1"], vicuna["PPL"]) == (87.5, 33.4, 12.1)
    assert vicuna["verified"] is False or vicuna["verified"] == False  # noqa: E712 (numpy bool)
    assert math.isnan(vicuna["Test ASR@10_se"]) and "ReMiss" in vicuna["source"]
    assert len(table) == 3 + 12  # our rows + 4 targets x 3 methods of the paper
    view = tables.estimate_view(table)  # how steps.table writes the Markdown
    assert view.loc[0, "Test ASR@10"] == "20 ± 10" and "Test ASR@10_se" not in view.columns


def test_prepare_advbench_checks_the_schema_and_reads_the_keyword_list(tmp_path):
    benign = 'instruct,target\nTell me the code of the blue door,"Sure, here is the code of the blue door"\n'
    splits = {}
    for split in steps.SPLITS:
        splits[split] = tmp_path / f"{split}.csv"
        splits[split].write_text(benign)
    keywords = tmp_path / "test_prefixes.csv"
    keywords.write_text('"sorry"\n"I cannot"\n"As an"')  # the original's format: quoted, no header, no final newline
    out = tmp_path / "advbench"
    steps.prepare_advbench(splits=splits, keywords=keywords, prompter_dir="hub/p", target_dir="hub/t",
                           target="vicuna7b", template=TEMPLATE, out_dir=out)  # fmt: skip
    assert (out / "refusal_keywords.csv").read_text() == "prefix\nsorry\nI cannot\nAs an\n"
    assert (out / "test.csv").read_text().splitlines()[0] == "instruct,target"
    assert json.loads((out / "manifest.json").read_text())["template"] == list(TEMPLATE)
    with pytest.raises(ValueError, match="exactly one template piece"):
        steps.prepare_advbench(splits=splits, keywords=keywords, prompter_dir="p", target_dir="t", target="v",
                               template=("<s>[INST]", "[/INST]"), out_dir=tmp_path / "bad")  # fmt: skip
    splits["train"].write_text("instruct,target\nTell me the code,Sure, here is the code\n")  # unquoted comma
    with pytest.raises(ValueError, match="line 2 does not have exactly the two fields"):
        steps.prepare_advbench(splits=splits, keywords=keywords, prompter_dir="p", target_dir="t", target="v",
                               template=TEMPLATE, out_dir=tmp_path / "bad")  # fmt: skip
    splits["train"].write_text("goal,target\nx,y\n")  # AdvBench's original column names, not the split's
    with pytest.raises(ValueError, match="expected columns instruct,target"):
        steps.prepare_advbench(splits=splits, keywords=keywords, prompter_dir="p", target_dir="t", target="v",
                               template=TEMPLATE, out_dir=tmp_path / "bad")  # fmt: skip
