"""FIM on HumanEval infilling tasks (docs/papers/bytelm.md "FIM", "FIM benchmark",
"Known answers" 3): prompt layouts, the
byte-level FIM distribution's telescoping identity under a multi-token context, greedy stopping at <EOT>, the
splice and test run, and the data loader. Tiny random GPT-2s and `tokenizers` BPEs with added FIM tokens stand
in for CodeLlama (full scale only)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from papersuite.bytelm import fim
from papersuite.bytelm import humaneval as he
from papersuite.bytelm.byte_lm import ByteLM, covers_bruteforce

FIM_NAMES = {
    "bos_token": "<|endoftext|>",
    "prefix_token": "<PRE>",
    "suffix_token": "<SUF>",
    "middle_token": "<MID>",
    "eot_token": "<EOT>",
}
# CodeLlama's names (▁-prefixed) on a Llama-style SentencePiece BPE
SP_NAMES = {
    "bos_token": "<s>",
    "prefix_token": "\u2581<PRE>",
    "suffix_token": "\u2581<SUF>",
    "middle_token": "\u2581<MID>",
    "eot_token": "\u2581<EOT>",
}


def _bpe_with_fim(special: bool = True):
    from bytelm_helpers import byte_level_bpe

    tk = byte_level_bpe(300)
    names = ["<PRE>", "<SUF>", "<MID>", "<EOT>"]
    if special:
        tk.add_special_tokens(names)
    else:  # listed as ordinary added tokens: the FIM byte tokenizer must still treat them as special
        tk.add_tokens(names)
    return tk


@pytest.fixture(scope="module")
def bpe_session():
    """FimSession over a byte-level BPE (V=304 with FIM tokens) and a random float64 tiny GPT-2."""
    from bytelm_helpers import tiny_gpt2

    tk = _bpe_with_fim()
    return fim.FimSession(tiny_gpt2(tk.get_vocab_size(), seed=5, n_positions=512), tk, FIM_NAMES)


@pytest.fixture(scope="module")
def humaneval_fim_task():
    """HumanEval/0 as a random-span infilling task: the middle is cut inside tokens at both ends."""
    task = he.load_humaneval(he.default_humaneval())[0]
    sol = task["canonical_solution"]
    start = sol.index("turn True")  # inside "return", a token of the tiny BPE
    end = start + len("turn True")
    return {
        "task_id": "RandomSpanInfilling/HumanEval/0/0",
        "entry_point": task["entry_point"],
        "prompt": task["prompt"] + sol[:start],
        "suffix": sol[end:],
        "canonical_solution": sol[start:end],
        "test": task["test"],
    }


# ------------------------------------------------------------------ layout
def test_spm_and_psm_layouts_follow_codellama_order(bpe_session):
    tok, lay = bpe_session.tok, bpe_session.layout
    vocab = _bpe_with_fim().get_vocab()
    assert (lay.bos_id, lay.prefix_id, lay.suffix_id, lay.middle_id, lay.eot_id) == tuple(
        vocab[n] for n in ("<|endoftext|>", "<PRE>", "<SUF>", "<MID>", "<EOT>")
    )
    assert lay.lead == b"" and tok.eos_id == lay.eot_id  # byte-level BPE has no dummy prefix
    prefix, suffix = "def f(x):\n    retu", "\n\nprint(f(2))\n"
    ctx, prompt = fim.fim_prompt(lay, tok, prefix, suffix)
    assert ctx == [lay.bos_id, lay.prefix_id, lay.suffix_id] + tok.encode(suffix.encode()) + [lay.middle_id]
    assert prompt == prefix.encode()
    assert fim.reference_prompt_ids(lay, tok, prefix, suffix) == ctx + tok.encode(prefix.encode())
    psm = fim.FimLayout("psm", lay.bos_id, lay.prefix_id, lay.suffix_id, lay.middle_id, lay.eot_id)
    ctx, prompt = fim.fim_prompt(psm, tok, prefix, suffix)
    assert ctx == (
        [lay.bos_id, lay.prefix_id]
        + tok.encode(prefix.encode())
        + [lay.suffix_id]
        + tok.encode(suffix.encode())
        + [lay.middle_id]
    )
    assert prompt == b""
    with pytest.raises(ValueError, match="mode"):
        fim.FimLayout("pms", 0, 1, 2, 3, 4)


def test_sentencepiece_layout_keeps_dummy_prefix_on_prefix_only():
    """SentencePiece BPE with a dummy prefix: encode(prefix) carries the "▁" (a leading space in the byte
    stream), encode_infilling(suffix) does not (CodeLlama's infilling_prompt_tokens)."""
    from tokenizers import SentencePieceBPETokenizer

    from bytelm_helpers import CORPUS

    sp = SentencePieceBPETokenizer()
    sp.train_from_iterator(CORPUS * 5, vocab_size=200, special_tokens=["</s>", "<s>"], initial_alphabet=list("\t\n"))
    tk = sp._tokenizer
    tk.add_special_tokens(["\u2581<PRE>", "\u2581<SUF>", "\u2581<MID>", "\u2581<EOT>"])
    tok = fim.fim_byte_tokenizer(tk, fim.fim_layout(tk, {**SP_NAMES, "dummy_prefix": False}))
    lay = fim.fim_layout(tk, SP_NAMES, tok)
    assert lay.lead == b" " and lay.bos_id == tk.token_to_id("<s>") and tok.eos_id == tk.token_to_id("\u2581<EOT>")
    prefix, suffix = "def add(a, b):\n    ret", "a + b\nfor i in range(10):\n"
    ctx, prompt = fim.fim_prompt(lay, tok, prefix, suffix)
    suffix_ids = ctx[3:-1]
    assert tok.decode(suffix_ids) == suffix.encode()  # no space gained
    assert suffix_ids != tk.encode(suffix, add_special_tokens=False).ids  # HF's plain encode adds "▁"
    assert prompt == b" " + prefix.encode()
    # the naive prompt's prefix tokens are exactly the tokenizer's own encode(prefix), dummy prefix included
    assert (
        fim.reference_prompt_ids(lay, tok, prefix, suffix)[len(ctx) :]
        == tk.encode(prefix, add_special_tokens=False).ids
    )
    explicit = fim.fim_layout(tk, {**SP_NAMES, "dummy_prefix": False})
    assert explicit.lead == b""


def test_missing_fim_token_fails_naming_it():
    from bytelm_helpers import byte_level_bpe

    tk = byte_level_bpe(300)  # no FIM tokens, like SmolLM2
    with pytest.raises(ValueError, match="prefix_token '<PRE>' is not in the tokenizer"):
        fim.fim_layout(tk, FIM_NAMES)
    tk.add_special_tokens(["<PRE>", "<SUF>", "<MID>"])
    with pytest.raises(ValueError, match="eot_token '<EOT>'"):
        fim.fim_layout(tk, FIM_NAMES)
    with pytest.raises(ValueError, match="dummy_prefix"):
        fim.fim_layout(_bpe_with_fim(), {**FIM_NAMES, "dummy_prefix": "yes"})


def test_ordinary_fim_tokens_are_made_special():
    """A vocabulary that lists the FIM tokens as ordinary pieces: they must not become byte tokens."""
    tk = _bpe_with_fim(special=False)
    plain = fim.ByteTokenizer.from_hf(tk, eos_token="<EOT>")
    eot = tk.token_to_id("<EOT>")
    assert plain.token_bytes[eot] == b"<EOT>"  # the situation being repaired
    tok = fim.fim_byte_tokenizer(tk, fim.fim_layout(tk, {**FIM_NAMES, "dummy_prefix": False}))
    for name in ("<PRE>", "<SUF>", "<MID>", "<EOT>"):
        i = tk.token_to_id(name)
        assert tok.token_bytes[i] is None and not tok.is_byte_token[i]
    assert tok.eos_id == eot and tok.first_symbol[eot] == 256
    text = b"def f(x):\n    return x\n"
    assert tok.encode(text) == plain.encode(text) and tok.stable_boundary(text) == plain.stable_boundary(text)
    with pytest.raises(ValueError, match="'<nope>' is not in the tokenizer"):
        fim.ByteTokenizer.from_hf(tk, special_tokens=["<nope>"])


# ------------------------------------------------------------------ exactness
def test_byte_level_fim_telescopes_to_token_likelihood(bpe_session):
    """Raw mode under the multi-token FIM context: log P_byte(middle, EOT | prefix) + log P_byte(prefix) equals
    the token log-likelihood of [context] + encode(prefix + middle) + [EOT] (Known answers 3), and P_byte(prefix) is the
    sum over its cover encodings of their token probabilities (BTR lemma)."""
    s = bpe_session
    lm, tok = s.lm, s.tok
    ctx, prefix = fim.fim_prompt(s.layout, tok, "def add(a, b):\n    ret", "\n\nprint(add(1, 2))\n")
    middle = b"urn a + b"
    lm.set_context(ctx)
    blm = ByteLM(lm, tok, mode="raw")
    token_ll = float(np.sum(lm.sequence_logprobs([], tok.encode(prefix + middle) + [tok.eos_id])))
    prefix_ll = blm.logprob(prefix, eos=False)
    cond_ll = blm.logprob(middle, eos=True, prompt=prefix)
    assert cond_ll + prefix_ll == pytest.approx(token_ll, abs=1e-6)
    assert blm.logprob(prefix + middle, eos=True) == pytest.approx(token_ll, abs=1e-6)
    # the conditional is not the naive one: subtracting the canonical prefix encoding's likelihood differs
    canon_prefix_ll = float(np.sum(lm.sequence_logprobs([], tok.encode(prefix))))
    assert prefix_ll > canon_prefix_ll + 1e-3
    # BTR lemma on a short prefix, with the context in front: brute-force covers
    short = b"x = ret"
    covers = covers_bruteforce(tok, short)
    assert len(covers) > 1
    lemma = np.logaddexp.reduce([float(np.sum(lm.sequence_logprobs([], list(c)))) for c in covers])
    assert blm.logprob(short, eos=False) == pytest.approx(lemma, abs=1e-6)
    # the context matters: without it the same bytes score differently
    lm.set_context(s.layout.bos_id)
    assert abs(ByteLM(lm, tok, mode="raw").logprob(short, eos=False) - lemma) > 1e-3


class ScriptedLM:
    """A TokenLM that follows a script per context: after context c, each token of script[c] in turn (0.99),
    then <EOT>; off-script, it prefers the token of b"x" (0.9). Deterministic stand-in for a trained FIM LM."""

    def __init__(self, tok, scripts: dict[tuple[int, ...], list[int]]):
        self.tok, self.scripts = tok, scripts
        self.vocab_size = tok.vocab_size
        self.calls = 0
        self.context_ids: tuple[int, ...] = ()
        self.x_id = tok.encode(b"x")[0]

    def set_context(self, ctx) -> None:
        self.context_ids = tuple(ctx)

    def forget_results(self) -> None:
        """Nothing is memoised."""

    def next_token_logprobs(self, prefix) -> np.ndarray:
        self.calls += 1
        prefix = list(prefix)
        p = np.full(self.vocab_size, 1e-6)
        script = self.scripts.get(self.context_ids)
        if script is not None and prefix == script[: len(prefix)]:
            nxt = script[len(prefix)] if len(prefix) < len(script) else self.tok.eos_id
            p[nxt] = 0.99 * p.sum() / 0.01
        else:
            p[self.x_id] = 0.9 * p.sum() / 0.1
        return np.log(p / p.sum())


def _scripted_session(bpe_session, tasks, mode: str = "spm"):
    import copy

    s = copy.copy(bpe_session)
    lay = (
        s.layout
        if mode == "spm"
        else fim.FimLayout(
            "psm", *[getattr(s.layout, k) for k in ("bos_id", "prefix_id", "suffix_id", "middle_id", "eot_id")]
        )
    )
    s.layout = lay
    scripts = {}
    for t in tasks:
        ctx, prompt = fim.fim_prompt(lay, s.tok, t["prompt"], t["suffix"])
        scripts[tuple(ctx)] = s.tok.encode(prompt + t["canonical_solution"].encode())
    s.lm = ScriptedLM(s.tok, scripts)
    return s


def test_greedy_methods_stop_at_eot(bpe_session, humaneval_fim_task):
    """Under a model that writes the canonical middle then <EOT>: byte-level recovers the middle from a
    mid-token prefix and stops at <EOT> before the cap; naive, conditioned on the prefix's own tokens, leaves
    the script and runs to the cap; in PSM (middle at a token boundary) every method stops at <EOT>."""
    task = humaneval_fim_task
    s = _scripted_session(bpe_session, [task])
    prompt = s.start_task(task["prompt"], task["suffix"])
    assert fim.mid_token(s.tok, prompt, task["canonical_solution"].encode())
    byte = fim.infill(s, "byte_level", task["prompt"], task["suffix"], 64)
    assert byte["middle"] == task["canonical_solution"].encode() and not byte["hit_cap"]
    naive = fim.infill(s, "naive", task["prompt"], task["suffix"], 64)
    assert naive["hit_cap"] and naive["middle"] != byte["middle"]
    psm = _scripted_session(bpe_session, [task], mode="psm")
    for method in fim.METHODS:
        out = fim.infill(psm, method, task["prompt"], task["suffix"], 64)
        assert out["middle"] == task["canonical_solution"].encode() and not out["hit_cap"], method
    with pytest.raises(ValueError, match="unknown method"):
        fim.infill(s, "beam", task["prompt"], task["suffix"], 8)


# ------------------------------------------------------------------ evaluation
def test_splice_and_tests_on_a_humaneval_infilling_task(humaneval_fim_task):
    task = humaneval_fim_task
    program = fim.splice(task, task["canonical_solution"])
    assert (
        program
        == he.load_humaneval(he.default_humaneval())[0]["prompt"]
        + he.load_humaneval(he.default_humaneval())[0]["canonical_solution"]
    )
    assert he.run_tests(program, task, timeout=10.0)
    assert not he.run_tests(fim.splice(task, task["canonical_solution"].replace("True", "False")), task, timeout=10.0)
    assert fim.middle_edit_similarity("turn Trux", "turn True") == pytest.approx(1 - 1 / 9)
    assert fim.middle_edit_similarity("", "") == 1.0


def test_evaluate_fim_records_and_rows(bpe_session, humaneval_fim_task, tmp_path, monkeypatch):
    """End to end on one task with the scripted model: byte-level passes, naive fails, the records carry the
    claim metric pass_at_1_minus_naive = 1; run_fim writes one record per method and the rows."""
    from papersuite.core import records

    path = tmp_path / "tasks.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(humaneval_fim_task) + "\n")
    s = _scripted_session(bpe_session, [humaneval_fim_task])
    recs, rows = fim.evaluate_fim("unused", path, {"max_bytes": 48, "timeout": 10.0}, seed=0, scale="tiny", session=s)
    assert {r["method"] for r in rows} == set(fim.METHODS) and len(rows) == 3
    m = {k: v["metrics"] for k, v in recs.items()}
    assert m["byte_level"]["pass_at_1"] == 1.0 and m["byte_level"]["exact_match"] == 1.0
    assert m["naive"]["pass_at_1"] == 0.0 and m["naive"]["cap_rate"] == 1.0
    assert m["byte_level"]["pass_at_1_minus_naive"] == 1.0 and m["byte_level"]["cap_rate"] == 0.0
    assert m["byte_level"]["pass_at_1_mid_token"] == 1.0 and m["byte_level"]["calls_per_byte"] > 0
    assert recs["byte_level"]["experiment"] == "fim" and recs["byte_level"]["extra"]["mode"] == "spm"
    with pytest.raises(ValueError, match="unknown FIM parameter"):
        fim.evaluate_fim("unused", path, {"max_byte": 4}, seed=0, session=s)
    out = {m: tmp_path / m / "seed0.json" for m in fim.METHODS}
    orig = fim.evaluate_fim
    monkeypatch.setattr(fim, "evaluate_fim", lambda *a, **k: orig(*a, **k, session=s))
    fim.run_fim("unused", path, {"max_bytes": 48}, 0, "full", out, tmp_path / "rows.csv")
    assert records.load_records(out["byte_level"])[0]["metrics"]["pass_at_1"] == 1.0
    assert (tmp_path / "rows.csv").read_text().count("RandomSpanInfilling/HumanEval/0/0") == 3
    # the FIM table: one row per method, naive first, the claim metric on the byte-level row
    import pandas as pd

    from papersuite.bytelm.report import build_fim_table

    build_fim_table(list(out.values()), "full", tmp_path / "fim.csv", tmp_path / "fim.md")
    table = pd.read_csv(tmp_path / "fim.csv")
    assert list(table["method"]) == list(fim.METHODS)
    assert table.set_index("method").loc["byte_level", "pass_at_1_minus_naive"] == 1.0
    assert "random_span" in (tmp_path / "fim.md").read_text()
    # the abstract's "about 18%" claim is checked from these records at full, not applicable at tiny
    import yaml

    from papersuite.core import claims

    refs = yaml.safe_load((Path(__file__).resolve().parents[2] / "config/references/bytelm.yaml").read_text())
    frame = records.records_frame([records.load_records(p)[0] for p in out.values()])
    # one task: the paired difference has no standard error (None), so the claim cannot be decided
    assert m["byte_level"]["pass_at_1_minus_naive_se"] is None
    status = {r["id"]: r for r in claims.check_claims(refs, frame, "full")}["bytelm_fim_18_percent"]
    assert status["status"] == claims.UNDECIDED, status
    # with a noise of 0.1 (as from many tasks), 1.0 − 2 · 0.1 ≥ 0.15 decides it
    noisy = frame.assign(pass_at_1_minus_naive_se=0.1)
    status = {r["id"]: r for r in claims.check_claims(refs, noisy, "full")}["bytelm_fim_18_percent"]
    assert status["status"] == claims.PASS, status
    tiny = {r["id"]: r for r in claims.check_claims(refs, frame.assign(scale="tiny"), "tiny")}["bytelm_fim_18_percent"]
    assert tiny["status"] == claims.NA and "FIM tokens" in tiny["reason"]


def test_load_infilling_validates(tmp_path, humaneval_fim_task):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(humaneval_fim_task) + "\n\n")
    assert fim.load_infilling(good)[0]["suffix"] == humaneval_fim_task["suffix"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({k: v for k, v in humaneval_fim_task.items() if k != "suffix"}) + "\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: infilling task lacks key\(s\) \['suffix'\]"):
        fim.load_infilling(bad)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(humaneval_fim_task) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"broken\.jsonl:2: invalid JSON"):
        fim.load_infilling(broken)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="no infilling tasks"):
        fim.load_infilling(empty)
    notgz = tmp_path / "plain.jsonl.gz"
    notgz.write_text("x")
    with pytest.raises(ValueError, match="cannot read"):
        fim.load_infilling(notgz)


