"""The training system (docs/papers/oni.md, "Training system"): the agent's observation, the classifier reward model
against the majority class, the annotation channel over a live server, a short APPO run with labels flowing, and a
run's metrics."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from papersuite.oni.channel import AnnotationChannel
from papersuite.oni.env import CROP, glyph_crop, make_task
from papersuite.oni.learner import ClassifierRewards, train_agent
from papersuite.oni.messages import decode_message
from papersuite.oni.steps import run_metrics, server_command

RULE_SERVER = [sys.executable, str(Path(__file__).with_name("rule_server.py"))]
CLASSIFIER = {"hidden": 64, "dropout": 0.0, "lr": 1e-3, "batch": 64, "updates_per_label_batch": 32, "threshold": 0.5}
ANNOTATOR = {"model": "rule-based", "batch_size": 8, "max_pending": 1000, "retries": 1, "temperature": 0.1,
             "max_tokens": 64, "timeout": 10.0, "goal": "defaultgoal", "prompt": "paper"}  # fmt: skip


def test_glyph_crop_is_centred_and_padded_off_the_map():
    glyphs = np.arange(21 * 79).reshape(21, 79)
    crop = glyph_crop(glyphs, x=0, y=10)
    assert crop.shape == (CROP, CROP)
    assert crop[4, 4] == glyphs[10, 0] and crop[4, 5] == glyphs[10, 1]
    assert crop[0, 0] != glyphs[6, 0] and (crop[:, :4] == crop[0, 0]).all()  # left of x = 0 is padding


def test_observation_counts_messages_and_accumulates_the_episode():
    env = make_task("StaircaseLvl2", max_episode_steps=50)
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(0)
    first = decode_message(obs["message"])  # the reset's message counts as an appearance
    seen, total, counts = {first} - {""}, 0.0, {first: 1}
    assert obs["message_count"][0] == 1 and obs["episode_distinct"][0] == len(seen)
    for _ in range(49):
        obs, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        text = decode_message(obs["message"])
        counts[text] = counts.get(text, 0) + 1
        seen |= {text} if text else set()
        total += reward
        assert obs["message_count"][0] == counts[text]
        assert obs["episode_distinct"][0] == len(seen)
        assert obs["episode_return"][0] == pytest.approx(total, abs=1e-4)
        if terminated or truncated:
            break
    env.close()


def test_classifier_beats_the_majority_on_learnable_labels_and_ties_it_on_one_class(one_thread):
    gold = {f"{n} gold pieces.": 1 for n in range(2, 14)}
    other = {f"You see here {n} arrows.": 0 for n in range(2, 26)}
    torch.manual_seed(0)
    model = ClassifierRewards({**CLASSIFIER, "updates_per_label_batch": 100}, seed=0)
    model.update({**gold, **other})  # 100 Adam steps
    acc = model.accuracy_on_labels()
    assert acc["rm_majority"] == pytest.approx(24 / 36)
    assert acc["rm_accuracy"] > 0.95 and acc["rm_gain"] > 2 * acc["rm_gain_se"] > 0  # measured 1.0; 0.333 +- 0.080
    rewards = model.rewards(torch.as_tensor(np.stack([_bytes("7 gold pieces."), _bytes("You see here 5 arrows.")])))
    assert rewards.tolist() == [1.0, 0.0]
    torch.manual_seed(0)  # the networks' initial weights come from torch's global generator
    flat = ClassifierRewards({**CLASSIFIER, "updates_per_label_batch": 20}, seed=0)
    flat.update(other)
    assert flat.accuracy_on_labels()["rm_gain"] == 0.0  # all BAR: the majority class is always right


def _bytes(text: str) -> np.ndarray:
    from papersuite.oni.messages import encode_message

    return encode_message(text)


def test_channel_labels_messages_over_the_wire_and_leaves_no_process():
    channel = AnnotationChannel(RULE_SERVER, ANNOTATOR, ready_timeout=60)
    channel.submit(["5 gold pieces.", "It's a wall.", "You kill the newt!"])
    channel.submit(["5 gold pieces."])  # a repeat is annotated once
    received: dict[str, int] = {}
    for _ in range(200):
        for labels in channel.poll():
            received.update(labels)
        if len(received) == 3:
            break
        time.sleep(0.05)
    late = channel.close(timeout=20.0)
    assert received == {"5 gold pieces.": 1, "It's a wall.": 0, "You kill the newt!": 1} and late == []
    assert channel.stats.labelled == 3 and len(channel.stats.latencies) >= 1
    assert channel.server.poll() is not None and not channel.worker.is_alive()


def test_channel_reports_a_dead_server_and_still_closes_cleanly():
    from papersuite.oni.annotator import AnnotatorServerError
    from papersuite.oni.server import stop_server

    channel = AnnotationChannel(RULE_SERVER, {**ANNOTATOR, "timeout": 2.0}, ready_timeout=60)
    stop_server(channel.server)
    channel.submit(["5 gold pieces."])
    with pytest.raises(AnnotatorServerError, match="127.0.0.1"):
        for _ in range(200):
            channel.poll()
            time.sleep(0.05)
    channel.close(timeout=10.0)
    assert channel.stats is not None and channel.stats.failures == 2 and channel.stats.labelled == 0
    assert not channel.worker.is_alive() and channel.worker.exitcode == 0


def _short_run_config() -> dict:
    """1536 frames, one env worker, 100-step episodes, the rule-based server's annotator settings."""
    return {
        "env": {"task": "StaircaseLvl2", "max_episode_steps": 100},
        "agent": {"hidden": 32},
        "appo": {"workers": 1, "batch": 128, "total_frames": 1536, "gamma": 0.99, "clip": 0.1,
                 "entropy_coeff": 0.003, "value_coeff": 0.5, "lr": 3e-4, "max_grad_norm": 4.0},
        "reward": {"c_ext": 10.0, "c_int": 0.4, "beta": 3.0, "scale": 1.0, "clip": 10.0},
        "classifier": CLASSIFIER,
        "ranker": {"hidden": 32, "lr": 1e-3, "batch": 64, "updates_per_label_batch": 2, "quantile_threshold": -0.5,
                   "released_code_typo": False, "subsample": 10, "pairs_per_batch": 4},
        "annotator": ANNOTATOR,
        "server_ready_timeout": 60,
    }  # fmt: skip


