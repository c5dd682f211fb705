"""A BERT-family encoder (MiniLM, BGE-small, ...) on plain torch: the embedder's forward pass.

Weights load from a Hugging Face folder (``config.json`` + ``*.safetensors``), keyed as
``BertModel`` saves them (an optional ``bert.`` prefix is stripped). Only what sentence
embeddings need: embeddings, post-norm encoder layers with exact GELU; no pooler, no heads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn


@dataclass(frozen=True)
class BertConfig:
    """The fields of a BERT ``config.json`` the encoder uses."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_folder(cls, folder: Path) -> BertConfig:
        raw = json.loads((folder / "config.json").read_text())
        if raw.get("model_type", "bert") != "bert" or raw.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{folder}: not a BERT encoder with GELU (model_type="
                             f"{raw.get('model_type')!r}, hidden_act={raw.get('hidden_act')!r})")
        return cls(**{name: raw[name] for name in cls.__dataclass_fields__})


class _Layer(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        h = c.hidden_size
        self.heads = c.num_attention_heads
        self.qkv = nn.Linear(h, 3 * h)
        self.attn_out = nn.Linear(h, h)
        self.attn_norm = nn.LayerNorm(h, eps=c.layer_norm_eps)
        self.up = nn.Linear(h, c.intermediate_size)
        self.down = nn.Linear(c.intermediate_size, h)
        self.out_norm = nn.LayerNorm(h, eps=c.layer_norm_eps)

    def forward(self, x: torch.Tensor, attn_bias: torch.Tensor) -> torch.Tensor:
        # x: [batch, tokens, hidden]; attn_bias: [batch, 1, 1, tokens] (0 or -inf on padding)
        b, t, h = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias)
        x = self.attn_norm(x + self.attn_out(a.transpose(1, 2).reshape(b, t, h)))
        return self.out_norm(x + self.down(F.gelu(self.up(x))))


class BertEncoder(nn.Module):
    """Token ids -> last hidden states, as ``transformers.BertModel`` computes them."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden_size
        self.word = nn.Embedding(config.vocab_size, h)
        self.position = nn.Embedding(config.max_position_embeddings, h)
        self.token_type = nn.Embedding(config.type_vocab_size, h)
        self.embed_norm = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(_Layer(config) for _ in range(config.num_hidden_layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # input_ids, attention_mask: [batch, tokens] -> [batch, tokens, hidden]
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word(input_ids) + self.position(positions) + self.token_type.weight[0]
        x = self.embed_norm(x)
        bias = torch.zeros(attention_mask.shape, dtype=x.dtype, device=x.device)
        bias = bias.masked_fill(attention_mask == 0, float("-inf"))[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        return x

    @classmethod
    def from_folder(cls, folder: Path, device: torch.device, dtype: torch.dtype) -> BertEncoder:
        config = BertConfig.from_folder(folder)
        files = sorted(folder.glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"{folder}: no *.safetensors weights")
        raw: dict[str, torch.Tensor] = {}
        for f in files:
            raw.update(load_file(str(f)))
        raw = {k.removeprefix("bert."): v for k, v in raw.items()}
        model = cls(config)
        model.load_state_dict(_rename(raw, config.num_hidden_layers), strict=True)
        return model.to(device=device, dtype=dtype).eval()


def _rename(raw: dict[str, torch.Tensor], num_layers: int) -> dict[str, torch.Tensor]:
    """Hugging Face BertModel names -> this module's names (q, k, v fused into one matmul)."""
    try:
        out = {
            "word.weight": raw["embeddings.word_embeddings.weight"],
            "position.weight": raw["embeddings.position_embeddings.weight"],
            "token_type.weight": raw["embeddings.token_type_embeddings.weight"],
            "embed_norm.weight": raw["embeddings.LayerNorm.weight"],
            "embed_norm.bias": raw["embeddings.LayerNorm.bias"],
        }
        for i in range(num_layers):
            p = f"encoder.layer.{i}."
            attn = p + "attention.self."
            for kind in ("weight", "bias"):
                out[f"layers.{i}.qkv.{kind}"] = torch.cat(
                    [raw[attn + n + "." + kind] for n in ("query", "key", "value")])
                out[f"layers.{i}.attn_out.{kind}"] = raw[p + "attention.output.dense." + kind]
                out[f"layers.{i}.attn_norm.{kind}"] = raw[p + "attention.output.LayerNorm." + kind]
                out[f"layers.{i}.up.{kind}"] = raw[p + "intermediate.dense." + kind]
                out[f"layers.{i}.down.{kind}"] = raw[p + "output.dense." + kind]
                out[f"layers.{i}.out_norm.{kind}"] = raw[p + "output.LayerNorm." + kind]
    except KeyError as missing:
        raise ValueError(f"checkpoint is missing BERT weight {missing}") from None
    return out
