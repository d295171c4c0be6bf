"""ONI's learner on torchrl (paper Sec. 3, Fig. 1; docs/papers/oni.md, "Training system"): an asynchronous collector
with env worker processes, V-trace targets and the PPO clip loss (APPO), the intrinsic reward computed at learning
time from the current reward model, and the annotator subprocess talking HTTP to the live LLM server."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from .channel import AnnotationChannel
from .env import make_task
from .messages import decode_message
from .rewards import RetrievalTable, combine_rewards
from .tasks import EXTENDED_ACTIONS

__all__ = [
    "REWARD_TYPES",
    "make_torchrl_env",
    "ClassifierRewards",
    "RankingRewards",
    "AnnotationChannel",
    "fit_minibatches",
    "labels_as_rows",
    "train_agent",
]

log = logging.getLogger(__name__)
REWARD_TYPES = ("none", "retrieval", "classification", "ranking")  # extrinsic-only and ONI's three reward models


def make_torchrl_env(task: str, max_episode_steps: int) -> Any:
    """The wrapped task as a torchrl env (a module-level function: collector workers rebuild it), one torch thread."""
    import torch
    from torchrl.envs import GymWrapper

    torch.set_num_threads(1)  # the worker's policy copy is small; the learner and the server hold the other threads

    return GymWrapper(make_task(task, max_episode_steps), categorical_action_encoding=True)


def fit_minibatches(model: Any, optimizer: Any, generator: Any, n: int, batch: int, steps: int, loss_of: Any,
                    clip: float | None = None) -> None:  # fmt: skip
    """`steps` Adam steps, each on `batch` items drawn with replacement from n (the reward models' update after a
    label batch, paper Sec. 3.2); loss_of(idx (B,)) -> scalar loss; optional gradient-norm clip."""
    import torch

    model.train()
    for _ in range(steps):
        idx = torch.randint(n, (min(batch, n),), generator=generator)  # (B,)
        loss = loss_of(idx)
        optimizer.zero_grad()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()


def labels_as_rows(labels: Mapping[Any, int]) -> list[list[Any]]:
    """Labels as rows [message, label] or [message_1, message_2, label] (weights_only checkpoints, JSON records)."""
    return [[*(k if isinstance(k, tuple) else (k,)), v] for k, v in labels.items()]


class ClassifierRewards:
    """ONI-Classification: the char-CNN distilled from the labels; reward 1[p_FOO > tau] (paper Sec. 3.2)."""

    def __init__(self, cfg: Mapping[str, Any], seed: int) -> None:
        import torch

        from .reward_models import MessageClassifier

        self.model = MessageClassifier(hidden=int(cfg["hidden"]), dropout=float(cfg["dropout"]))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=float(cfg["lr"]))
        self.batch, self.steps = int(cfg["batch"]), int(cfg["updates_per_label_batch"])
        self.threshold = float(cfg["threshold"])
        self.labels: dict[str, int] = {}
        self.generator = torch.Generator().manual_seed(seed)

    def _data(self) -> tuple[Any, Any]:
        """(messages (N, 256) int64, labels (N,) int64) of every label received."""
        import torch

        from .messages import encode_message

        texts = list(self.labels)
        x = torch.as_tensor(np.stack([encode_message(t) for t in texts]))  # (N, 256)
        return x, torch.as_tensor([self.labels[t] for t in texts])  # (N,)

    def update(self, labels: Mapping[str, int]) -> None:
        """Merge a label batch, then `updates_per_label_batch` Adam steps of cross-entropy (paper: 32 per batch)."""
        import torch

        self.labels.update(labels)
        x, y = self._data()
        fit_minibatches(self.model, self.optimizer, self.generator, len(y), self.batch, self.steps,
                        lambda idx: torch.nn.functional.cross_entropy(self.model(x[idx]), y[idx]))  # fmt: skip

    def rewards(self, messages: Any) -> np.ndarray:
        """messages (T, 256) bytes -> (T,) rewards in {0, 1}."""
        import torch

        from .reward_models import classifier_reward

        if not self.labels:
            return np.zeros(len(messages))
        self.model.eval()
        with torch.no_grad():
            return classifier_reward(self.model(messages.long()), self.threshold).double().numpy()

    def accuracy_on_labels(self) -> dict[str, float]:
        """Training accuracy on its own labels against the majority class, paired per message (with SEs)."""
        import torch

        from papersuite.core.noise import mean_se, paired_difference_se

        x, y = self._data()
        self.model.eval()
        with torch.no_grad():
            correct = (self.model(x).argmax(-1) == y).double().numpy()  # (N,)
        majority = int(y.double().mean() >= 0.5)
        base = (y.numpy() == majority).astype(float)  # (N,)
        acc, acc_se = mean_se(correct)
        gain, gain_se = paired_difference_se(correct, base)
        return {"rm_accuracy": acc, "rm_accuracy_se": acc_se, "rm_majority": float(base.mean()),
                "rm_gain": gain, "rm_gain_se": gain_se}  # fmt: skip


class RankingRewards:
    """ONI-Ranking: r_psi distilled from the LLM's pairwise preferences with Bradley-Terry (soft ties), then the
    running normalisation and the quantile threshold (paper Sec. 3.2; Motif Eq. 1)."""

    def __init__(self, cfg: Mapping[str, Any], seed: int) -> None:
        import torch

        from .reward_models import MessageRanker
        from .rewards import RunningMeanStd

        self.model = MessageRanker(h_dim=int(cfg["hidden"]))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=float(cfg["lr"]))
        self.batch, self.steps = int(cfg["batch"]), int(cfg["updates_per_label_batch"])
        self.threshold, self.typo = float(cfg["quantile_threshold"]), bool(cfg["released_code_typo"])
        self.subsample, self.pairs_per_batch = int(cfg["subsample"]), int(cfg["pairs_per_batch"])
        self.labels: dict[tuple[str, str], int] = {}
        self.store: dict[str, None] = {}  # the message store, de-duplicated by message
        self.stats = RunningMeanStd()
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(seed)

    def pairs(self, texts: list[str]) -> list[tuple[str, str]]:
        """Store every `subsample`-th non-empty message of the batch, then draw `pairs_per_batch` new unlabelled
        pairs uniformly from the store (the paper: 10 pairs per minibatch, observations subsampled by 10)."""
        self.store.update(dict.fromkeys(t for t in texts[:: self.subsample] if t))
        pool = list(self.store)
        if len(pool) < 2:
            return []
        picks = [self.rng.choice(len(pool), 2, replace=False) for _ in range(self.pairs_per_batch)]
        return [(pool[i], pool[j]) for i, j in picks if (pool[i], pool[j]) not in self.labels]

    def update(self, labels: Mapping[tuple[str, str], int]) -> None:
        """Merge pair labels (FIRST, SECOND, TIE), then Adam steps of the Bradley-Terry loss (gradient clip 10)."""
        import torch

        from .messages import encode_message
        from .reward_models import bradley_terry_loss

        self.labels.update(labels)
        pairs = list(self.labels)
        x1 = torch.as_tensor(np.stack([encode_message(a) for a, _ in pairs]))  # (N, 256)
        x2 = torch.as_tensor(np.stack([encode_message(b) for _, b in pairs]))  # (N, 256)
        y = torch.as_tensor([self.labels[p] for p in pairs])  # (N,)

        def loss_of(idx):  # (B,) -> the Bradley-Terry loss with soft ties
            return bradley_terry_loss(self.model(x1[idx]), self.model(x2[idx]), y[idx])

        fit_minibatches(self.model, self.optimizer, self.generator, len(y), self.batch, self.steps, loss_of, clip=10.0)

    def rewards(self, messages: Any) -> np.ndarray:
        """messages (T, 256) bytes -> (T,) normalised, thresholded r_psi (or raw r_psi with the released typo)."""
        import torch

        from .rewards import ranking_intrinsic

        if not self.labels:
            return np.zeros(len(messages))
        self.model.eval()
        with torch.no_grad():
            raw = self.model(messages.long()).double().numpy()  # (T,)
        return ranking_intrinsic(raw, self.stats, self.threshold, self.typo)


def _intrinsic(kind: str, model: Any, batch: Any) -> tuple[np.ndarray, list[str], list[str]]:
    """(r_int (T,), the step messages, the distinct unlabelled non-empty messages to submit) for one batch."""
    raw = batch["next", "message"]  # (T, 256) uint8
    texts = [decode_message(row) for row in raw.numpy()]
    if kind == "none":
        return np.zeros(len(texts)), texts, []
    labels = model.labels
    unseen = list(dict.fromkeys(t for t in texts if t and t not in labels))
    if kind == "retrieval":
        r_int, _ = model.rewards(texts)
    else:
        r_int = model.rewards(raw)
    if kind == "ranking":
        unseen = model.pairs(texts)
    r_int = np.where([bool(t) for t in texts], r_int, 0.0)  # the empty message earns nothing
    return r_int, texts, unseen


def _episodes(batch: Any) -> list[tuple[float, float, float]]:
    """(extrinsic return, distinct messages, success) of every episode that ended in this batch."""
    done = batch["next", "done"].reshape(-1)  # (T,)
    if not bool(done.any()):
        return []
    nxt = batch["next"][done]
    cols = [nxt[key].reshape(-1).tolist() for key in ("episode_return", "episode_distinct", "success")]
    return list(zip(*cols))


def _apply_labels(model: Any, batches: list[dict[str, int]], arrivals: list, t0: float, frames: int):
    """Merge label batches into the reward model (retrieval: the table; classification: the char-CNN updates)."""
    for labels in batches:
        model.update(labels)
        arrivals.append((frames, time.perf_counter() - t0, len(model.labels)))


def _make_learning(actor: Any, critic: Any, cfg: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """(V-trace estimator, PPO clip loss, Adam) with the paper's APPO settings (docs/papers/oni.md)."""
    import torch
    from torchrl.objectives import ClipPPOLoss
    from torchrl.objectives.value import VTrace

    vtrace = VTrace(gamma=float(cfg["gamma"]), actor_network=actor, value_network=critic, rho_thresh=1.0, c_thresh=1.0)
    loss = ClipPPOLoss(
        actor,
        critic,
        clip_epsilon=float(cfg["clip"]),
        entropy_coeff=float(cfg["entropy_coeff"]),
        critic_coeff=float(cfg["value_coeff"]),
        loss_critic_type="l2",
    )
    optimizer = torch.optim.Adam(loss.parameters(), lr=float(cfg["lr"]), eps=1e-6)
    return vtrace, loss, optimizer