def test_a_short_retrieval_run_labels_its_messages_with_the_servers_answers(one_thread):
    cfg = _short_run_config()
    out = train_agent(cfg, "retrieval", seed=0, server_command=RULE_SERVER)
    labels = out["model"].labels
    assert out["curve"][-1][0] == 1536 and len(out["episodes"]) >= 10  # 100-step episodes
    assert len(labels) > 0 and all(v == int("gold" in m.lower() or "kill" in m.lower()) for m, v in labels.items())
    assert set(labels) <= out["seen"] and out["stats"].labelled == len(labels)
    metrics = run_metrics(out, "retrieval", last_frac=0.5)
    assert metrics["labels_distinct"] == len(labels) and metrics["run_distinct"] == len(out["seen"])
    assert out["device"] == "cpu" and metrics["intrinsic_mean"] >= 0.0
    assert metrics["annot_latency_p50"] <= metrics["annot_latency_p95"]


def test_a_run_checkpoints_and_resumes_its_weights_reward_model_and_logs(one_thread, tmp_path):
    from papersuite.core.checkpoint import list_checkpoints

    cfg = _short_run_config()
    cfg["appo"].update(total_frames=512, ckpt_every=1)  # 4 updates of 128 frames: the last 2 checkpoints kept
    first = train_agent(cfg, "classification", seed=0, server_command=RULE_SERVER, ckpt_dir=str(tmp_path))
    assert [step for step, _ in list_checkpoints(tmp_path)] == [3, 4]
    again = train_agent(cfg, "classification", seed=0, server_command=RULE_SERVER, ckpt_dir=str(tmp_path))
    assert again["curve"] == first["curve"] and again["episodes"] == first["episodes"]  # nothing left to run
    assert again["model"].labels == first["model"].labels and again["seen"] == first["seen"]
    for a, b in zip(again["model"].model.parameters(), first["model"].model.parameters()):
        assert torch.equal(a, b)
    list_checkpoints(tmp_path)[-1][1].unlink()  # as if killed after update 3
    resumed = train_agent(cfg, "classification", seed=0, server_command=RULE_SERVER, ckpt_dir=str(tmp_path))
    assert resumed["curve"][:3] == first["curve"][:3] and [c[0] for c in resumed["curve"]] == [128, 256, 384, 512]


