"""Model side: Hugging Face and GGUF checkpoint loading, the Llama-family decoder, attention
backends.

Typical use::

    backend = select_attention_backend("cpu")
    model = load_model("path/to/checkpoint", backend)          # LlamaForCausalLM
    tokenizer = Tokenizer("path/to/checkpoint")
    hidden = model(input_ids, positions, kv_caches, meta)      # [T, H]
    logits = model.compute_logits(hidden[last_rows])           # [N, V] float32
"""

from genai_rt.model.attention.select import select_attention_backend
from genai_rt.model.gguf_file import GGUFFile, GGUFTensor, find_gguf
from genai_rt.model.gguf_model import load_gguf_model
from genai_rt.model.gguf_tokenizer import load_gguf_tokenizer
from genai_rt.model.hf_config import HFModelConfig, ModelConfigError, load_hf_config
from genai_rt.model.llama import LlamaForCausalLM, ModelOps
from genai_rt.model.loader import (
    CheckpointError,
    GenerationDefaults,
    load_generation_defaults,
    load_model,
)
from genai_rt.model.tokenizer import Tokenizer, TokenizerError

__all__ = [
    "CheckpointError",
    "GGUFFile",
    "GGUFTensor",
    "GenerationDefaults",
    "HFModelConfig",
    "LlamaForCausalLM",
    "ModelConfigError",
    "ModelOps",
    "Tokenizer",
    "TokenizerError",
    "find_gguf",
    "load_generation_defaults",
    "load_gguf_model",
    "load_gguf_tokenizer",
    "load_hf_config",
    "load_model",
    "select_attention_backend",
]
