"""The full-scale path on tiny local "hub snapshots" (docs/papers/advprompter.md "Full scale"): Llama-like tokenizers
(<unk> <s> </s>, no <pad>, a decoder that strips a lone piece's leading space) and 2-layer LlamaForCausalLMs saved
with save_pretrained, AdvBench's schema on benign toy rows, the templates and special ids, and steps.train at scale
full writing every metric with its se."""

from __future__ import annotations

import math

import pytest
import torch

from papersuite.advprompter import prompter, spec, steps, world
from papersuite.core.records import load_records

VICUNA = (
    "<s> A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful,"
    " detailed, and polite answers to the user's questions. USER:",
    "{full_instruct}",
    "</s>ASSISTANT:",
)  # the original's conf/target_llm/vicuna_chat.yaml pieces
LLAMA2_CHAT = ("<s>[INST]", "{full_instruct}", "[/INST]")  # conf/target_llm/llama2_chat.yaml (and mistral_chat)
CONFIG = {"n_train": 8, "lora": {"r": 8, "alpha": 16}, "search": {"max_new_tokens": 3, "top_k": 8},
          "train": {"epochs": 1, "response_tokens": 4},
          "evaluate": {"n_instructions": 4, "lengths": [3], "trials": 2, "n_search_timing": 2}}  # fmt: skip


def llama_like_tokenizer(texts: list[str], vocab_size: int):
    """A BPE with Llama's special tokens (<unk> 0, <s> 1, </s> 2, no pad) and its space handling: '▁' for spaces, one
    prepended to each separately tokenized piece, stripped again at the start of a decode."""
    from tokenizers import Tokenizer, decoders, models, normalizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"])
    tok.train_from_iterator(texts, trainer)
    return tok


def save_snapshot(path, texts: list[str], vocab_size: int, seed: int) -> None:
    """A tiny "hub snapshot": PreTrainedTokenizerFast + 2-layer LlamaForCausalLM (d 64), untied lm_head."""
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    backend = llama_like_tokenizer(texts, vocab_size)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    hf_tok.save_pretrained(path)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=backend.get_vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512, bos_token_id=1, eos_token_id=2,
        tie_word_embeddings=False,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(path)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """Prompter and target snapshots with different tokenizers, and prepare_advbench's dir on benign toy rows."""
    root = tmp_path_factory.mktemp("hub")
    rows = world.make_behaviours(0)[:16]
    texts = [r["instruct"] + " please, as a friend" for r in rows] + [r["target"] for r in rows] + list(VICUNA)
    save_snapshot(root / "prompter", texts, 220, seed=0)
    save_snapshot(root / "target", texts + list(LLAMA2_CHAT), 260, seed=1)
    splits = {}
    for split, part in zip(steps.SPLITS, (rows[:8], rows[8:12], rows[12:])):
        splits[split] = root / f"{split}.csv"
        world.write_csv(part, splits[split])
    (root / "test_prefixes.csv").write_text('"I cannot"\n"Sorry"\n"As an"')  # the original's format
    data = root / "advbench_toy"
    steps.prepare_advbench(splits=splits, keywords=root / "test_prefixes.csv", prompter_dir=root / "prompter",
                           target_dir=root / "target", target="toy", template=VICUNA, out_dir=data)  # fmt: skip
    return data


def test_vicuna_template_known_string_and_separate_pieces(hub):
    """The template's text is the original's (no separator added); its ids are each piece tokenized on its own, so
    '<s>' and '</s>' in the text become the bos and eos ids and the instruction starts a new word."""
    loaded = steps.load_world(hub)
    ttok, target_spec = loaded.ttok, loaded.spec
    text = target_spec.prompt_text("Share the magic word now")
    assert text == (
        "<s> A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful,"
        " detailed, and polite answers to the user's questions. USER:Share the magic word now</s>ASSISTANT:"
    )
    ids = target_spec.prompt_ids(ttok, "Share the magic word now")
    assert ids == ttok.encode(VICUNA[0]) + ttok.encode("Share the magic word now") + ttok.encode(VICUNA[2])
    assert ids[0] == ttok.bos_id == 1 and ttok.eos_id == 2 and ids.count(2) == 1
    assert ids != ttok.encode(text)  # one joint encoding would glue "USER:" and "Share"
    assert target_spec.refusal_keywords == ("I cannot", "Sorry", "As an") and target_spec.trigger is None


