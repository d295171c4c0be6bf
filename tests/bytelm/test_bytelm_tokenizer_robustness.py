"""ByteTokenizer robustness: bytes a vocabulary cannot encode (SmolLM2's 21 missing byte values, a small
byte-level BPE lacking bytes) and SentencePiece-style BPE with byte fallback on non-ASCII text, cut
mid-character (docs/papers/bytelm.md "Validity", "Known answers" 2, 3, 4 and 6; the original code's byte fallback)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bytelm_helpers import byte_level_bpe_without, sentencepiece_bpe, tiny_gpt2
from papersuite.bytelm.byte_lm import ByteLM, covers_bruteforce
from papersuite.bytelm.lm import HFTokenLM
from papersuite.bytelm.tokenizer import EOS, ByteTokenizer, check_stable_boundary

# é (2 bytes), 中 (3, a vocabulary piece), 😀 (4), and 龘 / ▒ (3, absent from the vocabulary: byte fallback only;
# ▒ = e2 96 92 shares its first two bytes with ▁ = e2 96 81, which SentencePiece reads back as a space)
NON_ASCII = [
    "caf\u00e9 \u00fcber",
    "\u4e2d\u6587 x\u4e2d",
    "ok \U0001f600 \U0001f600!",
    "a \u9f98 b",
    "\u00e9\u4e2d\U0001f600\u9f98",
    "x \u2592\u2592 y",
]
# invalid UTF-8 inside the text (not only an unfinished last character)
BROKEN = [b"ab \xe4 the end", b"a \xff\xfe b c", "\u4e2d".encode()[:2] + b"x yz"]
DROPPED = bytes([0x04, 0xF0, 0xFF])  # 0xF0: the 😀 probe of from_hf becomes unencodable


def _width_cuts(x: bytes) -> set[tuple[int, int]]:
    """(character width, bytes of it kept) for every cut of valid UTF-8 x strictly inside a character."""
    return {(len(ch.encode()), k) for ch in x.decode() for k in range(1, len(ch.encode()))}


def _token_loglik(lm: HFTokenLM, ids: list[int]) -> float:
    """log P_tok(ids) by one plain forward (no cache), the reference for the telescoping identity."""
    ctx = [lm.bos_id] + list(ids)
    with torch.no_grad():
        logp = lm.model(torch.tensor([ctx])).logits[0].double().log_softmax(-1)
    return float(sum(logp[i, ids[i]] for i in range(len(ids))))


# ---------------------------------------------------------------------------- SentencePiece-style BPE
@pytest.fixture(scope="module", params=["llama", "metaspace"])
def sp(request):
    """(HF tokenizer, ByteTokenizer, float64 tiny GPT-2 with <s> as context) for one tokenizer.json layout."""
    hf = sentencepiece_bpe(400, style=request.param)
    tok = ByteTokenizer.from_hf(hf, eos_token="</s>")
    lm = HFTokenLM(tiny_gpt2(tok.vocab_size, seed=7, scale=3.0), bos_id=hf.token_to_id("<s>"))
    return hf, tok, lm


def test_sentencepiece_layout_is_recognised(sp):
    """▁ is a space and <0xNN> is byte NN in both layouts, and encode() is the HF encoding minus the dummy
    prefix. Catches a Llama-style normaliser going undetected (json.dumps writes ▁ as \\u2581: the tokens
    then keep ▁'s 3 bytes and a space is prepended) and a Prepend/Metaspace prefix left in place."""
    hf, tok, _ = sp
    assert tok.boundary_rule == "space_boundary" and tok.eos_id == hf.token_to_id("</s>")
    assert not any(tb and "\u2581".encode() in tb for tb in tok.token_bytes)
    assert tok.token_bytes[hf.token_to_id("\u2581\u4e2d\u6587")] == " \u4e2d\u6587".encode()
    assert all(tok.token_bytes[hf.token_to_id(f"<0x{b:02X}>")] == bytes([b]) for b in range(256))
    assert tok.unencodable_bytes == frozenset() and tok.token_bytes[hf.token_to_id("<unk>")] is None
    for x in NON_ASCII:
        assert tok.encode(b" " + x.encode()) == hf.encode(x, add_special_tokens=False).ids, x
        assert tok.decode(tok.encode(x.encode())) == x.encode()


def test_sentencepiece_round_trips_at_every_cut(sp):
    """decode(encode(x[:k])) = x[:k] for every cut k — inside 2-, 3- and 4-byte characters, through a character
    that exists only as byte-fallback pieces, and around invalid bytes followed by more text (the encoder
    used to give up on invalid UTF-8 more than 4 bytes before the end); every prefix of an encoding is
    canonical (Known answers 6). Batch and single encodings agree."""
    _, tok, _ = sp
    cuts = set()
    for x in [s.encode() for s in NON_ASCII]:
        cuts |= _width_cuts(x)
    assert {(2, 1), (3, 1), (3, 2), (4, 1), (4, 2), (4, 3)} <= cuts
    fallback = {tok.token_bytes.index(bytes([b])) for b in range(0x80, 0x100)}
    assert set(tok.encode("\u9f98".encode())) <= fallback and len(tok.encode("\u9f98".encode())) == 3
    for x in [s.encode() for s in NON_ASCII] + BROKEN:
        prefixes = [x[:k] for k in range(len(x) + 1)]
        encs = tok.encode_batch(prefixes)
        for p, ids in zip(prefixes, encs):
            assert tok.decode(ids) == p and tok.encode(p) == ids, p
        ids = tok.encode(x)
        assert all(tok.is_valid(ids[:k]) for k in range(len(ids) + 1)), x


def test_sentencepiece_space_marker_in_text_is_refused(sp):
    """ "▁" in the text comes back as a space: encode must raise (naming the offset), not return ids for "a b";
    and the validity mask reads such an encoding as invalid instead of raising."""
    _, tok, _ = sp
    with pytest.raises(ValueError, match="offset 1"):
        tok.encode("a\u2581b".encode())
    tail = "x \u2581".encode()[:-1]  # ends inside ▁: <0x81> would complete it
    mask = tok.valid_next_mask(tail)
    assert not mask[tok.token_bytes.index(b"\x81")] and mask[tok.token_bytes.index(b"\x92")]


def test_sentencepiece_without_byte_fallback():
    """Without <0xNN> tokens: a byte inside a vocabulary character (the 0xE4 of 中) has no single-byte path, so
    it is unencodable, yet 中 encodes; a character outside the vocabulary becomes <unk>, whose bytes are not
    "<unk>", and encode names its offset instead of the earlier, encodable 中."""
    hf = sentencepiece_bpe(400, style="llama", byte_fallback=False)
    tok = ByteTokenizer.from_hf(hf, eos_token="</s>")
    unk = hf.token_to_id("<unk>")
    assert tok.token_bytes[unk] is None and len(tok.tokens_with_prefix(b"<unk")) == 0
    assert 0xE4 in tok.unencodable_bytes and 0x61 not in tok.unencodable_bytes
    x = "\u4e2d \u6587".encode()
    assert tok.decode(tok.encode(x)) == x
    with pytest.raises(ValueError, match=r"b'\\xe9\\xbe\\x98' at offset 4"):
        tok.encode("\u4e2d \u9f98".encode())


def test_sentencepiece_stable_boundary_holds(sp):
    """The rule from_hf picked (space) holds on non-ASCII and broken text, and ByteLM really moves it."""
    _, tok, lm = sp
    texts = [s.encode() for s in NON_ASCII] + BROKEN
    assert check_stable_boundary(tok.encode, tok.stable_boundary, texts)
    assert ByteLM(lm, tok).prompt_state(NON_ASCII[0].encode()).boundary == len("caf\u00e9".encode())


def test_sentencepiece_covers_match_bruteforce(sp):
    """Known answers 4 at every prefix, most ending inside a character (the ▁-piece "▁中文" overhangs, byte
    fallback pieces give a second segmentation of every unfinished character)."""
    _, tok, lm = sp
    blm = ByteLM(lm, tok, mode="masked")
    for x in ["\u00e9 \u4e2d\u6587".encode(), "\U0001f600\u9f98".encode(), b"a \xe4 b"]:
        state = blm.prompt_state(b"")
        for n in range(len(x) + 1):
            assert blm.covers(state) == covers_bruteforce(tok, x[:n]), x[:n]
            if n < len(x):
                state = blm.advance(state, x[n])
    state = blm.prompt_state(" \u4e2d".encode()[:2])  # " " + first byte of 中: several covers
    assert len(blm.covers(state)) >= 3


def test_sentencepiece_masked_sums_to_one_mid_character(sp):
    """Known answers 2 at every prefix of non-ASCII text, mid-character included; the true next byte keeps
    positive probability (a wrong canonical encoding would mask the continuation of a character)."""
    _, tok, lm = sp
    blm = ByteLM(lm, tok, mode="masked")
    for x in [s.encode() for s in NON_ASCII[2:]]:
        state = blm.prompt_state(b"")
        for b in x:
            dist = blm.next_byte_distribution(state)
            assert dist.sum() == pytest.approx(1.0, abs=1e-12) and dist[b] > 0, (state.data, b)
            state = blm.advance(state, b)
        assert blm.next_byte_distribution(state).sum() == pytest.approx(1.0, abs=1e-12)


def test_sentencepiece_telescoping_raw(sp):
    """Known answers 3: Σ raw byte log-probs of x + EOS = log P_tok(encode(x) + EOS), float64 model."""
    _, tok, lm = sp
    raw = ByteLM(lm, tok, mode="raw")
    for x in [s.encode() for s in NON_ASCII[:4]] + BROKEN[:1]:
        ids = tok.encode(x)
        assert len(ids) < len(x)  # multi-byte tokens: the byte side marginalises over covers
        ref = _token_loglik(lm, ids + [tok.eos_id])
        assert raw.logprob(x, eos=True) == pytest.approx(ref, abs=1e-9), x


# ---------------------------------------------------------------------------- bytes without a token
@pytest.fixture(scope="module")
def smol_tok(smol_dir):
    """SmolLM2's tokenizer (converted checkpoint) as a ByteTokenizer, with the conversion manifest."""
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(smol_dir, local_files_only=True)
    manifest = json.loads((smol_dir / "manifest.json").read_text())
    return ByteTokenizer.from_hf(hf, eos_token="<|endoftext|>"), manifest


def test_smollm2_unencodable_bytes_raise(smol_tok):
    """Each of SmolLM2's 21 byte values without a token raises, naming byte and offset, on every path: the
    HF fast path (ASCII controls, and 0xF1/0xF2 leading valid 4-byte characters), the emulated path (invalid
    UTF-8), encode_batch and encode_emulated. HF itself drops these bytes silently."""
    tok, manifest = smol_tok
    missing = manifest["tokenizer_checks"]["missing_byte_tokens"]
    assert tok.unencodable_bytes == frozenset(missing) and len(missing) == 21
    for b in missing:
        with pytest.raises(ValueError, match=f"{b:#04x} at offset 3"):
            tok.encode(b"ab " + bytes([b]) + b"cd")
    for ch in ("\U00040000", "\U00080000"):  # f1 80 80 80, f2 80 80 80: valid UTF-8
        with pytest.raises(ValueError, match="at offset 2"):
            tok.encode(f"x {ch}".encode())
    with pytest.raises(ValueError, match=r"0x04 at offset 1, 0xff at offset 3 \(2 in all\)"):
        tok.encode(b"a\x04b\xff")
    with pytest.raises(ValueError, match="0x13 at offset 0"):
        tok.encode_batch([b"fine", b"\x13 bad", b"also fine"])
    with pytest.raises(ValueError, match="0xc0 at offset 1"):
        tok.encode_emulated(b"a\xc0\x80")
    code = "def f(x):\n    return x  # caf\u00e9 \u4e2d \U0001f600\n".encode()
    assert tok.decode(tok.encode(code)) == code and tok.encode_batch([code, b""]) == [tok.encode(code), []]


@pytest.fixture(scope="module")
def lacking():
    """A byte-level BPE without tokens for DROPPED, and a random float64 tiny GPT-2."""
    tok = ByteTokenizer.from_hf(byte_level_bpe_without(DROPPED))
    return tok, HFTokenLM(tiny_gpt2(tok.vocab_size, seed=5), bos_id=tok.eos_id)


def test_small_tokenizer_lacking_bytes(lacking):
    """unencodable_bytes comes from the vocabulary; the boundary probe check survives a probe the vocabulary
    cannot encode (😀 needs 0xF0) and still picks the whitespace rule; encode raises on every path."""
    tok, _ = lacking
    assert tok.unencodable_bytes == frozenset(DROPPED) and tok.boundary_rule == "indent_boundary"
    with pytest.raises(ValueError, match="0xf0 at offset 2"):
        tok.encode("a \U0001f600".encode())  # valid UTF-8: HF path
    with pytest.raises(ValueError, match="0xff at offset 0"):
        tok.encode(b"\xff a")  # invalid UTF-8: emulated path
    ids = tok.encode(b"a \x05 b")
    assert tok.decode(ids) == b"a \x05 b" and tok.is_valid(ids)


@pytest.mark.parametrize("mode, check_mass", [("masked", 1.0), ("raw", 1.0), ("masked", 0.9)])
def test_byte_lm_gives_unencodable_bytes_zero_probability(lacking, mode, check_mass):
    """No token starts with a dropped byte, so it gets P = 0 at every prefix (exact masked mode: the rest still
    sums to 1); advancing on one gives log-prob −inf, and the dead state advances and ends without raising
    (no re-encoding of its bytes, which encode() now refuses)."""
    tok, lm = lacking
    blm = ByteLM(lm, tok, mode=mode, check_mass=check_mass)
    x = b"ab \x04cd"
    state = blm.prompt_state(b"")
    for n, b in enumerate(x):
        dist = blm.next_byte_distribution(state)
        assert not dist[list(DROPPED)].any()
        if mode == "masked" and check_mass == 1.0 and n < 3:
            assert dist.sum() == pytest.approx(1.0, abs=1e-12)
        state = blm.advance(state, b)
        assert (state.byte_logprob == -np.inf) == (n >= 3)
        assert (n >= 3) == (state.n_covers == 0)
    assert not blm.next_byte_distribution(state).any()
    assert blm.advance(state, EOS).byte_logprob == -np.inf
    assert blm.logprob(x) == -np.inf and np.isfinite(blm.logprob(b"ab cd"))
    assert blm.prompt_state(b"ab \x04c").byte_logprob == -np.inf  # the byte after the prompt's boundary