def _learner_copies(actor: Any, critic: Any, device: Any) -> tuple[Any, Any]:
    """The networks the learner updates: the collector's own CPU modules on CPU, copies on another device (the
    collector's workers keep acting with the CPU modules, synced after each update by _sync_policy)."""
    import copy

    if device.type == "cpu":
        return actor, critic
    return copy.deepcopy(actor).to(device), copy.deepcopy(critic).to(device)


def _sync_policy(learner_actor: Any, actor: Any) -> None:
    """Copy the learner's actor weights into the collector's CPU actor (nothing to do when they are one module)."""
    import torch

    if learner_actor is actor:
        return
    with torch.no_grad():
        for target, source in zip(actor.parameters(), learner_actor.parameters()):
            target.copy_(source)


def _learn(batch: Any, vtrace: Any, loss: Any, optimizer: Any, max_grad_norm: float) -> float:
    """One APPO update on a batch (T,): V-trace advantages and targets, then the PPO clip loss; returns the loss."""
    import torch

    with torch.no_grad():
        vtrace(batch)
    out = loss(batch)
    total = out["loss_objective"] + out["loss_critic"] + out["loss_entropy"]
    optimizer.zero_grad()
    total.backward()
    torch.nn.utils.clip_grad_norm_(loss.parameters(), max_grad_norm)
    optimizer.step()
    return float(total.detach())