def _rule_preference(first: str, second: str) -> int:
    """tests/oni/rule_server.py's ranking: more gold/kill keywords wins (FIRST 0, SECOND 1), equal counts tie (2)."""
    a, b = (sum(word in m.lower() for word in ("gold", "kill")) for m in (first, second))
    return 0 if a > b else 1 if b > a else 2


def test_a_short_ranking_run_labels_pairs_of_stored_messages_with_the_servers_preferences(one_thread):
    cfg = _short_run_config()
    cfg["appo"]["total_frames"] = 1024
    out = train_agent(cfg, "ranking", seed=0, server_command=RULE_SERVER)
    labels = out["model"].labels
    assert len(labels) > 0 and all(v == _rule_preference(a, b) for (a, b), v in labels.items())
    assert all(a != b and a in out["model"].store and b in out["model"].store for a, b in labels)
    assert run_metrics(out, "ranking", last_frac=0.5)["labels_distinct"] == len(labels)


def test_run_metrics_reads_the_last_episodes_with_their_noise():
    out = {
        "episodes": [(100, 0.0, 2.0, 0.0), (200, 50.0, 4.0, 1.0), (300, 0.0, 6.0, 0.0), (400, 0.0, 8.0, 0.0)],
        "curve": [(400, 1.0, 9, 0, 0.0, 0.0)],
        "seen": {"a", "b", "c"},
        "model": None,
    }
    m = run_metrics(out, "none", last_frac=0.5)  # the episodes after frame 200
    assert m["episode_distinct"] == 7.0 and m["episode_distinct_se"] == pytest.approx(1.0)
    assert m["return_mean"] == 0.0 and m["success_rate"] == 0.0 and m["run_distinct"] == 3.0
    assert "labels_distinct" not in m and "annot_msgs_per_s" not in m and "intrinsic_mean" not in m


def test_run_metrics_mean_intrinsic_reward_per_batch():
    """The claims' precondition metric: the mean of the curve's per-batch mean r_int, with its se over batches."""
    curve = [(128 * (i + 1), 1.0, 3, 2, 0.0, r) for i, r in enumerate((0.0, 0.5, 1.0))]
    out = {"episodes": [], "curve": curve, "seen": set(), "model": None, "stats": None}
    m = run_metrics(out, "classification", last_frac=0.5)
    assert m["intrinsic_mean"] == pytest.approx(0.5) and m["intrinsic_mean_se"] == pytest.approx(0.5 / np.sqrt(3))
    zeros = {**out, "curve": [row[:5] + (0.0,) for row in curve]}  # every label BAR: r_int identically 0
    m = run_metrics(zeros, "classification", last_frac=0.5)
    assert m["intrinsic_mean"] == 0.0 and m["intrinsic_mean_se"] == 0.0


def test_learner_on_cpu_shares_the_collectors_modules_and_a_copy_is_synced_after_updates():
    from papersuite.oni.agent import make_actor_critic
    from papersuite.oni.learner import _learner_copies, _sync_policy

    actor, critic = make_actor_critic(8, 16)
    assert _learner_copies(actor, critic, torch.device("cpu")) == (actor, critic)  # CPU runs are unchanged
    torch.manual_seed(1)
    learner, _ = make_actor_critic(8, 16)  # stands for the device copy: other weights, the same structure
    assert not all(torch.equal(a, b) for a, b in zip(actor.parameters(), learner.parameters()))
    _sync_policy(learner, actor)
    assert all(torch.equal(a, b) for a, b in zip(actor.parameters(), learner.parameters()))
    assert all(a.data_ptr() != b.data_ptr() for a, b in zip(actor.parameters(), learner.parameters()))


def test_server_commands():
    cmd, port = server_command({"kind": "transformers", "model": "smollm2", "raw": True, "threads": 1, "port": 0})
    assert cmd[1:] == ["-m", "papersuite.oni.server", "smollm2", "--threads", "1", "--raw"] and port is None
    cmd, port = server_command({"kind": "vllm", "model": "m", "raw": True, "threads": 1, "port": 9001})
    assert cmd[:3] == ["vllm", "serve", "m"] and port == 9001
    vllm = {
        "kind": "vllm",
        "model": "m",
        "raw": True,
        "threads": 1,
        "port": 9001,
        "args": ["--gpu-memory-utilization", "0.8"],
    }
    assert server_command(vllm)[0][-2:] == ["--gpu-memory-utilization", "0.8"]
