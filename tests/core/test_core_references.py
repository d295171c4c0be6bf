"""papersuite.core.references: the references file, validated with key paths."""

import re

import pytest
import yaml

from papersuite.core import references as refs_mod

GOOD = {
    "paper": "socm",
    "title": "Stochastic Optimal Control Matching",
    "citation": "Domingo-Enrich et al., 2024",
    "numbers": [
        {
            "id": "t1_socm",
            "table": "Table 1",
            "experiment": "ou_easy",
            "row": "SOCM",
            "column": "time_per_iteration_s",
            "value": 0.222,
            "unit": "s",
            "source": "summary",
            "verified": False,
        },
        {
            "id": "t1_adj",
            "table": "Table 1",
            "experiment": "ou_hard",
            "row": "adjoint",
            "column": "time_per_iteration_s",
            "value": 0.3,
            "source": "paper",
            "verified": True,
        },
    ],
    "claims": [
        {
            "id": "socm_lowest",
            "statement": "SOCM is best",
            "source": "Fig. 2",
            "verified": False,
            "applies_at": ["tiny", "full"],
            "check": {
                "kind": "rank",
                "metric": "err",
                "where": {"experiment": "ou_easy"},
                "subjects": ["SOCM"],
                "ranks": [1],
            },
        },
        {
            "id": "fast",
            "statement": "SOCM is fast",
            "source": "Table 1",
            "verified": False,
            "applies_at": ["full"],
            "not_applicable_reason": {"tiny": "CPU timings"},
            "check": {"kind": "threshold", "metric": "time", "op": "<", "value": 1.0, "reduce": "mean"},
        },
    ],
}


def _write(tmp_path, data, name="socm.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def _copy():
    return yaml.safe_load(yaml.safe_dump(GOOD))


def test_load_good_and_paper_numbers(tmp_path):
    refs = refs_mod.load_references(_write(tmp_path, GOOD))
    assert refs["paper"] == "socm" and len(refs["claims"]) == 2
    frame = refs_mod.paper_numbers(refs)
    assert list(frame.columns) == ["id", "table", "experiment", "row", "column", "value", "unit", "source", "verified"]
    assert frame["unit"].tolist() == ["s", ""] and frame["verified"].tolist() == [False, True]
    only = refs_mod.paper_numbers(refs, experiment="ou_hard")
    assert only["id"].tolist() == ["t1_adj"] and only["value"].tolist() == [0.3]


def _fails(tmp_path, data, *fragments):
    p = _write(tmp_path, data)
    with pytest.raises(ValueError) as err:
        refs_mod.load_references(p)
    msg = str(err.value)
    assert str(p) in msg, msg
    for f in fragments:
        assert f in msg, msg


def test_missing_check_names_key_path_and_file(tmp_path):
    data = _copy()
    del data["claims"][1]["check"]
    _fails(tmp_path, data, "claims[1].check", "missing")


def test_scale_missing_from_applies_at_needs_reason(tmp_path):
    data = _copy()
    del data["claims"][1]["not_applicable_reason"]
    _fails(tmp_path, data, "claims[1].not_applicable_reason.tiny")


def test_malformed_check_names_claim(tmp_path):
    data = _copy()
    data["claims"][0]["check"]["kind"] = "rnak"
    _fails(tmp_path, data, "claims[0].check", "socm_lowest", "rnak")


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda d: d["numbers"][0].pop("verified"), "numbers[0].verified"),
        (lambda d: d["numbers"][1].update(value="0.3"), "numbers[1].value"),
        (lambda d: d["numbers"][1].update(id="t1_socm"), "numbers[1].id"),
        (lambda d: d["numbers"][0].update(verfied=True), "numbers[0].verfied"),
        (lambda d: d["claims"][0].update(applies_at=["huge"]), "claims[0].applies_at"),
        (lambda d: d.pop("title"), "title"),
        (lambda d: d["claims"][0].update(requires=[]), "claims[0].requires"),
        (lambda d: d["claims"][0].update(requires=[{"kind": "rnak"}]), "claims[0].requires[0]"),
    ],
)
def test_other_errors_name_the_key(tmp_path, mutate, fragment):
    data = _copy()
    mutate(data)
    _fails(tmp_path, data, fragment)


def test_yaml_syntax_error_names_file(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("paper: socm\nnumbers: [\n")
    with pytest.raises(ValueError, match=re.escape(str(p))):
        refs_mod.load_references(p)
