"""Load a local Hugging Face checkpoint directory into ``LlamaForCausalLM``.

Layout read: config.json, model.safetensors or shards listed in model.safetensors.index.json,
generation_config.json (optional). Hugging Face tensor names are mapped onto the fused
parameters (q/k/v -> qkv_proj, gate/up -> gate_up_proj); every parameter must be filled exactly
once and every tensor in the files must have a home, else a ``CheckpointError`` names it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from genai_rt.model.attention.base import AttentionBackend
from genai_rt.model.hf_config import HFModelConfig, ModelConfigError, load_hf_config, parse_dtype
from genai_rt.model.llama import LlamaForCausalLM, ModelOps, Projection

logger = logging.getLogger(__name__)

INDEX_FILE = "model.safetensors.index.json"
_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
# Hugging Face suffix within a layer -> (our parameter, which slice of it)
_LAYER_NAMES: dict[str, tuple[str, str | None]] = {
    "self_attn.q_proj.weight": ("qkv_proj.weight", "q"),
    "self_attn.k_proj.weight": ("qkv_proj.weight", "k"),
    "self_attn.v_proj.weight": ("qkv_proj.weight", "v"),
    "self_attn.q_proj.bias": ("qkv_proj.bias", "q"),
    "self_attn.k_proj.bias": ("qkv_proj.bias", "k"),
    "self_attn.v_proj.bias": ("qkv_proj.bias", "v"),
    "self_attn.o_proj.weight": ("o_proj.weight", None),
    "mlp.gate_proj.weight": ("gate_up_proj.weight", "gate"),
    "mlp.up_proj.weight": ("gate_up_proj.weight", "up"),
    "mlp.down_proj.weight": ("down_proj.weight", None),
    "input_layernorm.weight": ("input_layernorm", None),
    "post_attention_layernorm.weight": ("post_attention_layernorm", None),
}
_TOP_NAMES = {
    "model.embed_tokens.weight": "embed_tokens",
    "model.norm.weight": "norm",
    "lm_head.weight": "lm_head.weight",
}


class CheckpointError(ValueError):
    """A checkpoint's weight files are missing or do not match its config."""


@dataclass(frozen=True)
class GenerationDefaults:
    """generation_config.json: stop ids and the checkpoint author's sampling defaults.

    Attributes
    ----------
    eos_token_ids : tuple[int, ...]
        Ids that end a generation (generation_config first, then config.json).
    raw : dict
        Every field of generation_config.json (temperature, top_p, top_k, ...), {} if absent.
    """

    eos_token_ids: tuple[int, ...]
    bos_token_id: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


def load_generation_defaults(model_dir: str | Path, config: HFModelConfig) -> GenerationDefaults:
    """Read generation_config.json when present; fall back to config.json's eos/bos ids."""
    path = Path(model_dir) / "generation_config.json"
    raw: dict[str, Any] = {}
    if path.is_file():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc
    eos = raw.get("eos_token_id")
    if eos is None:
        eos_ids = config.eos_token_ids
    else:
        eos_ids = tuple(int(e) for e in (eos if isinstance(eos, list) else [eos]))
    bos = raw.get("bos_token_id", config.bos_token_id)
    return GenerationDefaults(eos_token_ids=eos_ids, bos_token_id=bos, raw=raw)


def weight_files(model_dir: str | Path) -> list[Path]:
    """The safetensors files of a checkpoint: the index's shards, else every *.safetensors."""
    root = Path(model_dir)
    if not root.is_dir():
        raise CheckpointError(f"model directory {root} does not exist")
    index = root / INDEX_FILE
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
        files = [root / name for name in sorted(set(weight_map.values()))]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise CheckpointError(f"{index} lists missing shard file(s): {', '.join(missing)}")
        if not files:
            raise CheckpointError(f"{index} has an empty weight_map")
        return files
    # Mistral repositories also ship consolidated.safetensors (Mistral's own tensor names) next
    # to the Hugging Face file(s); only the latter are for this loader.
    files = sorted(p for p in root.glob("*.safetensors") if not p.name.startswith("consolidated"))
    if not files:
        other = sorted(p.name for p in root.glob("*.bin")) or ["none"]
        raise CheckpointError(
            f"missing weights: no *.safetensors in {root} (found .bin: {', '.join(other)}; "
            "only safetensors checkpoints are supported)"
        )
    return files


def _slices(config: HFModelConfig) -> dict[str, tuple[int, int]]:
    q, kv, inter = config.q_size, config.kv_size, config.intermediate_size
    return {
        "q": (0, q),
        "k": (q, q + kv),
        "v": (q + kv, q + 2 * kv),
        "gate": (0, inter),
        "up": (inter, 2 * inter),
    }


def _target(name: str, config: HFModelConfig) -> tuple[str, str | None] | None:
    """Our parameter name and slice for a Hugging Face tensor name; None if it has no home."""
    if name in _TOP_NAMES:
        return _TOP_NAMES[name], None
    match = _LAYER.match(name)
    if match is None or match.group(2) not in _LAYER_NAMES:
        return None
    if int(match.group(1)) >= config.num_hidden_layers:
        return None
    param, part = _LAYER_NAMES[match.group(2)]
    return f"layers.{match.group(1)}.{param}", part


