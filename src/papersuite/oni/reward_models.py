"""ONI's learned reward models on the 256-byte message (docs/papers/oni.md, "Reward models"): the char-CNN
classifier with a threshold (ONI-Classification) and the Bradley-Terry ranking model with ties (ONI-Ranking)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "CharCNN",
    "MessageClassifier",
    "MessageRanker",
    "classifier_reward",
    "bradley_terry_loss",
    "soft_preference",
]


class CharCNN(nn.Module):
    """Char embedding 256->32, Conv7-Pool3-Conv7-Pool3-4xConv3-Pool3 at 64 channels, flatten 5x64 -> 128."""

    def __init__(self, channels: int = 64, out_dim: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(256, 32)
        layers: list[nn.Module] = [nn.Conv1d(32, channels, 7), nn.ReLU(), nn.MaxPool1d(3)]
        layers += [nn.Conv1d(channels, channels, 7), nn.ReLU(), nn.MaxPool1d(3)]
        for _ in range(4):
            layers += [nn.Conv1d(channels, channels, 3), nn.ReLU()]
        layers.append(nn.MaxPool1d(3))
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Linear(5 * channels, out_dim), nn.ReLU())

    def forward(self, messages: torch.Tensor) -> torch.Tensor:
        """messages: (B, 256) int64 byte codes -> (B, out_dim)."""
        x = self.embed(messages).transpose(1, 2)  # (B, 32, 256)
        return self.fc(self.convs(x).flatten(1))  # (B, 64, 5) -> (B, 320) -> (B, 128)


class MessageClassifier(nn.Module):
    """ONI-Classification's model: CharCNN -> MLP [512, 512] with dropout 0.1 -> 2 logits (BAR, FOO)."""

    def __init__(self, hidden: int = 512, dropout: float = 0.1) -> None:
        super().__init__()
        self.body = CharCNN()
        self.head = nn.Sequential(
            nn.Linear(128, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, 2),
        )  # fmt: skip

    def forward(self, messages: torch.Tensor) -> torch.Tensor:
        """(B, 256) -> logits (B, 2)."""
        return self.head(self.body(messages))


def classifier_reward(logits: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """r_int = 1[softmax(logits)_FOO > threshold] (B,): binary and sparse; threshold 0.5 equals the argmax."""
    return (logits.softmax(-1)[:, 1] > threshold).to(logits.dtype)


class MessageRanker(nn.Module):
    """ONI-Ranking's r_psi: CharCNN -> FC 256 -> 512, ReLU -> Linear -> scalar (Motif's message-only encoder)."""

    def __init__(self, h_dim: int = 512) -> None:
        super().__init__()
        self.body = nn.Sequential(CharCNN(out_dim=256), nn.Linear(256, h_dim), nn.ReLU())
        self.head = nn.Linear(h_dim, 1)

    def forward(self, messages: torch.Tensor) -> torch.Tensor:
        """(B, 256) -> r_psi (B,)."""
        return self.head(self.body(messages)).squeeze(-1)


def soft_preference(labels: torch.Tensor) -> torch.Tensor:
    """Ranking labels FIRST=0, SECOND=1, TIE=2 -> the probability that the second is preferred: 0, 1, 0.5."""
    return torch.where(labels == 2, torch.full_like(labels, 0.5, dtype=torch.float32), labels.float())


def bradley_terry_loss(r1: torch.Tensor, r2: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean CE between softmax(r1, r2) and the soft label (1 - l, l), l = P(second preferred) (Motif, Eq. 1)."""
    target = soft_preference(labels)  # (B,)
    logp = F.log_softmax(torch.stack([r1, r2], dim=-1), dim=-1)  # (B, 2)
    return -((1 - target) * logp[:, 0] + target * logp[:, 1]).mean()
