"""papersuite.core.records: the metrics record."""

import hashlib
import json
import math

import numpy as np
import pytest

from papersuite.core import records as R


def _rec(**over):
    kw = dict(
        paper="socm",
        experiment="ou_easy",
        method="SOCM",
        seed=0,
        scale="tiny",
        metrics={"err": 0.5, "time": np.float64(0.1), "missing": None},
        wall_s=1.25,
        device="cpu",
        config={"lr": 1e-3, "hdims": [64, 64]},
    )
    kw.update(over)
    return R.make_record(**kw)


def test_config_hash_deterministic_and_canonical():
    a = R.config_hash({"lr": 0.001, "hdims": [64, 64], "nested": {"b": 1, "a": 2}})
    b = R.config_hash({"nested": {"a": 2, "b": 1}, "hdims": [64, 64], "lr": 0.001})
    assert a == b and len(a) == 16
    canonical = '{"hdims":[64,64],"lr":0.001,"nested":{"a":2,"b":1}}'
    assert a == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert R.config_hash({"lr": 0.002}) != R.config_hash({"lr": 0.001})


def test_make_record_fills_hash_and_normalises():
    rec = _rec(device=__import__("torch").device("cpu"), extra={"err_se": 0.01})
    assert set(rec) == set(R.RECORD_KEYS) | {"extra"}
    assert rec["config_hash"] == R.config_hash({"lr": 1e-3, "hdims": [64, 64]})
    assert rec["config_hash"] == _rec()["config_hash"]
    assert rec["metrics"] == {"err": 0.5, "time": 0.1, "missing": None}
    assert type(rec["metrics"]["time"]) is float and rec["device"] == "cpu"
    json.dumps(rec)  # plain JSON types only


@pytest.mark.parametrize(
    "over, key",
    [
        (dict(metrics={"err": float("nan")}), "metrics.err"),
        (dict(metrics={"err": "0.5"}), "metrics.err"),
        (dict(metrics={"err": True}), "metrics.err"),
        (dict(seed=1.0), "seed"),
        (dict(seed=True), "seed"),
        (dict(scale="medium"), "scale"),
        (dict(wall_s=-1.0), "wall_s"),
        (dict(method=""), "method"),
    ],
)
def test_make_record_rejects_bad_values(over, key):
    with pytest.raises(ValueError, match=f"'{key}'"):
        _rec(**over)


def test_missing_key_names_key_and_source(tmp_path):
    rec = _rec()
    del rec["wall_s"]
    with pytest.raises(ValueError, match=r"results/x\.json: missing key 'wall_s'"):
        R.validate_record(rec, source="results/x.json")
    rec = _rec()
    rec["colour"] = "red"
    with pytest.raises(ValueError, match="colour"):
        R.validate_record(rec)


def test_write_and_load_records_error_names_file(tmp_path):
    good = R.write_record(tmp_path / "a.json", _rec())
    assert R.load_records([good]) == [_rec()]
    bad = tmp_path / "b.json"
    rec = _rec()
    del rec["metrics"]
    bad.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match=r"b\.json: missing key 'metrics'"):
        R.load_records([good, bad])


def test_a_record_file_may_hold_a_list_of_records(tmp_path):
    """One job that trains several seeds writes their records as one list; loading flattens it."""
    many = R.write_records(tmp_path / "seeds.json", [_rec(seed=0), _rec(seed=1)])
    single = R.write_record(tmp_path / "one.json", _rec(seed=2))
    assert [rec["seed"] for rec in R.load_records([many, single])] == [0, 1, 2]
    rec = _rec(seed=3)
    del rec["wall_s"]
    (tmp_path / "bad.json").write_text(json.dumps([_rec(seed=0), rec]))
    with pytest.raises(ValueError, match=r"bad\.json\[1\]: missing key 'wall_s'"):
        R.load_records([tmp_path / "bad.json"])
    with pytest.raises(ValueError, match="no records"):
        R.write_records(tmp_path / "none.json", [])


def test_finite_or_none_keeps_finite_numbers_only():
    assert R.finite_or_none(2) == 2.0 and R.finite_or_none(np.float32(0.5)) == 0.5
    assert [R.finite_or_none(v) for v in (math.nan, math.inf, None, "x")] == [None, None, None, None]


def test_records_frame_columns():
    recs = [_rec(seed=0), _rec(seed=1, method="adjoint", metrics={"err": 0.7, "other": 2.0})]
    frame = R.records_frame(recs)
    assert list(frame.columns) == [
        "paper",
        "experiment",
        "method",
        "seed",
        "scale",
        "wall_s",
        "device",
        "config_hash",
        "err",
        "time",
        "missing",
        "other",
    ]
    assert len(frame) == 2
    assert frame["err"].tolist() == [0.5, 0.7]
    assert math.isnan(frame.loc[0, "missing"]) and math.isnan(frame.loc[0, "other"])
    assert math.isnan(frame.loc[1, "time"])
    assert frame["seed"].tolist() == [0, 1]
    empty = R.records_frame([])
    assert (
        list(empty.columns) == ["paper", "experiment", "method", "seed", "scale", "wall_s", "device", "config_hash"]
        and empty.empty
    )
