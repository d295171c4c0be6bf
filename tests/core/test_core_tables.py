"""papersuite.core.tables: summaries, paper numbers beside ours, Markdown."""

import math

import pandas as pd
import pytest

from papersuite.core import tables as T


def _frame():
    return pd.DataFrame(
        {
            "experiment": ["e"] * 5,
            "method": ["A", "A", "A", "B", "B"],
            "seed": [0, 1, 2, 0, 1],
            "err": [1.0, 2.0, 3.0, 10.0, 20.0],
            "time": [0.1, 0.1, 0.1, 0.2, 0.4],
        }
    )


def test_summarize_mean_std_n():
    s = T.summarize(_frame(), by=["experiment", "method"], metrics=["err", "time"])
    assert list(s.columns) == [
        "experiment",
        "method",
        *("err", "err_std", "err_se", "time", "time_std", "time_se"),
        "n_seeds",
    ]
    a, b = s.iloc[0], s.iloc[1]
    assert (a["method"], a["err"], a["err_std"], a["n_seeds"]) == ("A", 2.0, 1.0, 3)
    # no per-run se: the seed mean's se is the spread's, std / sqrt(n)
    assert a["err_se"] == pytest.approx(1.0 / math.sqrt(3)) and b["err_se"] == pytest.approx(math.sqrt(50.0 / 2))
    assert b["err"] == 15.0 and b["err_std"] == pytest.approx(math.sqrt(50.0)) and b["n_seeds"] == 2
    assert b["time"] == pytest.approx(0.3) and b["time_std"] == pytest.approx(math.sqrt(0.02))
    with pytest.raises(ValueError, match="nope"):
        T.summarize(_frame(), by=["method"], metrics=["nope"])


def test_summarize_se_takes_the_larger_of_spread_and_runs_own_se():
    frame = _frame().assign(err_se=[3.0, 3.0, 3.0, 0.1, 0.1])
    s = T.summarize(frame, by=["experiment", "method"], metrics=["err"]).set_index("method")
    assert s.loc["A", "err_se"] == pytest.approx(math.sqrt(3 * 9.0) / 3)  # runs' se 1.73 > spread 0.577
    assert s.loc["B", "err_se"] == pytest.approx(math.sqrt(50.0 / 2))  # spread 5 > runs' se 0.07
    one_seed = _frame().iloc[[0]]
    assert math.isnan(T.summarize(one_seed, by=["method"], metrics=["err"])["err_se"].iloc[0])
    with_se = one_seed.assign(err_se=[0.25])
    assert T.summarize(with_se, by=["method"], metrics=["err"])["err_se"].iloc[0] == 0.25


def _numbers():
    return pd.DataFrame(
        [
            {
                "id": "n1",
                "table": "T1",
                "experiment": "e",
                "row": "A",
                "column": "err",
                "value": 2.5,
                "unit": "",
                "source": "paper",
                "verified": True,
            },
            {
                "id": "n2",
                "table": "T1",
                "experiment": "e",
                "row": "A",
                "column": "time",
                "value": 9.0,
                "unit": "s",
                "source": "summary",
                "verified": False,
            },
            {
                "id": "n3",
                "table": "T1",
                "experiment": "other",
                "row": "B",
                "column": "err",
                "value": 7.0,
                "unit": "",
                "source": "summary",
                "verified": False,
            },
        ]
    )


def test_beside_paper_attaches_numbers_and_flags():
    s = T.summarize(_frame(), by=["experiment", "method"], metrics=["err"])
    out = T.beside_paper(s, _numbers(), metric="err")
    assert out["paper_value"].iloc[0] == 2.5 and math.isnan(out["paper_value"].iloc[1])
    assert out["paper_source"].tolist() == ["paper", None]
    assert out["paper_verified"].tolist() == [True, None]
    out_t = T.beside_paper(s, _numbers(), ("experiment", "method"), "time")
    assert out_t["paper_value"].iloc[0] == 9.0 and out_t["paper_verified"].tolist() == [False, None]
    assert "paper_value" not in s.columns  # input untouched


def test_beside_paper_duplicate_numbers_fail():
    nums = pd.concat([_numbers(), _numbers().iloc[[0]].assign(id="n1b")])
    with pytest.raises(ValueError, match="n1b"):
        T.beside_paper(pd.DataFrame({"experiment": ["e"], "method": ["A"]}), nums, metric="err")


def test_format_markdown_exact():
    df = pd.DataFrame({"method": ["SOCM", "a|b"], "err": [0.123456, float("nan")], "n": [3, 2], "ok": [True, False]})
    md = T.format_markdown(df, "Control error", notes=["paper numbers are unverified"])
    assert md == (
        "## Control error\n"
        "\n"
        "| method | err | n | ok |\n"
        "| --- | ---: | ---: | --- |\n"
        "| SOCM | 0.1235 | 3 | True |\n"
        "| a\\|b |  | 2 | False |\n"
        "\n"
        "- paper numbers are unverified\n"
    )


def test_write_table(tmp_path):
    df = pd.DataFrame({"m": ["A"], "x": [1.0]})
    T.write_table(df, tmp_path / "t.csv", tmp_path / "md" / "t.md", "T")
    assert (tmp_path / "t.csv").read_text() == "m,x\nA,1.0\n"
    assert (tmp_path / "md" / "t.md").read_text() == "## T\n\n| m | x |\n| --- | ---: |\n| A | 1 |\n"


def test_write_estimates_keeps_the_se_columns_in_csv_and_prints_mean_plus_minus_se(tmp_path):
    table = pd.DataFrame({"method": ["A"], "err": [2.0], "err_std": [1.0], "err_se": [0.5], "n_seeds": [4]})
    T.write_estimates(table, tmp_path / "t.csv", tmp_path / "t.md", "T", ["a note"])
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == "method,err,err_std,err_se,n_seeds"
    markdown = (tmp_path / "t.md").read_text()
    assert "| A | 2 ± 0.5 | 4 |" in markdown and "- a note" in markdown


def test_estimate_view_shows_mean_plus_minus_se_and_keeps_the_rest():
    frame = _frame().assign(err_se=0.5, time=[0.5, 0.5, 0.5, 0.25, 0.75])
    s = T.summarize(frame, by=["experiment", "method"], metrics=["err", "time"])
    view = T.estimate_view(s)
    assert list(view.columns) == ["experiment", "method", "err", "time", "n_seeds"]
    assert view["err"].tolist() == ["2 ± 0.58", "15 ± 5"]  # A: spread 1/sqrt(3) > runs' 0.5/sqrt(3); B: spread 5
    assert view["time"].tolist() == ["0.5 ± 0", "0.5 ± 0.25"]  # no per-run se: the seed spread