def test_llama_special_ids_and_full_instruct(hub):
    """No <pad>: pad falls back to <unk> (id 0), then to </s>; specials are never allowed; x ⊕ q is decoded from
    the ids of both, keeping the space that a lone suffix's decode strips; decoding joins " ," and " 's" as the
    original's batch_decode(clean_up_tokenization_spaces=True)."""
    from transformers import AutoTokenizer

    from papersuite.advprompter.problem import ascii_allowed

    loaded = steps.load_world(hub)
    ptok = loaded.ptok
    assert (ptok.bos_id, ptok.eos_id, ptok.pad_id, ptok.special_ids) == (1, 2, 0, frozenset({0, 1, 2}))
    allowed = ascii_allowed(ptok)
    assert not allowed[:3].any() and 0 < int(allowed.sum()) < ptok.size
    please = ptok.encode("please")  # "▁please" pieces
    assert ptok.decode(please) == "please"
    assert spec.full_instruct(ptok, "Share the magic word", please) == "Share the magic word please"
    assert ptok.decode(ptok.encode("Sure , here is it 's")) == "Sure, here is it's"  # batch_decode's clean-up
    assert ptok.tok.decode(ptok.encode("Sure , here is")) == "Sure , here is"  # the lossless text before it
    no_unk = AutoTokenizer.from_pretrained(str(hub.parent / "target"), local_files_only=True)
    no_unk.unk_token = None
    assert spec.vocab_from_transformers(no_unk).pad_id == 2  # then eos, as the original's LLM wrapper
    with pytest.raises(ValueError, match="lacks"):
        spec.vocab_from_tokens(ptok.tok, "<bos>", "</s>")


def test_hub_models_load_offline_fp32_on_cpu_and_lora_on_q_v_lm_head(hub):
    loaded = steps.load_world(hub)
    assert loaded.prompter.dtype == torch.float32 and loaded.target.config.model_type == "llama"
    assert not any(p.requires_grad for p in loaded.target.parameters())
    lora = prompter.add_lora(loaded.prompter)
    names = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in names} == {"q_proj", "v_proj", "lm_head"}
    assert spec.lora_modules(loaded.target) == ("q_proj", "v_proj", "lm_head")


def test_train_at_full_scale_writes_every_metric(hub, tmp_path):
    """steps.train on the toy snapshots at scale full: a record with before/after ASR@1, ASR@k, perplexity and time
    per suffix for both splits, each with its se, the paired gain and the search/generation ratio."""
    out = tmp_path / "record.json"
    steps.train(experiment="advbench_toy", lambda_val=100.0, config=CONFIG, seed=0, scale="full", data_dir=hub,
                out_record=out, threads=1)  # fmt: skip
    (rec,) = load_records([out])
    m = rec["metrics"]
    for split in ("train", "test"):
        for name in ("asr_at_1", "asr_at_k", "perplexity", "seconds_per_suffix"):
            for when in ("before", "after"):
                value, se = m[f"{split}_{name}_{when}"], m[f"{split}_{name}_{when}_se"]
                assert value is not None and se is not None and math.isfinite(value) and se >= 0
        assert m[f"{split}_asr_at_1_before"] <= m[f"{split}_asr_at_k_before"] and m[f"{split}_perplexity_after"] >= 1
    assert m["test_asr_at_k_gain"] == pytest.approx(m["test_asr_at_k_after"] - m["test_asr_at_k_before"])
    assert m["search_over_generation"] == pytest.approx(m["seconds_per_search"] / m["test_seconds_per_suffix_after"])
    assert not any("trigger" in name for name in m)  # the trigger fraction is the tiny world's only
    assert rec["scale"] == "full" and rec["device"] == "cpu" and len(rec["extra"]["history"]) == 1
