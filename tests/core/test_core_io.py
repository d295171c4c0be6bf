"""papersuite.core.io: atomic writes, JSON conversion, hashing, YAML errors."""

import hashlib
import json
import os

import numpy as np
import pandas as pd
import pytest

from papersuite.core import io


def test_atomic_path_exception_keeps_old_content_and_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    io.write_text(target, "old")
    with pytest.raises(RuntimeError, match="boom"), io.atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.txt.tmp-")
        tmp.write_text("new, half written")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]


def test_atomic_path_success_replaces_and_creates_parents(tmp_path):
    target = tmp_path / "a" / "b" / "out.bin"
    io.write_bytes(target, b"\x00\x01")
    io.write_bytes(target, b"\x02")
    assert target.read_bytes() == b"\x02"
    assert os.listdir(target.parent) == ["out.bin"]
    # mkstemp makes 0600 files; outputs must get ordinary permissions
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_write_json_nan_to_null_numpy_and_sorted(tmp_path):
    p = tmp_path / "x.json"
    io.write_json(
        p,
        {
            "b": np.float32(1.5),
            "a": float("nan"),
            "c": np.arange(3),
            "d": [np.inf, -np.inf],
            "e": np.int64(7),
            "f": np.bool_(True),
            "g": (1, 2),
        },
    )
    text = p.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": 1.5, "c": [0, 1, 2], "d": [None, None], "e": 7, "f": True, "g": [1, 2]}
    assert text.index('"a"') < text.index('"b"') < text.index('"c"')  # sort_keys
    assert text.startswith('{\n  "a": null,')  # indent 2
    assert io.read_json(p)["e"] == 7


def test_write_json_rejects_unknown_types_without_leaving_a_file(tmp_path):
    p = tmp_path / "x.json"
    with pytest.raises(TypeError, match="object"):
        io.write_json(p, {"x": object()})
    assert not p.exists() and os.listdir(tmp_path) == []


def test_read_json_error_names_file(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        io.read_json(p)


def test_sha256_known_values(tmp_path):
    p = tmp_path / "abc"
    p.write_bytes(b"abc")
    assert io.sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    big = tmp_path / "big"
    data = np.random.default_rng(0).bytes(3 * (1 << 20) + 17)  # spans several 1 MiB chunks
    big.write_bytes(data)
    assert io.sha256_file(big) == hashlib.sha256(data).hexdigest()


def test_write_csv_round_trip(tmp_path):
    df = pd.DataFrame({"m": ["A", "B"], "x": [1.5, 2.0]})
    p = io.write_csv(tmp_path / "t.csv", df)
    assert p.read_text() == "m,x\nA,1.5\nB,2.0\n"
    pd.testing.assert_frame_equal(pd.read_csv(p), df, check_dtype=False)


def test_read_yaml_safe_and_error_names_file(tmp_path):
    good = tmp_path / "ok.yaml"
    good.write_text("a: [1, 2]\nb: {c: x}\n")
    assert io.read_yaml(good) == {"a": [1, 2], "b": {"c": "x"}}
    bad = tmp_path / "broken.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ValueError, match="broken.yaml"):
        io.read_yaml(bad)
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("a: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ValueError, match="unsafe.yaml"):
        io.read_yaml(unsafe)


def test_atomic_dir_replaces_whole_and_cleans_up_on_error(tmp_path):
    from papersuite.core.io import atomic_dir

    target = tmp_path / "model"
    target.mkdir()
    (target / "old.bin").write_text("old")
    with atomic_dir(target) as tmp:
        (tmp / "new.bin").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.bin"]
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half.bin").write_text("x")
        raise RuntimeError("crash mid-save")
    assert sorted(p.name for p in target.iterdir()) == ["new.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_write_rows_columns_in_first_seen_order_and_missing_cells_empty(tmp_path):
    path = io.write_rows(tmp_path / "curve.csv", [{"iteration": 0, "loss": 1.5}, {"iteration": 1, "val": 0.25}])
    assert path.read_bytes() == b"iteration,loss,val\r\n0,1.5,\r\n1,,0.25\r\n"  # csv's own line ends