def _reward_model(kind: str, cfg: Mapping[str, Any], seed: int) -> Any:
    if kind == "retrieval":
        return RetrievalTable()
    if kind == "classification":
        return ClassifierRewards(cfg["classifier"], seed)
    if kind == "ranking":
        return RankingRewards(cfg["ranker"], seed)
    return None


def _model_state(model: Any) -> dict[str, Any]:
    """A reward model as tensors, numbers, strings and lists (checkpoints are read with weights_only=True)."""
    if model is None:
        return {}
    state: dict[str, Any] = {"labels": labels_as_rows(model.labels)}
    if hasattr(model, "optimizer"):
        state.update(net=model.model.state_dict(), opt=model.optimizer.state_dict())
    if hasattr(model, "store"):
        state.update(store=list(model.store), rms=[model.stats.mean, model.stats.var, model.stats.count])
    return state


def _load_model_state(model: Any, state: Mapping[str, Any]) -> None:
    """Restore what _model_state saved."""
    if model is None:
        return
    pairs = isinstance(model, RankingRewards)
    model.labels.update({(tuple(r[:2]) if pairs else r[0]): int(r[-1]) for r in state["labels"]})
    if "net" in state:
        model.model.load_state_dict(state["net"])
        model.optimizer.load_state_dict(state["opt"])
    if "store" in state:
        model.store.update(dict.fromkeys(state["store"]))
        model.stats.mean, model.stats.var, model.stats.count = (float(v) for v in state["rms"])


