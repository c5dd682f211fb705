"""A tiny random Llama checkpoint with a character-level tokenizer, saved the Hugging Face way.

Character tokens make stop strings and text deltas easy to reason about; the weights are random
(seeded), so only agreement with transformers on the same checkpoint means anything.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch

CHARS = string.ascii_letters + string.digits + string.punctuation + " \n"
EOS = "</s>"
VOCAB = len(CHARS) + 1  # 97 characters + EOS
EOS_ID = len(CHARS)


def _byte_level_char(c: str) -> str:
    """GPT-2's byte-to-unicode map for one ASCII character (printables map to themselves)."""
    b = ord(c)
    if 33 <= b <= 126:
        return c
    return chr(256 + [i for i in range(256) if not 33 <= i <= 126 and not 161 <= i <= 172
                      and not 174 <= i <= 255].index(b))


def build_tokenizer():  # type: ignore[no-untyped-def]
    """One token per character; byte-level (GPT-2 style) so the grammar's Vocabulary reads it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {_byte_level_char(c): i for i, c in enumerate(CHARS)}
    vocab[EOS] = EOS_ID
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([EOS])
    return tok


def save_tiny_llama(
    path: Path, layers: int = 2, max_positions: int = 256, hidden_size: int = 64,
    intermediate_size: int = 96,
) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
        rms_norm_eps=1e-5, eos_token_id=EOS_ID, bos_token_id=None, tie_word_embeddings=False,
        # std 0.2, not 0.02: spread logits, varied greedy outputs (32 distinct tokens in 40
        # steps) and top-2 margins >= 4e-3, far above the ~3e-7 error between implementations
        initializer_range=0.2,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.copy_(1.0 + 0.2 * torch.randn_like(param))
    model.eval()
    model.save_pretrained(path)
    build_tokenizer().save(str(path / "tokenizer.json"))
    (path / "generation_config.json").write_text(json.dumps({"eos_token_id": EOS_ID}))
    return model


def greedy_reference(
    model: torch.nn.Module, prompts: list[list[int]], max_tokens: int
) -> list[list[int]]:
    """transformers' greedy ``generate`` over the prompts, left-padded into one batch, never
    stopping at EOS (the engine runs these with ``ignore_eos``)."""
    width = max(len(p) for p in prompts)
    ids = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros(len(prompts), width, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    model.generation_config.eos_token_id = None
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_tokens,
                             min_new_tokens=max_tokens, do_sample=False, pad_token_id=0)
    return [row[width:].tolist() for row in out]
