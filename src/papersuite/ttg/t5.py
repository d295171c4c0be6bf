"""The tiny translator's T5 in plain torch: training loss and batched greedy decoding with a cache.

The architecture, the parameter names, the initialisation and the saved files (``config.json``,
``model.safetensors``) are those of transformers' ``T5ForConditionalGeneration`` with a ReLU
feed-forward and tied embeddings: RMS layer norms without bias, no scaling of the attention
scores, a relative position bias (bucketed, computed in the first layer of each stack and shared
by the others), and decoder outputs scaled by d_model^-0.5 before the tied output projection. A
model saved here loads in transformers and back.

Why not transformers' class: at this size (0.17M parameters) its per-call overhead (mask
utilities, output capture, the generation loop) costs about as much as the arithmetic, and
importing it costs seconds per job (``docs/papers/ttg.md``, "Tiny scale: sizes and speed").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["T5", "t5_config"]

# transformers' T5Config keys for this architecture (config.json), besides the sizes and token ids
_FIXED_CONFIG = {
    "architectures": ["T5ForConditionalGeneration"],
    "model_type": "t5",
    "feed_forward_proj": "relu",
    "dense_act_fn": "relu",
    "is_gated_act": False,
    "is_encoder_decoder": True,
    "tie_word_embeddings": True,
    "scale_decoder_outputs": True,
    "initializer_factor": 1.0,
    "layer_norm_epsilon": 1e-6,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "use_cache": True,
    "dtype": "float32",
}


def t5_config(model: Mapping[str, Any], vocab_size: int, pad_id: int, eos_id: int, bos_id: int) -> dict:
    """config.json of a T5 with the sizes of ``model`` (d_model, heads, ffn, layers, dropout)."""
    d_model, heads = int(model["d_model"]), int(model["heads"])
    return {
        **_FIXED_CONFIG,
        "vocab_size": int(vocab_size),
        "d_model": d_model,
        "d_kv": d_model // heads,
        "d_ff": int(model["ffn"]),
        "num_layers": int(model["layers"]),
        "num_decoder_layers": int(model["layers"]),
        "num_heads": heads,
        "dropout_rate": float(model["dropout"]),
        "pad_token_id": int(pad_id),
        "eos_token_id": int(eos_id),
        "bos_token_id": int(bos_id),
        "decoder_start_token_id": int(bos_id),
    }


class _Norm(nn.Module):
    """T5's layer norm: scale by the root mean square, no mean, no bias."""

    def __init__(self, d: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class _Attention(nn.Module):
    """Multi-head attention without score scaling; ``bias`` is additive (position bias and masks)."""

    def __init__(self, cfg: Mapping[str, Any], relative_bias: bool):
        super().__init__()
        d, inner = cfg["d_model"], cfg["num_heads"] * cfg["d_kv"]
        self.heads, self.d_kv = cfg["num_heads"], cfg["d_kv"]
        self.q = nn.Linear(d, inner, bias=False)
        self.k = nn.Linear(d, inner, bias=False)
        self.v = nn.Linear(d, inner, bias=False)
        self.o = nn.Linear(inner, d, bias=False)
        if relative_bias:
            self.relative_attention_bias = nn.Embedding(cfg["relative_attention_num_buckets"], self.heads)

    def heads_of(self, x):
        """(B, L, heads·d_kv) -> (B, heads, L, d_kv)."""
        return x.view(x.shape[0], x.shape[1], self.heads, self.d_kv).transpose(1, 2)

    def kv(self, x):
        k, v = F.linear(x, torch.cat([self.k.weight, self.v.weight])).chunk(2, dim=-1)
        return self.heads_of(k), self.heads_of(v)

    def qkv(self, x):
        q, k, v = F.linear(x, torch.cat([self.q.weight, self.k.weight, self.v.weight])).chunk(3, dim=-1)
        return self.heads_of(q), self.heads_of(k), self.heads_of(v)

    def attend(self, q, k, v, bias, dropout: float = 0.0):
        weights = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) + bias, dim=-1)
        if dropout:
            weights = F.dropout(weights, dropout, self.training)
        out = torch.matmul(weights, v).transpose(1, 2)
        return self.o(out.reshape(out.shape[0], out.shape[1], -1))