def _resume(run: Any, nets: tuple, model: Any, out: dict[str, Any]) -> int:
    """Restore actor, critic, optimizer, reward model and the logs from the newest checkpoint; frames done."""
    ckpt = run.resume()
    if ckpt is None:
        return 0
    for net, key in zip(nets, ("actor", "critic", "optimizer")):
        net.load_state_dict(ckpt[key])
    _load_model_state(model, ckpt["reward_model"])
    for key in ("episodes", "curve", "arrivals"):
        out[key] = [tuple(row) for row in ckpt["log"][key]]
    out["seen"] = set(ckpt["log"]["seen"])
    return int(ckpt["frames"])


def _save(run: Any, update: int, total: int, nets: tuple, model: Any, out: dict[str, Any], frames: int) -> None:
    """Checkpoint after `update` of `total` learner updates when due."""
    if not run.due(update, total):
        return
    state = {key: net.state_dict() for net, key in zip(nets, ("actor", "critic", "optimizer"))}
    log_state = {key: [list(row) for row in out[key]] for key in ("episodes", "curve", "arrivals")}
    run.save(update, {**state, "reward_model": _model_state(model), "frames": frames,
                      "log": {**log_state, "seen": sorted(out["seen"])}})  # fmt: skip


def _update_on(
    batch: Any, kind: str, model: Any, channel: Any, learning: tuple, cfg: Mapping[str, Any], device: Any
) -> tuple:
    """Rewards at learning time (paper Sec. 3) on the CPU batch, then one APPO update on `device`: (loss, r_int (T,),
    texts)."""
    import torch

    reward, appo = cfg["reward"], cfg["appo"]
    c_int = float(reward["c_int"]) if kind != "none" else 0.0  # `none`: c_int = 0 (paper's code)
    r_int, texts, unseen = _intrinsic(kind, model, batch)
    if channel is not None:
        channel.submit(unseen)
    r_ext = batch["next", "reward"].reshape(-1).double().numpy()  # (T,)
    counts = batch["next", "message_count"].reshape(-1).numpy()  # (T,)
    r = combine_rewards(r_ext, r_int, counts, float(reward["c_ext"]), c_int, float(reward["beta"]),
                        float(reward["scale"]), float(reward["clip"]))  # fmt: skip
    batch["next", "reward"] = torch.as_tensor(r, dtype=torch.float32).reshape(batch["next", "reward"].shape)
    return _learn(batch.to(device), *learning, float(appo["max_grad_norm"])), r_int, texts


