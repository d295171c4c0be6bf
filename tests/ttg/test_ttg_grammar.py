"""The target grammar of constrained decoding accepts every gold target and nothing that cannot parse."""

from __future__ import annotations

import numpy as np

from papersuite.ttg.grammar import END, allowed_next, mentioned_cities
from papersuite.ttg.render import render_request
from papersuite.ttg.sampling import REQUEST_DEFAULTS, sample_candidate
from papersuite.ttg.schema import MONTHS, delinearize, linearize
from papersuite.ttg.translator import Translator, train_translator
from test_ttg_translator import MICRO_MODEL, pairs_file  # noqa: F401 - shared fixture


def _targets(tables, n=150):
    rng = np.random.default_rng(2)
    out = []
    for _ in range(n):
        req, factor = sample_candidate(rng, tables, REQUEST_DEFAULTS)
        if factor is not None:
            req["budget"] = int(rng.integers(2, 80)) * 50
        out.append(linearize(req))
    return out


def test_every_gold_target_walks_through_the_grammar(tables):
    cities = [c.lower() for c in tables.city_names]
    for target in _targets(tables):
        toks = target.split()
        for i, tok in enumerate(toks):
            assert tok in allowed_next(toks[:i], cities), (target, i)
        assert allowed_next(toks, cities) == {END}


def test_grammar_forbids_what_cannot_parse(tables):
    cities = ["home", "alpha", "beta"]
    assert allowed_next([], cities) == {"from"}
    assert allowed_next(["from"], cities) == set(cities)
    after_dest = ["from", "home", "leave", "jun", "1", "back", "jun", "8", "to", "alpha"]
    assert allowed_next(after_dest, cities) == set("123456789")
    assert allowed_next(after_dest + ["3"], cities) == set("3456789")  # max ≥ min
    nxt = allowed_next(after_dest + ["3", "4"], cities)
    assert nxt == {"beta", "order"}  # not the origin, not alpha again
    assert allowed_next(["from", "home", "leave", "jun", "3"], cities) == {"0", "back"}  # June has 30 days
    assert allowed_next(["from", "home", "leave", "jul", "3"], cities) == {"0", "1", "back"}
    assert allowed_next(["from", "home", "leave", "jun", "2", "8", "back", "jun"], cities) == {
        "2",
        "3",
    }  # after the 28th
    assert allowed_next(["from", "home", "leave", "jun", "2", "8", "back", "jun", "2"], cities) == {"9"}
    assert allowed_next(["from", "home", "leave", "jun", "3", "0", "back"], cities) == set(MONTHS) - {"jun"}
    assert allowed_next(after_dest + ["3", "4", "order"], cities) == {"any"}  # one destination
    assert mentioned_cities("Fly from Alpha to beta!", ["Alpha", "Beta", "Home"]) == ["alpha", "beta"]


def test_constrained_decoding_of_an_untrained_model_still_parses(pairs_file, tables, tmp_path):  # noqa: F811
    train_translator(
        pairs_file,
        MICRO_MODEL,
        {"epochs": 1, "batch": 8, "lr": 1e-3, "checkpoint_every": 0, "log_every": 1},
        0,
        8,
        tmp_path / "m",
        tmp_path / "c.csv",
        tmp_path / "ck",
    )
    tr = Translator(tmp_path / "m", threads=1)
    rng = np.random.default_rng(5)
    texts = []
    for i in range(12):
        req, _ = sample_candidate(rng, tables, REQUEST_DEFAULTS)
        texts.append(render_request(req, np.random.default_rng([5, i]))[0])
    outs = tr.translate(texts, cities=list(tables.city_names))
    parsed = 0
    for out in outs:
        toks = out.split()
        assert toks[:1] == ["from"] and "time" in toks, out  # the grammar's frame, whatever the weights
        try:
            delinearize(out, "2025-06-01", tables.city_names)
            parsed += 1
        except ValueError:
            pass
    assert parsed >= 10
