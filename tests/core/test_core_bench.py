"""papersuite.core.bench: job times from a Snakemake run log, start-up lines, baseline ratios."""

from papersuite.core import bench

LOG = """Building DAG of jobs...
[Mon Dec  7 02:35:59 2026]
localrule socm_prepare:
    output: results/tiny/socm/data/linear_ou.npz
    jobid: 3
    wildcards: scale=tiny, setting=linear_ou
    resources: tmpdir=/tmp
[Mon Dec  7 02:36:01 2026]
rule socm_train:
    output: results/tiny/socm/models/linear_ou/SOCM/seed0/model.pt
    jobid: 7
    wildcards: scale=tiny, setting=linear_ou, method=SOCM, seed=0
[Mon Dec  7 02:36:04 2026]
Finished jobid: 3 (Rule: socm_prepare)
1 of 2 steps (50%) done
[Mon Dec  7 02:37:45 2026]
Finished jobid: 7 (Rule: socm_train)
"""


def test_job_times_pair_start_and_finish_by_jobid():
    jobs = bench.job_times(LOG.splitlines())
    assert [(j["rule"], j["wall_s"]) for j in jobs] == [("socm_prepare", 5.0), ("socm_train", 104.0)]
    assert jobs[1]["wildcards"] == "scale=tiny, setting=linear_ou, method=SOCM, seed=0"
    assert bench.slowest(jobs, 1)[0]["rule"] == "socm_train"


def test_startup_lines_are_read_from_job_logs(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.log").write_text("2026 INFO papersuite.runtime: job startup 3.25 s (interpreter, ...)\n")
    (tmp_path / "b.log").write_text("no start-up line here\n")
    assert bench.startup_seconds(tmp_path) == [3.25]


def test_compare_divides_by_the_machine_speed_ratio():
    baseline = {"speed_index": {"total": 2.0}, "wings": {"socm": {"wall_s": 200.0, "cpu_s": 300.0}}}
    current = {"speed_index": {"total": 4.0}, "wings": {"socm": {"wall_s": 200.0, "cpu_s": 150.0}}}
    ratios = bench.compare(current, baseline)["socm"]
    assert ratios["wall_ratio"] == 1.0 and ratios["cpu_ratio"] == 0.5
    assert ratios["wall_ratio_same_machine"] == 0.5  # same wall on a machine twice as slow: twice as fast
    assert bench.compare(current, None) == {}


def test_markdown_shows_the_socm_iteration_timing_when_measured():
    run = {
        "commit": "abc",
        "cores": 2,
        "speed_index": {"total": 1.0, "python": 0.3, "numpy": 0.3, "torch": 0.4},
        "wings": {"socm": {"wall_s": 100.0, "cpu_s": 180.0, "peak_rss_mb": 500.0, "jobs": 9, "startup_mean_s": 1.1}},
        "total": {"wall_s": 100.0, "cpu_s": 180.0},
        "slowest_jobs": [],
    }
    assert "seconds per training iteration" not in bench.render_markdown(run, {})
    run["socm_iteration_timing"] = {
        "threads": 1,
        "d": 20,
        "N": 50,
        "batch": 128,
        "rounds": 3,
        "methods": {"SOCM": {"seconds_per_iteration": 0.291}, "adjoint": {"seconds_per_iteration": 0.224}},
    }
    text = bench.render_markdown(run, {})
    assert "| SOCM | 0.291 |" in text and "| adjoint | 0.224 |" in text and "d = 20" in text
