"""papersuite.core.plotting: style, colours, atomic PNG."""

import os

import matplotlib.pyplot as plt
import pytest

from papersuite.core import plotting

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_save_figure_png_atomic(tmp_path):
    plotting.apply_style()
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [1, 0, 2], label="SOCM")
    path = plotting.save_figure(fig, tmp_path / "figs" / "a.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert os.listdir(tmp_path / "figs") == ["a.png"]
    assert not plt.fignum_exists(fig.number)  # closed


def test_save_figure_failure_keeps_old_file(tmp_path):
    old = tmp_path / "a.xyz"
    old.write_bytes(b"old")
    fig, _ = plt.subplots()
    with pytest.raises(ValueError):
        plotting.save_figure(fig, old)  # unsupported format
    assert old.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.xyz"]
    assert not plt.fignum_exists(fig.number)


def test_method_colors_stable_and_distinct():
    methods = ["SOCM", "SOCM_const_M", "SOCM_adjoint", "adjoint", "cross_entropy", "log_variance", "moment", "variance"]
    a = plotting.method_colors(methods)
    assert a == plotting.method_colors(list(reversed(methods)))
    assert len(set(a.values())) == len(methods)
    assert all(c.startswith("#") for c in a.values())
