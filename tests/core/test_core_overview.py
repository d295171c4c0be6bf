"""papersuite.core.overview: the report's first page (claims with value ± noise, provenance)."""

from papersuite.core.overview import render_overview

CLAIMS = [
    {
        "paper": "p",
        "id": "c1",
        "statement": "ours < base",
        "status": "UNDECIDED",
        "evidence": {
            "ours": {"mean": 0.5, "se": 0.1, "n_seeds": 3},
            "base": {"mean": 0.6, "se": 0.1, "n_seeds": 3},
            "rank ours": 1,
            "possible ranks ours": [1, 2],
        },
        "reason": "not separated",
        "source": "Table 1",
        "verified": True,
        "paper_number": {"value": 0.91, "unit": "", "source": "abstract", "verified": False},
    },
    {
        "paper": "p",
        "id": "c2",
        "statement": "a <b> tag",
        "status": "PASS",
        "evidence": {"mean m": {"mean": 2.0, "se": None, "n_seeds": 1}},
        "reason": "r",
        "source": "s",
        "verified": False,
        "paper_number": None,
    },
]
PROVENANCE = {
    "git": {"commit": "abc123", "dirty": True},
    "machine": {"cpu": "cpu x", "cpus_usable": 2, "gpus": []},
    "python": "3.11.7",
    "papers": {"p": {"config_hash": "feedbeef"}},
    "packages": {"numpy": "2.0"},
}


def test_overview_shows_verdicts_noise_paper_numbers_and_provenance():
    html = render_overview(["p"], "tiny", CLAIMS, PROVENANCE, {"p": (12.5, 3)})
    assert "1 PASS, 0 FAIL, 1 UNDECIDED, 0 NOT APPLICABLE" in html
    assert "ours: 0.5 ± 0.1 (3 seeds)" in html and "possible ranks ours: 1-2" in html
    assert "base: 0.6" not in html  # a rank claim shows its subjects
    assert "0.91; Table 1 (verified)" in html
    assert "m: 2 (noise not estimated)" in html
    assert "a &lt;b&gt; tag" in html and "<b>" not in html  # statements are escaped
    assert "abc123" in html and "dirty" in html and "feedbeef" in html and "12.5" in html