class _SelfAttentionLayer(nn.Module):
    def __init__(self, cfg, relative_bias: bool):
        super().__init__()
        self.SelfAttention = _Attention(cfg, relative_bias)
        self.layer_norm = _Norm(cfg["d_model"], cfg["layer_norm_epsilon"])


class _CrossAttentionLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.EncDecAttention = _Attention(cfg, False)
        self.layer_norm = _Norm(cfg["d_model"], cfg["layer_norm_epsilon"])


class _DenseReluDense(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wi = nn.Linear(cfg["d_model"], cfg["d_ff"], bias=False)
        self.wo = nn.Linear(cfg["d_ff"], cfg["d_model"], bias=False)


class _FeedForwardLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.DenseReluDense = _DenseReluDense(cfg)
        self.layer_norm = _Norm(cfg["d_model"], cfg["layer_norm_epsilon"])


class _Block(nn.Module):
    def __init__(self, cfg, decoder: bool, first: bool):
        super().__init__()
        self.layer = nn.ModuleList([_SelfAttentionLayer(cfg, relative_bias=first)])
        if decoder:
            self.layer.append(_CrossAttentionLayer(cfg))
        self.layer.append(_FeedForwardLayer(cfg))


class _Stack(nn.Module):
    def __init__(self, cfg, decoder: bool):
        super().__init__()
        n = cfg["num_decoder_layers"] if decoder else cfg["num_layers"]
        self.block = nn.ModuleList([_Block(cfg, decoder, first=i == 0) for i in range(n)])
        self.final_layer_norm = _Norm(cfg["d_model"], cfg["layer_norm_epsilon"])


def relative_buckets(relative, bidirectional: bool, num_buckets: int, max_distance: int):
    """T5's bucket of each relative position (key − query): exact below num_buckets/4 (or /2 one-way),
    logarithmic up to ``max_distance``."""
    buckets = 0
    if bidirectional:
        num_buckets //= 2
        buckets = (relative > 0).long() * num_buckets
        relative = relative.abs()
    else:
        relative = -torch.clamp(relative, max=0)
    max_exact = num_buckets // 2
    large = (
        max_exact
        + (
            torch.log(relative.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
        ).long()
    )
    large = torch.clamp(large, max=num_buckets - 1)
    return buckets + torch.where(relative < max_exact, relative, large)


class T5(nn.Module):
    """A T5 encoder-decoder from a transformers-style ``config`` dict (:func:`t5_config`)."""

    def __init__(self, config: Mapping[str, Any]):
        super().__init__()
        self.config = dict(config)
        self.shared = nn.Embedding(self.config["vocab_size"], self.config["d_model"])
        self.encoder = _Stack(self.config, decoder=False)
        self.decoder = _Stack(self.config, decoder=True)
        self.dropout = float(self.config.get("dropout_rate", 0.0))
        self.neg = torch.finfo(torch.float32).min

    # --- initialisation, files
    def init_weights(self) -> None:
        """transformers' T5 initialisation (normal, std by fan-in; norms at 1), from the global RNG."""
        d, d_kv, heads = self.config["d_model"], self.config["d_kv"], self.config["num_heads"]
        with torch.no_grad():
            self.shared.weight.normal_(0.0, 1.0)
            for module in self.modules():
                if isinstance(module, _Norm):
                    module.weight.fill_(1.0)
                elif isinstance(module, _Attention):
                    module.q.weight.normal_(0.0, (d * d_kv) ** -0.5)
                    module.k.weight.normal_(0.0, d**-0.5)
                    module.v.weight.normal_(0.0, d**-0.5)
                    module.o.weight.normal_(0.0, (heads * d_kv) ** -0.5)
                    if hasattr(module, "relative_attention_bias"):
                        module.relative_attention_bias.weight.normal_(0.0, d**-0.5)
                elif isinstance(module, _DenseReluDense):
                    module.wi.weight.normal_(0.0, d**-0.5)
                    module.wo.weight.normal_(0.0, self.config["d_ff"] ** -0.5)

    def save_pretrained(self, out_dir) -> None:
        """config.json and model.safetensors, as transformers writes them."""
        from safetensors.torch import save_file

        from papersuite.core import io

        out_dir = Path(out_dir)
        io.write_json(out_dir / "config.json", self.config)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(out_dir / "model.safetensors"))

    @classmethod
    def from_pretrained(cls, model_dir) -> T5:
        from safetensors.torch import load_file

        from papersuite.core import io

        model = cls(io.read_json(Path(model_dir) / "config.json"))
        state = load_file(str(Path(model_dir) / "model.safetensors"))
        model.load_state_dict({k: v for k, v in state.items() if k in model.state_dict()})
        return model

    # --- forward pieces
    def _drop(self, x):
        return F.dropout(x, self.dropout, self.training) if self.dropout else x

    def _position_bias(self, stack: _Stack, queries: int, keys: int, bidirectional: bool, offset: int = 0):
        """(1, heads, queries, keys) relative position bias of the stack's first layer."""
        device = self.shared.weight.device
        relative = torch.arange(keys, device=device)[None, :] - (torch.arange(queries, device=device)[:, None] + offset)
        buckets = relative_buckets(
            relative,
            bidirectional,
            self.config["relative_attention_num_buckets"],
            self.config["relative_attention_max_distance"],
        )
        return stack.block[0].layer[0].SelfAttention.relative_attention_bias(buckets).permute(2, 0, 1).unsqueeze(0)

    def _mask_bias(self, mask):
        """(B, 1, 1, L) additive bias: 0 where ``mask`` is true, the float minimum elsewhere."""
        return torch.where(mask[:, None, None, :], 0.0, self.neg)

    def _feed_forward(self, layer: _FeedForwardLayer, x):
        dense = layer.DenseReluDense
        return x + self._drop(dense.wo(self._drop(torch.relu(dense.wi(layer.layer_norm(x))))))

    def encode(self, input_ids, attention_mask):
        """Encoder states (B, L, d_model) of the source ids; padding masked out."""
        length = input_ids.shape[1]
        bias = self._position_bias(self.encoder, length, length, True) + self._mask_bias(attention_mask)
        x = self._drop(self.shared(input_ids))
        for block in self.encoder.block:
            sa, ff = block.layer
            att = sa.SelfAttention
            x = x + self._drop(att.attend(*att.qkv(sa.layer_norm(x)), bias, self.dropout))
            x = self._feed_forward(ff, x)
        return self._drop(self.encoder.final_layer_norm(x))

    def _logits(self, x):
        x = self._drop(self.decoder.final_layer_norm(x)) * self.config["d_model"] ** -0.5
        return F.linear(x, self.shared.weight)

    def decode(self, decoder_ids, encoded, attention_mask):
        """Logits (B, T, vocab) of every decoder position (teacher forcing)."""
        length = decoder_ids.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=decoder_ids.device).tril()
        self_bias = self._position_bias(self.decoder, length, length, False) + torch.where(causal, 0.0, self.neg)
        cross_bias = self._mask_bias(attention_mask)
        x = self._drop(self.shared(decoder_ids))
        for block in self.decoder.block:
            sa, ca, ff = block.layer
            att, cross = sa.SelfAttention, ca.EncDecAttention
            x = x + self._drop(att.attend(*att.qkv(sa.layer_norm(x)), self_bias, self.dropout))
            q = cross.heads_of(cross.q(ca.layer_norm(x)))
            x = x + self._drop(cross.attend(q, *cross.kv(encoded), cross_bias, self.dropout))
            x = self._feed_forward(ff, x)
        return self._logits(x)

    def loss(self, input_ids, attention_mask, labels):
        """Mean token cross-entropy of ``labels`` (-100: ignored), decoder inputs shifted right."""
        start = torch.full_like(labels[:, :1], self.config["decoder_start_token_id"])
        decoder_ids = torch.cat([start, labels[:, :-1]], dim=1)
        decoder_ids = decoder_ids.masked_fill(decoder_ids == -100, self.config["pad_token_id"])
        logits = self.decode(decoder_ids, self.encode(input_ids, attention_mask), attention_mask)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)

    # --- greedy decoding
    @torch.no_grad()
    def greedy(
        self,
        input_ids,
        attention_mask,
        max_new_tokens: int,
        allowed: Callable[[list[int], list[int]], list[list[int]]] | None = None,
    ):
        """Greedy decoding of a batch, one token per step for every unfinished row, with cached keys
        and values. Returns (B, 1 + steps) ids: the start token, then the tokens, padded after the
        end token. ``allowed(rows, prefixes)``, when given, returns the ids each unfinished row may
        take next (its prefix includes the start token); the others are masked out."""
        cfg = self.config
        batch, eos, pad = input_ids.shape[0], cfg["eos_token_id"], cfg["pad_token_id"]
        heads, d_kv, device = cfg["num_heads"], cfg["d_kv"], input_ids.device
        encoded = self.encode(input_ids, attention_mask)
        cross_bias = self._mask_bias(attention_mask)
        layers = [_StepWeights(block, encoded) for block in self.decoder.block]
        self_bias = self._position_bias(self.decoder, max_new_tokens, max_new_tokens, False)
        cache = torch.zeros(len(layers), 2, batch, heads, max_new_tokens, d_kv, device=device)
        token = torch.full((batch, 1), cfg["decoder_start_token_id"], dtype=torch.long, device=device)
        out, done = [token], torch.zeros(batch, dtype=torch.bool, device=device)
        for step in range(max_new_tokens):
            x = self.shared(token)
            bias = self_bias[:, :, step : step + 1, : step + 1]
            for w, (keys, values) in zip(layers, cache):
                q, k, v = F.linear(w.norm_self(x), w.qkv).view(batch, 1, 3, heads, d_kv).permute(2, 0, 3, 1, 4)
                keys[:, :, step : step + 1] = k
                values[:, :, step : step + 1] = v
                x = x + w.attend(q, keys[:, :, : step + 1], values[:, :, : step + 1], bias, w.o_self)
                q = F.linear(w.norm_cross(x), w.q_cross).view(batch, 1, heads, d_kv).transpose(1, 2)
                x = x + w.attend(q, w.k_cross, w.v_cross, cross_bias, w.o_cross)
                x = x + F.linear(torch.relu(F.linear(w.norm_ff(x), w.wi)), w.wo)
            logits = self._logits(x)[:, 0]
            if allowed is not None:
                logits = self._constrain(logits, done, torch.cat(out, dim=1), allowed)
            token = torch.where(done, pad, logits.argmax(-1))[:, None]
            out.append(token)
            done = done | (token[:, 0] == eos)
            if bool(done.all()):
                break
        return torch.cat(out, dim=1)

    def _constrain(self, logits, done, prefix, allowed):
        rows = [i for i in range(len(done)) if not done[i]]
        mask = torch.full_like(logits, float("-inf"))
        for i, ids in zip(rows, allowed(rows, [prefix[i].tolist() for i in rows])):
            mask[i, ids] = 0.0
        return logits + mask


class _StepWeights:
    """One decoder block's weights for a decoding step, concatenated once per batch, and the
    cross-attention keys and values of the encoded source."""

    def __init__(self, block: _Block, encoded):
        sa, ca, ff = block.layer
        att, cross = sa.SelfAttention, ca.EncDecAttention
        self.norm_self, self.norm_cross, self.norm_ff = sa.layer_norm, ca.layer_norm, ff.layer_norm
        self.qkv = torch.cat([att.q.weight, att.k.weight, att.v.weight])
        self.o_self, self.q_cross, self.o_cross = att.o.weight, cross.q.weight, cross.o.weight
        self.k_cross, self.v_cross = cross.kv(encoded)
        self.wi, self.wo = ff.DenseReluDense.wi.weight, ff.DenseReluDense.wo.weight

    @staticmethod
    def attend(q, k, v, bias, o):
        weights = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) + bias, dim=-1)
        out = torch.matmul(weights, v).transpose(1, 2)
        return F.linear(out.reshape(out.shape[0], out.shape[1], -1), o)