def _is_ignorable(name: str, config: HFModelConfig) -> bool:
    # Old checkpoints store the rotary inverse frequencies (recomputed here); tied checkpoints
    # sometimes still carry a copy of the embedding as lm_head.
    return name.endswith("rotary_emb.inv_freq") or (
        name == "lm_head.weight" and config.tie_word_embeddings
    )


def load_weights(model: LlamaForCausalLM, files: list[Path]) -> None:
    """Copy every tensor of ``files`` into ``model``'s (already allocated) parameters."""

    current = {"file": files[0].name}

    def tensors() -> Iterator[tuple[str, torch.Tensor]]:
        for path in files:
            current["file"] = path.name
            with safe_open(str(path), framework="pt") as handle:
                for name in handle.keys():  # noqa: SIM118 (safe_open is not a mapping)
                    yield name, handle.get_tensor(name)

    assign_weights(model, tensors(), files[0].parent, lambda _name: current["file"])


def assign_weights(
    model: LlamaForCausalLM,
    tensors: Iterable[tuple[str, torch.Tensor]],
    source: Path | str,
    where: Callable[[str], str] | None = None,
) -> None:
    """Copy Hugging Face-named ``tensors`` into ``model``'s (already allocated) parameters.

    Every parameter must be filled exactly once; ``source`` (and ``where(name)``, the file a
    tensor came from) name the checkpoint in errors.
    """
    config = model.config
    params = dict(model.named_parameters())
    transposed = {
        f"{name}.weight" for name, module in model.named_modules()
        if isinstance(module, Projection) and module.transposed
    }
    slices = _slices(config)
    filled: set[tuple[str, str | None]] = set()
    for name, tensor in tensors:
        if _is_ignorable(name, config):
            continue
        target = _target(name, config)
        label = where(name) if where is not None else str(source)
        if target is None or target[0] not in params:
            raise CheckpointError(
                f"unexpected tensor {name!r} in {label} for {config.architecture} "
                f"with {config.num_hidden_layers} layers"
                + ("" if config.attention_bias or "bias" not in name else
                   " (attention biases need attention_bias=true in config.json)")
            )
        param_name, part = target
        # A transposed Projection stores [in, out]: the checkpoint's [out, in] goes in
        # as its transpose, and q/k/v or gate/up slices are columns.
        dest = params[param_name].data
        if param_name in transposed:
            dest = dest.t()
        if part is not None:
            dest = dest[slice(*slices[part])]
        if tuple(tensor.shape) != tuple(dest.shape):
            raise CheckpointError(
                f"tensor {name!r} in {label} has shape {tuple(tensor.shape)}, "
                f"the config implies {tuple(dest.shape)}"
            )
        dest.copy_(tensor)
        filled.add(target)
    expected = {(name, part) for name, part in _expected_targets(model, slices)}
    missing = sorted(expected - filled, key=str)
    if missing:
        shown = ", ".join(f"{name}{'' if part is None else f'[{part}]'}" for name, part in missing)
        raise CheckpointError(f"missing tensor(s) in {source}: {shown}")


def _expected_targets(
    model: LlamaForCausalLM, slices: dict[str, tuple[int, int]]
) -> list[tuple[str, str | None]]:
    expected: list[tuple[str, str | None]] = []
    for name, _ in model.named_parameters():
        module = name.rsplit(".", 2)[-2] if name.count(".") else ""
        if module == "qkv_proj":
            expected += [(name, "q"), (name, "k"), (name, "v")]
        elif module == "gate_up_proj":
            expected += [(name, "gate"), (name, "up")]
        else:
            expected.append((name, None))
    return expected


def load_model(
    model_dir: str | Path,
    backend: AttentionBackend,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device = "cpu",
    max_model_len: int | None = None,
    ops: ModelOps | None = None,
) -> LlamaForCausalLM:
    """Build the decoder for ``model_dir`` and load its weights.

    Parameters
    ----------
    model_dir : path
        A local Hugging Face checkpoint directory.
    backend : AttentionBackend
        From ``genai_rt.model.attention.select.select_attention_backend``.
    dtype : "float32" | "bfloat16" | "float16" | torch.dtype | None
        Overrides the checkpoint's own dtype (config.json's ``torch_dtype``/``dtype``).
    device : str or torch.device
    max_model_len : int, optional
        Longest sequence to accept; defaults to (and may not exceed) ``config.max_model_len``.
    ops : ModelOps, optional
        Replacement small ops; by default those matching ``backend`` (Triton's for the triton
        backend, the torch reference otherwise).

    Raises
    ------
    ModelConfigError, CheckpointError
        With the offending file, tensor or field named.
    """
    from genai_rt.model.attention.select import model_ops_for

    config = load_hf_config(model_dir)
    files = weight_files(model_dir)
    target_dtype = config.dtype if dtype is None else parse_dtype(dtype)
    limit = config.max_model_len if max_model_len is None else int(max_model_len)
    if limit <= 0:
        raise ModelConfigError(f"max_model_len must be positive, got {limit}")
    with torch.device("meta"):
        model = LlamaForCausalLM(config, backend, limit, ops or model_ops_for(backend))
    model = model.to(dtype=target_dtype).to_empty(device=device)
    load_weights(model, files)
    model.init_rotary_cache()
    model.eval()
    logger.info(
        "loaded %s from %s: %d layers, %s on %s, %d shard(s)",
        config.architecture, model_dir, config.num_hidden_layers, target_dtype, device, len(files),
    )
    return model