def train_agent(
    cfg: Mapping[str, Any], kind: str, seed: int, server_command: list[str] | None, ckpt_dir: str | None = None
) -> dict[str, Any]:
    """Train one agent with reward `kind` (REWARD_TYPES); the server and annotator live only inside this call.

    cfg: env, agent, appo, reward, classifier (or ranker), annotator, server_ready_timeout. Returns episodes (frames,
    return, distinct messages, success), the curve (frames, seconds, distinct messages so far, labels, loss, mean
    r_int), label arrivals (frames, seconds, labels), the reward model and the annotator's stats. With `ckpt_dir`
    and `appo.ckpt_every` (learner updates) it checkpoints and resumes (docs/papers/oni.md, "Resuming").
    """
    import torch
    from torchrl.collectors import MultiAsyncCollector

    from papersuite.core.checkpoint import TrainingCheckpoints
    from papersuite.core.runtime import choose_device

    from .agent import make_actor_critic

    torch.manual_seed(seed)
    env_cfg, appo = cfg["env"], cfg["appo"]
    device = choose_device(prefer=str(appo.get("device", "auto")))
    model = _reward_model(kind, cfg, seed)
    channel = collector = None
    t0 = time.perf_counter()
    out: dict[str, Any] = {"episodes": [], "curve": [], "arrivals": [], "seen": set(), "server_s": 0.0,
                           "device": str(device)}  # fmt: skip
    actor, critic = make_actor_critic(len(EXTENDED_ACTIONS), int(cfg["agent"]["hidden"]))  # the collector's, on CPU
    learner_actor, learner_critic = _learner_copies(actor, critic, device)
    vtrace, loss, optimizer = _make_learning(learner_actor, learner_critic, appo)
    nets = (learner_actor, learner_critic, optimizer)
    batch_frames, total_frames = int(appo["batch"]), int(appo["total_frames"])
    run = TrainingCheckpoints(ckpt_dir, {"cfg": dict(cfg), "kind": kind, "seed": seed}, int(appo.get("ckpt_every", 0)))
    frames = _resume(run, nets, model, out)
    _sync_policy(learner_actor, actor)
    try:
        if kind != "none" and frames < total_frames:
            items = "ranking" if kind == "ranking" else "classification"  # what the annotator labels: pairs or messages
            channel = AnnotationChannel(list(server_command), cfg["annotator"], float(cfg["server_ready_timeout"]),
                                        cfg.get("server_port"), items)  # fmt: skip
            out["server_s"] = time.perf_counter() - t0
            log.info("LLM server healthy at %s after %.1f s", channel.base_url, out["server_s"])
        if frames < total_frames:
            make = functools.partial(make_torchrl_env, env_cfg["task"], int(env_cfg["max_episode_steps"]))
            collector = MultiAsyncCollector([make] * int(appo["workers"]), actor, frames_per_batch=batch_frames,
                                            total_frames=total_frames - frames)  # fmt: skip
            collector.set_seed(seed + frames)  # a resumed run draws fresh env streams
        for batch in collector if collector is not None else []:
            if channel is not None:
                _apply_labels(model, channel.poll(), out["arrivals"], t0, frames)
            total, r_int, texts = _update_on(batch, kind, model, channel, (vtrace, loss, optimizer), cfg, device)
            _sync_policy(learner_actor, actor)
            collector.update_policy_weights_()
            frames += batch.numel()
            out["seen"].update(t for t in texts if t)
            out["episodes"].extend((frames, *episode) for episode in _episodes(batch))
            n_labels = len(model.labels) if model is not None else 0
            out["curve"].append((frames, time.perf_counter() - t0, len(out["seen"]), n_labels, total,
                                 float(r_int.mean())))  # fmt: skip
            _save(run, frames // batch_frames, -(-total_frames // batch_frames), nets, model, out, frames)
    finally:
        if collector is not None:
            collector.shutdown()
        if channel is not None:
            late = channel.close(timeout=float(cfg["annotator"]["timeout"]) + 10.0)
            if model is not None and late:
                _apply_labels(model, late, out["arrivals"], t0, frames)
            out["stats"] = channel.stats
    if channel is not None:  # the labels drained at the close join the final checkpoint
        last = -(-total_frames // batch_frames)
        _save(run, last, last, nets, model, out, frames)
    out["model"] = model
    out["wall_s"] = time.perf_counter() - t0
    return out
