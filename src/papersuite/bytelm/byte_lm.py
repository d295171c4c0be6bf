"""Exact next-byte probabilities from a token LM: cover encodings, the BTR lemma and the one-call-per-byte
recursion: the paper's Byte-Token Representation Lemma and next-byte sampling algorithm (docs/papers/bytelm.md
"Cover encodings", "Next-byte recursion").

For bytes x_1^n, cover(x_1^n) = valid token sequences whose last token starts at or before byte n and
reaches byte n. BTR lemma: P(x_1^n) = Σ_{c ∈ cover} P(c). The covers split into the *flush* covers F_n,
which decode exactly to x_1^n, and the *overhanging* covers O_n, whose next byte is already known:

    P(x_1^n b) = Σ_{c ∈ O_n, c_{n+1} = b} P(c) + Σ_{f ∈ F_n} P(f) Σ_{t valid after f, first byte b} P(t | f),

so each byte costs one model call per flush cover plus bookkeeping. "Valid" means prefix-valid (a prefix of
the canonical encoding of some text, ByteTokenizer.is_prefix_valid). For prefix-closed tokenizers (MPE,
BPE without pre-tokenizer, SentencePiece) F_n = {encode(x_1^n)}, the paper's single flush encoding e_n;
GPT-2-style regex pre-tokenizers also admit a second flush when x ends in a whitespace run (the run splits
once a non-space follows), so such bytes cost two calls. All weights
are kept relative to the tokens before the stable boundary (they cancel in ratios) and renormalised to
sum to one after each byte, so they are conditional probabilities given the bytes seen.

Modes: "masked" (default) zeroes invalid next tokens and renormalises — a proper distribution for any
model; "raw" uses the model's P(t|e_n) on valid tokens unnormalised — the exact lemma ratio, which sums
to one only for a model with no mass on invalid tokens (and telescopes to the token likelihood of the
canonical encoding for any model). `check_mass` < 1 is the fast mode for large vocabularies (the exact
validity mask re-encodes the whole vocabulary for every new context): after a flush cover only the
likeliest next tokens holding `check_mass` of its probability are checked; the others are kept unchecked,
left out of next-byte distributions, and checked once the bytes seen match them and they end or at most
DEFER_LIMIT are left. The next-byte distribution misses at most 1 − check_mass of each flush cover's mass,
and covers' weights may include unchecked invalid tokens of at most that mass until they are checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .lm import TokenLM, run_steps
from .tokenizer import EOS, N_SYMBOLS, ByteTokenizer

__all__ = ["ByteLM", "State", "CoverGroup", "covers_bruteforce", "sample_byte", "generate_bytes"]


@dataclass(frozen=True)
class CoverGroup:
    """Overhanging covers parent + (t,) for t in ids: all last tokens start at byte `start` (relative to the
    boundary) and extend past the bytes seen."""

    parent: tuple[int, ...]  # valid token ids after the boundary, decoding to data[boundary:boundary+start]
    start: int
    ids: np.ndarray  # (k,) last-token ids
    logw: np.ndarray  # (k,) log P(cover | bytes seen)
    checked: np.ndarray | None = None  # (k,) validity known (fast mode defers it); None: all checked


@dataclass
class State:
    """Sampler state after bytes `data` (the original code's SamplerState, bytelm.md "Next-byte recursion"): covers
    relative to the stable boundary."""

    data: bytes
    boundary: int
    prefix_ids: tuple[int, ...]  # encode(data[:boundary]), shared by every cover
    groups: tuple[CoverGroup, ...]  # overhanging covers O_n
    flushes: tuple[tuple[int, ...], ...]  # covers decoding exactly to data[boundary:] (e_n first if present)
    flush_logw: np.ndarray  # (len(flushes),) log P(flush | bytes seen)
    byte_logprob: float = 0.0  # log P(last byte | bytes before it)
    ended: bool = False
    _next_logq: dict = field(default_factory=dict, repr=False)  # flush index -> ((V,) log q(t | flush), checked)

    @property
    def tail(self) -> bytes:
        """Bytes after the stable boundary."""
        return self.data[self.boundary :]

    @property
    def n_covers(self) -> int:
        """|cover(x_1^n)| with positive weight."""
        return sum(len(g.ids) for g in self.groups) + len(self.flushes)


def _logsumexp(a: np.ndarray) -> float:
    if a.size == 0:
        return -np.inf
    m = float(np.max(a))
    if m == -np.inf:
        return -np.inf
    return m + float(np.log(np.sum(np.exp(a - m))))


class ByteLM:
    """Byte-level LM P(b | x_1^n) over 256 bytes + EOS from a token LM and its tokenizer (bytelm.md "Method")."""

    DEFER_LIMIT = 256  # fast mode: unchecked overhanging tokens are checked once at most this many match

    def __init__(self, lm: TokenLM, tok: ByteTokenizer, mode: str = "masked", check_mass: float = 1.0):
        if mode not in ("masked", "raw"):
            raise ValueError(f"mode must be 'masked' or 'raw', got {mode!r}")
        if lm.vocab_size < tok.vocab_size:
            raise ValueError(f"model vocabulary {lm.vocab_size} < tokenizer vocabulary {tok.vocab_size}")
        self.lm, self.tok, self.mode, self.check_mass = lm, tok, mode, check_mass
        self._V = tok.vocab_size

    # ---------------------------------------------------------------- next-token step
    def _logq(
        self, ctx: tuple[int, ...], tail: bytes, tail_ids: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """((V,) log q(t | prefix + tail_ids), checked): model log-probs, mode-normalised, −inf on tokens known
        to be invalid after tail_ids; ctx = prefix + tail_ids, tail = decode(tail_ids) starts at the stable
        boundary. Fast mode checks the likeliest tokens only and says which (checked (V,)); exact: None."""
        return self._logq_from(self.lm.next_token_logprobs(ctx), tail, tail_ids)

    def _logq_from(
        self, logp: np.ndarray, tail: bytes, tail_ids: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """_logq from the model's next-token log-probs `logp` after prefix + tail_ids."""
        logp = np.asarray(logp, dtype=np.float64)[: self._V]
        checked = None
        if self.check_mass < 1.0:
            order = np.argsort(-logp)
            mass = np.cumsum(np.exp(logp[order]))
            candidates = order[: int(np.searchsorted(mass, self.check_mass * mass[-1])) + 1]
            checked = np.zeros(self._V, dtype=bool)
            checked[candidates] = True
            valid = self.tok.valid_next_mask(tail, tail_ids, candidates)
            valid |= ~checked & self.tok.is_byte_token  # unchecked byte tokens: undecided, checked when matched
            if self.tok.eos_id is not None:  # valid_next_mask always decides EOS
                checked[self.tok.eos_id] = True
        else:
            valid = self.tok.valid_next_mask(tail, tail_ids)  # (V,)
        logq = np.where(valid, logp, -np.inf)
        if self.mode == "masked":
            z = _logsumexp(logq if checked is None else np.where(checked, logq, -np.inf))
            logq = logq - z if z > -np.inf else np.full(self._V, -np.inf)
        return logq, checked

    def prefetch_steps(self, states: Sequence[State]):
        """Step-generator form of prefetch (lm.run_steps, lm.lockstep): yields the model queries of every flush cover
        of every state that lacks its next-token distribution, receives the answers, fills the states and returns
        per state the model evaluations spent."""
        todo = [
            (k, i) for k, s in enumerate(states) if not s.ended for i in range(len(s.flushes)) if i not in s._next_logq
        ]
        spent = [0] * len(states)
        if not todo:
            return spent
        answers = yield [(self.lm, states[k].prefix_ids + states[k].flushes[i]) for k, i in todo]
        for (k, i), (logp, c) in zip(todo, answers):
            s = states[k]
            s._next_logq[i] = self._logq_from(logp, s.tail, s.flushes[i])
            spent[k] += int(c)
        return spent

    def prefetch(self, states: Sequence[State]) -> list[int]:
        """Compute the next-token distributions of every flush cover of every state that lacks them, with one
        batched model call for all states (bytelm.md "Batched decoding"); returns per state the number of model
        evaluations spent (memoised contexts cost none). next_byte_distribution and advance then need no call."""
        return run_steps(self.prefetch_steps(states))

    def _flush_logq(self, state: State, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        """_logq after flush cover i (cached on the state)."""
        if i not in state._next_logq:
            f = state.flushes[i]
            state._next_logq[i] = self._logq(state.prefix_ids + f, state.tail, f)
        return state._next_logq[i]

    def _check(self, tail: bytes, parent: tuple[int, ...], ids: np.ndarray, todo: np.ndarray) -> np.ndarray:
        """(k,) bool: False where a token of `ids` flagged in `todo` is invalid after `parent` (which decodes
        to `tail`); only those are re-encoded."""
        ok = np.ones(len(ids), dtype=bool)
        if todo.any():
            check = ids[todo]
            ok[todo] = self.tok.valid_next_mask(tail, parent, check)[check]
        return ok

    # ---------------------------------------------------------------- prompt
    def prompt_state(self, prompt: bytes) -> State:
        """Covers of the prompt (bytelm.md "Prompt covers"): start at the stable boundary B, where the only cover is
        the empty continuation of encode(x_1^B), and run the recursion over x_{B+1..n} — O(n − B) model calls,
        and by construction the same covers and weights as byte-by-byte advancing."""
        prompt = bytes(prompt)
        state = self.initial_state(prompt)
        B = state.boundary
        total = 0.0
        for b in prompt[B:]:
            state = self.advance(state, b)
            total += state.byte_logprob
        state.byte_logprob = total if len(prompt) > B else 0.0  # log P(x_{B+1..n} | x_1^B)
        return state

    def initial_state(self, prompt: bytes) -> State:
        """The state at the prompt's starting boundary B (its only cover: the empty continuation of encode(x_1^B));
        prompt_state advances it over the prompt's remaining bytes."""
        prompt = bytes(prompt)
        # masked mode normalises over every valid next token, so it needs the validity of tokens that disagree
        # with the prompt too: start where that is context-free (raw mode only weighs tokens that agree)
        B = self.tok.stable_boundary(prompt) if self.mode == "raw" else self.tok.context_free_boundary(prompt)
        return State(prompt[:B], B, tuple(self.tok.encode(prompt[:B])), (), ((),), np.zeros(1))

    def _normalised(
        self,
        data: bytes,
        B: int,
        prefix: tuple[int, ...],
        groups: list[CoverGroup],
        flushes: list[tuple[tuple[int, ...], float]],
    ) -> State:
        """Build a state whose cover weights sum to one; byte_logprob = log of their sum before."""
        flushes = [f for f in flushes if f[1] > -np.inf]
        canonical = tuple(self.tok.encode(data[B:])) if len(flushes) > 1 else None
        flushes.sort(key=lambda f: f[0] != canonical)  # the canonical encoding first
        fw = np.array([w for _, w in flushes])
        total = _logsumexp(np.concatenate([g.logw for g in groups] + [fw]))
        if total == -np.inf:
            return State(data, B, prefix, (), (), np.zeros(0), -np.inf)
        norm = total
        groups = [CoverGroup(g.parent, g.start, g.ids, g.logw - norm, g.checked) for g in groups]
        state = State(data, B, prefix, tuple(groups), tuple(f for f, _ in flushes), fw - norm, total)
        return self._rebase(state)

    def _rebase(self, s: State) -> State:
        """Move the boundary to the stable boundary of s.data: the covers share encode(data[B:B']), which is
        stripped and appended to the prefix (its probability cancels in every ratio)."""
        new_boundary = self.tok.stable_boundary(s.data)
        if s.boundary >= new_boundary or s.ended:
            return s
        shift = new_boundary - s.boundary
        common = tuple(self.tok.encode(s.data[s.boundary : new_boundary]))
        k = len(common)
        groups = []
        for g in s.groups:
            if g.parent[:k] != common or g.start < shift:
                # a valid cover cannot cross a stable boundary; fast mode's unchecked ones can, and are invalid
                if g.checked is None or g.checked.any():
                    raise AssertionError(f"cover crosses the stable boundary at {new_boundary}: boundary rule is wrong")
                continue
            groups.append(CoverGroup(g.parent[k:], g.start - shift, g.ids, g.logw, g.checked))
        keep = [i for i, f in enumerate(s.flushes) if f[:k] == common]
        if len(keep) < len(s.flushes):
            raise AssertionError(f"flush encoding crosses the stable boundary at {new_boundary}")
        flushes = tuple(s.flushes[i][k:] for i in keep)
        return State(
            s.data, new_boundary, s.prefix_ids + common, tuple(groups), flushes, s.flush_logw[keep], s.byte_logprob
        )

    # ---------------------------------------------------------------- recursion
    def next_byte_distribution(self, state: State) -> np.ndarray:
        """(257,) P(b | x_1^n) for bytes 0..255 and EOS=256 (raw mode: the unnormalised lemma ratio)."""
        dist = np.zeros(N_SYMBOLS)
        if state.ended:
            return dist
        n = len(state.data) - state.boundary
        bm = self.tok.byte_matrix
        for g in state.groups:
            w = np.exp(g.logw) if g.checked is None else np.where(g.checked, np.exp(g.logw), 0.0)
            dist += np.bincount(bm[g.ids, n - g.start], weights=w, minlength=N_SYMBOLS)
        for i, fw in enumerate(state.flush_logw):
            logq, checked = self._flush_logq(state, i)
            ok = np.flatnonzero((logq > -np.inf) if checked is None else (logq > -np.inf) & checked)
            dist += np.bincount(self.tok.first_symbol[ok], weights=np.exp(fw + logq[ok]), minlength=N_SYMBOLS)
        return dist

    def advance(self, state: State, byte: int) -> State:
        """Condition on x_{n+1} = byte: keep the overhanging covers that continue with it, add f·t for each
        flush f and valid t starting with it, renormalise; state.byte_logprob = log P(byte | x_1^n)."""
        if state.ended:
            raise ValueError("cannot advance past EOS")
        byte = int(byte)
        n = len(state.data) - state.boundary
        tok = self.tok
        if byte == EOS:
            lps = (
                [fw + float(self._flush_logq(state, i)[0][tok.eos_id]) for i, fw in enumerate(state.flush_logw)]
                if tok.eos_id is not None
                else []
            )
            lp = _logsumexp(np.array(lps))
            return State(state.data, state.boundary, state.prefix_ids, (), (), np.zeros(0), lp, ended=True)
        if not 0 <= byte < 256:
            raise ValueError(f"byte must be in 0..256, got {byte}")
        bm = tok.byte_matrix
        tail = state.tail
        groups: list[CoverGroup] = []
        flushes: list[tuple[tuple[int, ...], float]] = []

        def extend(
            parent: tuple[int, ...], start: int, ids: np.ndarray, logw: np.ndarray, checked: np.ndarray | None, pos: int
        ) -> None:
            # covers parent + (t,) whose byte `pos` of t is `byte`: those ending there become flushes
            ends = tok.token_len[ids] == pos + 1
            if checked is not None:  # fast mode: check deferred tokens once they end or few are left
                todo = ~checked & (ends | (np.count_nonzero(~checked) <= self.DEFER_LIMIT))
                ok = self._check(tail[:start], parent, ids, todo)
                ids, logw, ends, checked = ids[ok], logw[ok], ends[ok], (checked | todo)[ok]
            for t, w in zip(ids[ends], logw[ends]):
                flushes.append((parent + (int(t),), float(w)))
            if (~ends).any():
                groups.append(
                    CoverGroup(parent, start, ids[~ends], logw[~ends], None if checked is None else checked[~ends])
                )

        for g in state.groups:
            pos = n - g.start
            keep = bm[g.ids, pos] == byte
            if keep.any():
                extend(
                    g.parent, g.start, g.ids[keep], g.logw[keep], None if g.checked is None else g.checked[keep], pos
                )
        for i, (f, fw) in enumerate(zip(state.flushes, state.flush_logw)):
            logq, checked = self._flush_logq(state, i)
            ids = np.flatnonzero((tok.first_symbol == byte) & (logq > -np.inf))
            extend(f, n, ids, fw + logq[ids], None if checked is None else checked[ids], 0)
        return self._normalised(state.data + bytes([byte]), state.boundary, state.prefix_ids, groups, flushes)

    def covers(self, state: State) -> set[tuple[int, ...]]:
        """The full cover sequences (prefix tokens included) with positive weight (for tests)."""
        out = {state.prefix_ids + g.parent + (int(t),) for g in state.groups for t in g.ids}
        out.update(state.prefix_ids + f for f in state.flushes)
        return out

    # ---------------------------------------------------------------- scoring and sampling
    def logprob(self, data: bytes, eos: bool = True, prompt: bytes = b"") -> float:
        """Σ log P(x_{i+1} | prompt, x_1^i) over the bytes of data (+ log P(EOS | ...) if eos), natural log."""
        return float(np.sum(self.byte_logprobs(data, eos, prompt)))

    def byte_logprobs(self, data: bytes, eos: bool = True, prompt: bytes = b"") -> np.ndarray:
        """(len(data) [+1],) per-byte log P(x_{i+1} | prompt, x_1^i) (bits-per-byte evaluations)."""
        state = self.prompt_state(prompt)
        out = []
        for b in bytes(data):
            state = self.advance(state, b)
            out.append(state.byte_logprob)
        if eos:
            out.append(self.advance(state, EOS).byte_logprob)
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
        """Sample up to max_bytes bytes after prompt, byte by byte (greedy when temperature < 0.1, as the code).
        Stops at EOS, or after the byte for which stop(generated) is true."""
        return generate_bytes(self, prompt, max_bytes, temperature, top_p, seed, stop)

    # ---------------------------------------------------------------- many prompts (batched.py)
    def generate_batch(self, prompts: Sequence[bytes], max_bytes: int | Sequence[int], **kwargs) -> list[bytes]:
        """generate for many prompts, one batched model call per step for all of them (batched.generate_batch;
        bytelm.md "Batched decoding"); max_bytes is one cap or one per prompt."""
        from .batched import generate_batch

        return generate_batch(self, prompts, max_bytes, **kwargs)

    def next_byte_distributions(self, prompts: Sequence[bytes]) -> np.ndarray:
        """(len(prompts), 257) next_byte_distribution after every prompt, batched across prompts."""
        from .batched import next_byte_distributions

        return next_byte_distributions(self, prompts)

    def byte_logprobs_batch(
        self, datas: Sequence[bytes], eos: bool = True, prompts: Sequence[bytes] | None = None
    ) -> list[np.ndarray]:
        """byte_logprobs for many (data, prompt) pairs, batched across them (bits-per-byte evaluations)."""
        from .batched import byte_logprobs_batch

        return byte_logprobs_batch(self, datas, eos, prompts)


def sample_byte(dist: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator) -> int:
    """Pick a symbol from a (257,) distribution: argmax if temperature < 0.1, else p^(1/T) renormalised,
    nucleus-truncated to top_p (bytelm.md "Sampling")."""
    p = np.clip(np.asarray(dist, dtype=np.float64), 0.0, None)
    if p.sum() <= 0:
        raise ValueError("next-byte distribution has no mass")
    if temperature < 0.1:
        return int(np.argmax(p))
    with np.errstate(divide="ignore"):
        logp = np.log(p) / temperature
    p = np.exp(logp - logp.max())
    p /= p.sum()
    if top_p < 1.0:
        order = np.argsort(-p)
        cum = np.cumsum(p[order])
        keep = order[: int(np.searchsorted(cum, top_p)) + 1]
        q = np.zeros_like(p)
        q[keep] = p[keep]
        p = q / q.sum()
    return int(rng.choice(len(p), p=p))


def generate_bytes(
    model,
    prompt: bytes,
    max_bytes: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    stop: Callable[[bytes], bool] | None = None,
) -> bytes:
    """Byte-by-byte generation for anything with prompt_state / next_byte_distribution / advance."""
    rng = np.random.default_rng(seed)
    state = model.prompt_state(prompt)
    out = bytearray()
    while len(out) < max_bytes:
        b = sample_byte(model.next_byte_distribution(state), temperature, top_p, rng)
        if b == EOS:
            break
        out.append(b)
        if stop is not None and stop(bytes(out)):
            break
        if len(out) < max_bytes:
            state = model.advance(state, b)
    return bytes(out)


def covers_bruteforce(tok: ByteTokenizer, prefix: bytes) -> set[tuple[int, ...]]:
    """All prefix-valid token sequences t with decode(t[:-1]) a proper prefix of `prefix` and `prefix` a prefix of
    decode(t), by exhaustive segmentation (bytelm.md "Known answers" 4); {()} for the empty prefix."""
    x = bytes(prefix)
    n = len(x)
    if n == 0:
        return {()}
    out: set[tuple[int, ...]] = set()
    byte_ids = [i for i, tb in enumerate(tok.token_bytes) if tb]

    def walk(i: int, seq: tuple[int, ...]) -> None:
        rest = x[i:]
        for t in byte_ids:
            tb = tok.token_bytes[t]
            if tb.startswith(rest):  # last token reaches byte n
                if tok.is_prefix_valid(seq + (t,)):
                    out.add(seq + (t,))
            elif rest.startswith(tb):  # token inside the prefix, ends before n
                walk(i + len(tb), seq + (t,))

    walk(0, ())
    return out