def test_select_is_seeded_and_zero_means_all():
    tasks = [{"task_id": str(i)} for i in range(10)]
    assert fim._select(tasks, 0, 0) == tasks
    a, b = fim._select(tasks, 4, 1), fim._select(tasks, 4, 1)
    assert a == b and len(a) == 4 and [t["task_id"] for t in a] == sorted(t["task_id"] for t in a)


@pytest.mark.parametrize("mode", ["spm", "psm"])
def test_batched_infills_equal_one_task_at_a_time(bpe_session, humaneval_fim_task, mode):
    """Batched FIM (bytelm.md "Batched decoding", Known answers 15): several tasks with different FIM contexts
    and all three methods in the same forward passes give, per task and method, the middle and model calls of
    `infill` run task by task on the random tiny GPT-2."""
    import copy

    s = copy.copy(bpe_session)
    if mode == "psm":
        s.layout = fim.FimLayout(
            "psm", *[getattr(s.layout, k) for k in ("bos_id", "prefix_id", "suffix_id", "middle_id", "eot_id")]
        )
    tasks = []
    for k, cut in enumerate((3, 9, 17)):  # the same task cut at other places: contexts differ
        t = dict(humaneval_fim_task, task_id=f"T{k}")
        t["prompt"] = humaneval_fim_task["prompt"][:-cut]
        tasks.append(t)
    want = {}
    for t in tasks:
        for method in fim.METHODS:
            s.lm = _fresh_lm(bpe_session)
            r = fim.infill(s, method, t["prompt"], t["suffix"], 24)
            want[t["task_id"], method] = (r["middle"].decode("utf-8", "replace"), r["calls"], r["prompt_calls"])
    s.lm = _fresh_lm(bpe_session)
    params = fim._fim_params({"max_bytes": 24, "batch": 8, "benchmark": "random_span"})
    rows = fim._infill_tasks(s, tasks, list(fim.METHODS), params, he.CachedTests(10.0))
    got = {(r["task_id"], r["method"]): (r["completion"], r["calls"], r["prompt_calls"]) for r in rows}
    assert got == want
    assert s.lm.forwards < s.lm.calls  # several sequences per forward pass


def _fresh_lm(session):
    from papersuite.bytelm.lm import HFTokenLM

    return HFTokenLM(session.model, None)
