"""``genai-rt model init DIR``: a small, deterministic Llama checkpoint in Hugging Face layout.

Seeded random weights (about 5M parameters) and a byte-level BPE tokenizer trained with
``tokenizers`` on examples/corpus/. The text it generates is meaningless; it exists so that the
whole stack runs without downloading anything, through the same loader as a real checkpoint.
Same bytes on every run (with the same torch and tokenizers versions).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

logger = logging.getLogger(__name__)

SEED = 20260301
# The wheel ships the corpus as genai_rt/data/corpus (CMakeLists.txt installs it); a source tree
# or an editable install reads examples/corpus directly.
_CORPUS_CANDIDATES = (
    Path(__file__).resolve().parents[1] / "data" / "corpus",
    Path(__file__).resolve().parents[3] / "examples" / "corpus",
)
DEFAULT_CORPUS = next((p for p in _CORPUS_CANDIDATES if p.is_dir()), _CORPUS_CANDIDATES[-1])
TOKENIZER_VOCAB = 1024
EOS, BOS, IM_START, IM_END, PAD = (
    "<|endoftext|>", "<|begin_of_text|>", "<|im_start|>", "<|im_end|>", "<|pad|>"
)
SPECIAL_TOKENS = [EOS, BOS, IM_START, IM_END, PAD]  # ids 0..4, in this order
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
MODEL_SHAPE = dict(
    hidden_size=256, intermediate_size=768, num_hidden_layers=6, num_attention_heads=4,
    num_key_value_heads=2, head_dim=64, max_position_embeddings=2048,
)
README = """# Default genai_rt model (random weights)

Written by `genai-rt model init`. The weights are seeded random numbers: the text this model
generates is meaningless. It exists so that the runtime runs end to end without a download.
For real output, point `--model` at a real Hugging Face checkpoint directory (config.json,
*.safetensors, tokenizer.json), e.g. a Llama 3.x, Qwen2.5 or Mistral instruct model.
"""


def train_tokenizer(corpus_dir: Path) -> Tokenizer:
    """Byte-level BPE (GPT-2 style) trained on every *.md file of ``corpus_dir``, sorted."""
    files = sorted(str(p) for p in corpus_dir.glob("*.md"))
    if not files:
        raise FileNotFoundError(f"no *.md corpus files in {corpus_dir} (pass --corpus DIR)")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB, min_frequency=2, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tokenizer.train(files, trainer)
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return tokenizer


def random_llama_weights(config: dict[str, Any], seed: int = SEED) -> dict[str, torch.Tensor]:
    """Hugging Face-named fp32 tensors: N(0, 0.02) matrices, unit RMSNorm weights."""
    gen = torch.Generator().manual_seed(seed)
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    q_size = config["num_attention_heads"] * config["head_dim"]
    kv_size = config["num_key_value_heads"] * config["head_dim"]

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * 0.02

    tensors = {"model.embed_tokens.weight": normal(config["vocab_size"], hidden)}
    for i in range(config["num_hidden_layers"]):
        prefix = f"model.layers.{i}."
        tensors.update({
            prefix + "self_attn.q_proj.weight": normal(q_size, hidden),
            prefix + "self_attn.k_proj.weight": normal(kv_size, hidden),
            prefix + "self_attn.v_proj.weight": normal(kv_size, hidden),
            prefix + "self_attn.o_proj.weight": normal(hidden, q_size),
            prefix + "mlp.gate_proj.weight": normal(inter, hidden),
            prefix + "mlp.up_proj.weight": normal(inter, hidden),
            prefix + "mlp.down_proj.weight": normal(hidden, inter),
            prefix + "input_layernorm.weight": torch.ones(hidden),
            prefix + "post_attention_layernorm.weight": torch.ones(hidden),
        })
    tensors["model.norm.weight"] = torch.ones(hidden)
    tensors["lm_head.weight"] = normal(config["vocab_size"], hidden)
    return tensors


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def init_default_model(out_dir: str | Path, corpus_dir: str | Path | None = None) -> Path:
    """Write the default checkpoint into ``out_dir`` (created if needed) and return its path.

    Files: config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
    generation_config.json, README.md.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(Path(corpus_dir) if corpus_dir else DEFAULT_CORPUS)
    ids = {tok: tokenizer.token_to_id(tok) for tok in SPECIAL_TOKENS}
    eos_ids = [ids[IM_END], ids[EOS]]
    config: dict[str, Any] = dict(
        MODEL_SHAPE,
        architectures=["LlamaForCausalLM"], model_type="llama",
        vocab_size=tokenizer.get_vocab_size(with_added_tokens=True),
        hidden_act="silu", rms_norm_eps=1e-5, rope_theta=10000.0, rope_scaling=None,
        attention_bias=False, attention_dropout=0.0, mlp_bias=False,
        tie_word_embeddings=False, torch_dtype="float32", initializer_range=0.02,
        bos_token_id=ids[BOS], eos_token_id=eos_ids, pad_token_id=ids[PAD], use_cache=True,
    )
    save_file(random_llama_weights(config), str(out / "model.safetensors"),
              metadata={"format": "pt"})
    _write_json(out / "config.json", config)
    tokenizer.save(str(out / "tokenizer.json"))
    _write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": BOS, "eos_token": IM_END,
        "pad_token": PAD, "chat_template": CHAT_TEMPLATE, "model_max_length": 2048,
        "add_bos_token": False, "clean_up_tokenization_spaces": False,
    })
    _write_json(out / "generation_config.json", {
        "bos_token_id": ids[BOS], "eos_token_id": eos_ids, "pad_token_id": ids[PAD],
        "do_sample": True, "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 128,
    })
    (out / "README.md").write_text(README, encoding="utf-8")
    logger.info("wrote the default model to %s", out)
    return out
