"""Byte-level ensembles of token LMs with different vocabularies (the paper's model
ensembles; docs/papers/bytelm.md "Ensembles").

Each member gives P_i(b | x_1^n) over the shared 257-symbol byte alphabet; the ensemble is
P(b | x) = Σ_i w_i P_i(b | x) with each member first renormalised over the alphabet (as the code does) and
weights normalised to sum to one. One byte is chosen and every member's state advances with it, so nothing
has to be aligned between vocabularies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .byte_lm import ByteLM, State, generate_bytes
from .lm import merged, run_steps
from .tokenizer import EOS

__all__ = ["ByteEnsemble", "EnsembleState"]


@dataclass
class EnsembleState:
    """One State per member plus the mixture log-probability of the last byte."""

    members: tuple[State, ...]
    byte_logprob: float = 0.0
    ended: bool = False


class ByteEnsemble:
    """Mixture P = Σ_i w_i P_i of byte-level models; same interface as ByteLM."""

    def __init__(self, models: Sequence[ByteLM], weights: Sequence[float] | None = None):
        if not models:
            raise ValueError("an ensemble needs at least one model")
        w = np.ones(len(models)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(models),) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"need {len(models)} non-negative weights with a positive sum, got {weights}")
        self.models = list(models)
        self.weights = w / w.sum()

    def prompt_state(self, prompt: bytes) -> EnsembleState:
        """Every member's covers of the prompt."""
        return EnsembleState(tuple(m.prompt_state(prompt) for m in self.models))

    def prefetch_steps(self, states: Sequence[EnsembleState]):
        """Step-generator form of prefetch: every member's queries in one step (lm.merged)."""
        live = [k for k, s in enumerate(states) if not s.ended]
        per_member = yield from merged(
            [m.prefetch_steps([states[k].members[j] for k in live]) for j, m in enumerate(self.models)]
        )
        spent = [0] * len(states)
        for member_spent in per_member:
            for k, c in zip(live, member_spent):
                spent[k] += c
        return spent

    def prefetch(self, states: Sequence[EnsembleState]) -> list[int]:
        """Every member's batched model call for all states (ByteLM.prefetch, bytelm.md "Batched decoding");
        returns per state the model evaluations of all members."""
        return run_steps(self.prefetch_steps(states))

    def _member_dists(self, state: EnsembleState) -> list[np.ndarray]:
        out = []
        for m, s in zip(self.models, state.members):
            d = m.next_byte_distribution(s)
            z = d.sum()
            out.append(d / z if z > 0 else d)
        return out

    def next_byte_distribution(self, state: EnsembleState) -> np.ndarray:
        """(257,) Σ_i w_i P_i(b | x_1^n)."""
        return sum(w * d for w, d in zip(self.weights, self._member_dists(state)))

    def advance(self, state: EnsembleState, byte: int) -> EnsembleState:
        """Advance every member with the same byte; byte_logprob = log of the mixture probability of byte."""
        p = float(self.next_byte_distribution(state)[int(byte)])
        members = tuple(m.advance(s, byte) for m, s in zip(self.models, state.members))
        return EnsembleState(members, float(np.log(p)) if p > 0 else -np.inf, int(byte) == EOS)

    def logprob(self, data: bytes, eos: bool = True, prompt: bytes = b"") -> float:
        """Σ log P_ens(x_{i+1} | prompt, x_1^i) (+ EOS)."""
        return float(self.byte_logprobs(data, eos, prompt).sum())

    def byte_logprobs(self, data: bytes, eos: bool = True, prompt: bytes = b"") -> np.ndarray:
        """Per-byte mixture log-probabilities of data after prompt (+ EOS)."""
        state = self.prompt_state(prompt)
        out = []
        for b in list(bytes(data)) + ([EOS] if eos else []):
            state = self.advance(state, b)
            out.append(state.byte_logprob)
        return np.array(out)

    def generate(
        self,
        prompt: bytes,
        max_bytes: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
        stop: Callable[[bytes], bool] | None = None,
    ) -> bytes:
        """Byte-by-byte generation from the mixture (greedy when temperature < 0.1)."""
        return generate_bytes(self, prompt, max_bytes, temperature, top_p, seed, stop)

    def generate_batch(self, prompts: Sequence[bytes], max_bytes: int | Sequence[int], **kwargs) -> list[bytes]:
        """generate for many prompts with one batched model call per member and step (batched.generate_batch)."""
        from .batched import generate_batch

        return generate_batch(self, prompts, max_bytes, **kwargs)

    def byte_logprobs_batch(self, datas: Sequence[bytes], eos: bool = True, prompts=None) -> list[np.ndarray]:
        """byte_logprobs for many documents, batched (batched.byte_logprobs_batch)."""
        from .batched import byte_logprobs_batch

        return byte_logprobs_batch(self, datas, eos, prompts)
