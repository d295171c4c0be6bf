"""The policy and value networks on torchrl (docs/papers/oni.md, "Training system"): a small feed-forward
actor-critic on the glyph crop, blstats and message bytes (the paper: RGB crop + blstats + message MLPs -> GRU 512).

Classes live at module level: torchrl's collector workers are spawned processes that unpickle the policy.
"""

from __future__ import annotations

import torch
from nle import nethack
from torch import nn

from .env import CROP, N_BLSTATS

__all__ = ["Encoder", "ActorNet", "CriticNet", "make_actor_critic", "IN_KEYS"]

IN_KEYS = ["crop", "blstats", "message"]


class Encoder(nn.Module):
    """crop (..., 9, 9) glyph ids, blstats (..., 27), message (..., 256) bytes -> (..., hidden)."""

    def __init__(self, hidden: int = 128, glyph_dim: int = 16) -> None:
        super().__init__()
        self.glyphs = nn.Embedding(nethack.MAX_GLYPH + 1, glyph_dim)
        self.conv = nn.Sequential(nn.Conv2d(glyph_dim, 16, 3, padding=1), nn.ReLU(), nn.Flatten())
        self.blstats = nn.Sequential(nn.Linear(N_BLSTATS, 64), nn.ReLU())  # the paper's blstats MLP, width 64
        self.message = nn.Sequential(nn.Linear(256, 64), nn.ReLU())  # the paper's message bytes/255 MLP
        self.out = nn.Sequential(nn.Linear(16 * CROP * CROP + 128, hidden), nn.ReLU())

    def forward(self, crop: torch.Tensor, blstats: torch.Tensor, message: torch.Tensor) -> torch.Tensor:
        lead = crop.shape[:-2]
        g = self.glyphs(crop.reshape(-1, CROP, CROP).long()).permute(0, 3, 1, 2)  # (N, E, 9, 9)
        b = torch.clamp(blstats.reshape(-1, N_BLSTATS).float() / 100.0, -5, 5)  # (N, 27), clipped as the paper
        m = message.reshape(-1, 256).float() / 255.0  # (N, 256)
        h = torch.cat([self.conv(g), self.blstats(b), self.message(m)], dim=-1)
        return self.out(h).reshape(*lead, -1)


class ActorNet(nn.Module):
    """Encoder -> action logits (..., n_actions)."""

    def __init__(self, n_actions: int, hidden: int = 128) -> None:
        super().__init__()
        self.encoder, self.head = Encoder(hidden), nn.Linear(hidden, n_actions)

    def forward(self, crop: torch.Tensor, blstats: torch.Tensor, message: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(crop, blstats, message))


class CriticNet(nn.Module):
    """Encoder -> state value (..., 1)."""

    def __init__(self, hidden: int = 128) -> None:
        super().__init__()
        self.encoder, self.head = Encoder(hidden), nn.Linear(hidden, 1)

    def forward(self, crop: torch.Tensor, blstats: torch.Tensor, message: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(crop, blstats, message))


def make_actor_critic(n_actions: int, hidden: int) -> tuple:
    """(ProbabilisticActor over a categorical action, ValueOperator) reading IN_KEYS."""
    from tensordict.nn import TensorDictModule
    from torchrl.modules import ProbabilisticActor, ValueOperator

    logits = TensorDictModule(ActorNet(n_actions, hidden), in_keys=IN_KEYS, out_keys=["logits"])
    actor = ProbabilisticActor(
        logits,
        in_keys=["logits"],
        distribution_class=torch.distributions.Categorical,
        return_log_prob=True,
    )
    critic = ValueOperator(CriticNet(hidden), in_keys=IN_KEYS)
    return actor, critic
