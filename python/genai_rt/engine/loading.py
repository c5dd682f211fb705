"""Resolve the engine's pieces from its config: device, attention backend, model, tokenizer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genai_rt.config import EngineConfig
from genai_rt.model.llama import LlamaForCausalLM

logger = logging.getLogger(__name__)


@dataclass
class EngineParts:
    model: LlamaForCausalLM
    tokenizer: Any
    eos_token_ids: Sequence[int]
    max_model_len: int
    grammar_compiler: Callable[..., Any]


def resolve_device(name: str) -> torch.device:
    """"auto" -> cuda when torch sees a GPU, else cpu; "cuda" without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' requested but torch sees no CUDA device")
    return torch.device(name)


def load_tokenizer(model_dir: str | Path) -> Any:
    """The checkpoint's ``genai_rt.model.Tokenizer``, or None when it has no tokenizer.json."""
    if not (Path(model_dir) / "tokenizer.json").is_file():
        logger.warning("%s has no tokenizer.json: prompts must be token ids, no text output",
                       model_dir)
        return None
    from genai_rt.model.tokenizer import Tokenizer

    return Tokenizer(model_dir)


def load_engine_parts(
    config: EngineConfig,
    model: LlamaForCausalLM | None = None,
    tokenizer: Any = None,
    eos_token_ids: Sequence[int] | None = None,
) -> EngineParts:
    """Load what ``config`` names; pre-built pieces passed in are used as they are."""
    from genai_rt.engine.constraints import GrammarCompiler
    from genai_rt.model.gguf_file import GGUFFile, find_gguf
    from genai_rt.model.loader import load_generation_defaults, load_model

    mcfg = config.model
    gguf_path = find_gguf(mcfg.path)
    gguf = None if gguf_path is None else GGUFFile(gguf_path)
    if model is None:
        from genai_rt.model.attention.select import select_attention_backend

        device = resolve_device(mcfg.device)
        requested = None if mcfg.attention_backend == "auto" else mcfg.attention_backend
        backend = select_attention_backend(device, requested)
        dtype = None if mcfg.dtype == "auto" else mcfg.dtype
        if gguf is not None:
            from genai_rt.model.gguf_model import load_gguf_model

            model = load_gguf_model(gguf, backend, dtype=dtype, device=device,
                                    max_model_len=mcfg.max_model_len)
        else:
            model = load_model(mcfg.path, backend, dtype=dtype, device=device,
                               max_model_len=mcfg.max_model_len)
        from genai_rt.model.quant.apply import quantize_model

        quantize_model(model, gguf, mcfg.quantize, mcfg.quant_activations)  # logs the path
    if mcfg.deterministic:
        from genai_rt.model.deterministic import make_batch_invariant

        make_batch_invariant(model)
    if gguf is not None:
        from genai_rt.model.gguf_model import generation_defaults
        from genai_rt.model.gguf_tokenizer import load_gguf_tokenizer

        tokenizer = load_gguf_tokenizer(gguf) if tokenizer is None else tokenizer
        if eos_token_ids is None:
            eos_token_ids = generation_defaults(gguf).eos_token_ids
    if tokenizer is None:
        tokenizer = load_tokenizer(mcfg.path)
    if eos_token_ids is None:
        eos_token_ids = load_generation_defaults(mcfg.path, model.config).eos_token_ids
    max_model_len = int(model.max_model_len)
    if mcfg.max_model_len is not None and mcfg.max_model_len < max_model_len:
        max_model_len = mcfg.max_model_len
    return EngineParts(
        model=model,
        tokenizer=tokenizer,
        eos_token_ids=eos_token_ids,
        max_model_len=max_model_len,
        grammar_compiler=GrammarCompiler(tokenizer, model.config.vocab_size),
    )
