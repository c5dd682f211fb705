"""The Llama-family decoder (Llama 2/3/3.x, Qwen2, Mistral) over a flattened, paged batch.

One forward runs the new tokens of every scheduled sequence at once:
``model(input_ids [T], positions [T], kv_caches, meta) -> hidden [T, H]``; the runner then asks
``compute_logits`` for only the rows it samples from.

Projections are fused the way the loader packs them: q/k/v into one ``qkv_proj`` and gate/up
into one ``gate_up_proj``, so each layer runs four matmuls instead of seven.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genai_rt.model import layers
from genai_rt.model.attention.base import AttentionBackend, AttentionMetadata
from genai_rt.model.hf_config import HFModelConfig


@dataclass(frozen=True)
class ModelOps:
    """The small ops the decoder calls; a device dispatch may swap in Triton versions.

    The optional fused ops (None: unfused) cut a decode layer's launches:

    - ``rms_norm_linear(x, residual, norm_weight, eps, weight, transposed, bias)`` ->
      ``(projected, new_residual)``: residual + RMSNorm computed inside the QKV / gate-up
      projection, used when a step has at most ``fused_max_tokens`` tokens;
    - ``silu_mul_linear(gate_up, weight, transposed)``: SiLU-and-mul inside the down projection,
      same condition;
    - ``rotary_kv_write(positions, q, k, v, cos_sin_cache, kv_cache, slot_mapping)``: rotary and
      the KV-cache write in one launch, for every step, with a backend that has ``attend`` (the
      attention without its own write).
    """

    rms_norm: Callable[
        [torch.Tensor, torch.Tensor | None, torch.Tensor, float],
        tuple[torch.Tensor, torch.Tensor],
    ] = layers.rms_norm
    rotary_embedding: Callable[
        [torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], None
    ] = layers.rotary_embedding
    silu_and_mul: Callable[[torch.Tensor], torch.Tensor] = layers.silu_and_mul
    rms_norm_linear: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = None
    silu_mul_linear: Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor] | None = None
    rotary_kv_write: Callable[..., None] | None = None
    fused_max_tokens: int = 0


def _empty(*shape: int) -> nn.Parameter:
    # Filled by the loader; torch.empty keeps construction free of a random init.
    return nn.Parameter(torch.empty(*shape), requires_grad=False)


class Projection(nn.Module):
    """A bias-optional linear layer whose weight layout is picked for CPU decode speed.

    ``weight`` is stored as [in, out] (``transposed``) when out >= in, else as [out, in] as in
    the checkpoint; the loader writes either layout.

    NOTE: one decode token, weights streaming from DRAM, 1 thread, MKL: ``x @ W`` with W
    [in, out] against ``F.linear`` with W [out, in] took 11 vs 24 ms for 40 matrices of
    3072x512, 2.8 vs 6.2 ms for the 32000x512 LM head, 21 vs 26 ms for 120 of 512x512, but
    12 vs 8.5 ms for 40 of 512x1536 (a down projection). At 64+ rows: within noise. cuBLAS
    takes either layout through its transpose flags, without a copy (GPU speed not measured).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False) -> None:
        super().__init__()
        self.transposed = out_features >= in_features
        shape = (in_features, out_features) if self.transposed else (out_features, in_features)
        self.weight = _empty(*shape)
        self.bias = _empty(out_features) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [T, in] -> [T, out]
        if not self.transposed:
            return F.linear(x, self.weight, self.bias)
        if self.bias is None:
            return torch.mm(x, self.weight)
        return torch.addmm(self.bias, x, self.weight)


class LlamaDecoderLayer(nn.Module):
    """Pre-norm attention + SwiGLU MLP with the residual add fused into the norms."""

    def __init__(self, config: HFModelConfig) -> None:
        super().__init__()
        hidden, inter = config.hidden_size, config.intermediate_size
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.q_size, self.kv_size = config.q_size, config.kv_size
        self.eps = config.rms_norm_eps
        self.scale = config.head_dim**-0.5
        self.input_layernorm = _empty(hidden)
        self.qkv_proj = Projection(hidden, self.q_size + 2 * self.kv_size, config.attention_bias)
        self.o_proj = Projection(self.q_size, hidden)
        self.post_attention_layernorm = _empty(hidden)
        self.gate_up_proj = Projection(hidden, 2 * inter)
        self.down_proj = Projection(inter, hidden)

    def forward(
        self,
        positions: torch.Tensor,
        hidden: torch.Tensor,
        residual: torch.Tensor | None,
        kv_cache: torch.Tensor,
        meta: AttentionMetadata,
        cos_sin_cache: torch.Tensor,
        backend: AttentionBackend,
        ops: ModelOps,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # hidden, residual: [T, H]
        num_tokens = hidden.shape[0]
        fused = num_tokens <= ops.fused_max_tokens
        qkv, residual = self._norm_project(hidden, residual, self.input_layernorm,
                                           self.qkv_proj, ops, fused)  # [T, q + 2 kv]
        q, k, v = qkv.split([self.q_size, self.kv_size, self.kv_size], dim=-1)
        q = q.reshape(num_tokens, self.num_heads, self.head_dim)
        k = k.reshape(num_tokens, self.num_kv_heads, self.head_dim)
        v = v.reshape(num_tokens, self.num_kv_heads, self.head_dim)
        attend = getattr(backend, "attend", None)
        if ops.rotary_kv_write is not None and attend is not None:
            ops.rotary_kv_write(positions, q, k, v, cos_sin_cache, kv_cache, meta.slot_mapping)
            attn = attend(q, kv_cache, meta, self.scale)  # [T, heads, D]
        else:
            ops.rotary_embedding(positions, q, k, cos_sin_cache)
            attn = backend.forward(q, k, v, kv_cache, meta, self.scale)
        hidden = self.o_proj(attn.reshape(num_tokens, self.q_size))
        gate_up, residual = self._norm_project(hidden, residual, self.post_attention_layernorm,
                                               self.gate_up_proj, ops, fused)
        if fused and ops.silu_mul_linear is not None:
            down = self.down_proj
            return ops.silu_mul_linear(gate_up, down.weight, down.transposed), residual
        return self.down_proj(ops.silu_and_mul(gate_up)), residual  # [T, H]

    def _norm_project(
        self, hidden: torch.Tensor, residual: torch.Tensor | None, norm_weight: torch.Tensor,
        proj: Projection, ops: ModelOps, fused: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(proj(rms_norm(hidden + residual)), new residual), in one launch when ``fused``."""
        if fused and ops.rms_norm_linear is not None:
            return ops.rms_norm_linear(hidden, residual, norm_weight, self.eps, proj.weight,
                                       proj.transposed, proj.bias)
        normed, residual = ops.rms_norm(hidden, residual, norm_weight, self.eps)
        return proj(normed), residual


class LlamaForCausalLM(nn.Module):
    """Decoder + LM head for every supported architecture (they differ only in config).

    Parameters
    ----------
    config : HFModelConfig
    backend : AttentionBackend
        Paged attention implementation (``genai_rt.model.attention.select``).
    max_model_len : int
        Longest sequence accepted; sizes the rotary cache. At most ``config.max_model_len``.
    ops : ModelOps
        The small ops (torch reference by default).
    """

    def __init__(
        self,
        config: HFModelConfig,
        backend: AttentionBackend,
        max_model_len: int,
        ops: ModelOps | None = None,
    ) -> None:
        super().__init__()
        if max_model_len > config.max_model_len:
            raise ValueError(_too_long_message(config, max_model_len))
        self.config = config
        self.backend = backend
        self.max_model_len = max_model_len
        self.ops = ops or ModelOps()
        self.embed_tokens = _empty(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(
            LlamaDecoderLayer(config) for _ in range(config.num_hidden_layers)
        )
        self.norm = _empty(config.hidden_size)
        # Tied checkpoints (Qwen2 small sizes) reuse the embedding matrix as the LM head.
        self.lm_head = (
            None if config.tie_word_embeddings
            else Projection(config.hidden_size, config.vocab_size)
        )
        self.register_buffer("cos_sin_cache", torch.empty(0), persistent=False)

    def init_rotary_cache(self) -> None:
        """(Re)build the cos/sin cache in the weights' dtype and device (the loader calls it)."""
        cfg = self.config
        self.cos_sin_cache = layers.build_cos_sin_cache(
            self.max_model_len, cfg.head_dim, cfg.rope_theta, cfg.rope_scaling,
            self.embed_tokens.dtype, self.embed_tokens.device,
        )

    # no_grad, not inference_mode: inference tensors refuse in-place updates outside that mode,
    # and samplers edit logits in place (penalties, masks).
    @torch.no_grad()
    def forward(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor,
        kv_caches: list[torch.Tensor],
        meta: AttentionMetadata,
    ) -> torch.Tensor:
        """Run the decoder over the flat batch.

        Parameters
        ----------
        input_ids, positions : int64 [T]
        kv_caches : list of [2, num_blocks, block_size, kv_heads, head_dim], one per layer
        meta : AttentionMetadata

        Returns
        -------
        hidden : [T, H]
            After the final norm; pass the rows to sample from to ``compute_logits``.
        """
        if len(kv_caches) != len(self.layers):
            raise ValueError(f"got {len(kv_caches)} KV caches for {len(self.layers)} layers")
        if input_ids.shape != positions.shape or input_ids.dim() != 1:
            raise ValueError(
                f"input_ids {tuple(input_ids.shape)} and positions {tuple(positions.shape)} "
                "must both be [num_tokens]"
            )
        if input_ids.device.type == "cpu" and input_ids.numel():  # free on CPU; a sync on GPU
            low, high = int(input_ids.min()), int(input_ids.max())
            if low < 0 or high >= self.config.vocab_size:
                bad = low if low < 0 else high
                raise ValueError(
                    f"token id {bad} out of range for vocab_size={self.config.vocab_size}"
                )
        if meta.max_seq_len > self.max_model_len:
            raise ValueError(_too_long_message(self.config, meta.max_seq_len, self.max_model_len))
        hidden = F.embedding(input_ids, self.embed_tokens)  # [T, H]
        residual: torch.Tensor | None = None
        for layer, kv_cache in zip(self.layers, kv_caches, strict=True):
            hidden, residual = layer(
                positions, hidden, residual, kv_cache, meta, self.cos_sin_cache, self.backend,
                self.ops,
            )
        hidden, _ = self.ops.rms_norm(hidden, residual, self.norm, self.config.rms_norm_eps)
        return hidden

    @torch.no_grad()
    def compute_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """LM head over the selected rows: hidden [N, H] -> logits [N, V] float32."""
        if self.lm_head is None:
            return F.linear(hidden, self.embed_tokens).float()
        return self.lm_head(hidden).float()


def _too_long_message(config: HFModelConfig, length: int, limit: int | None = None) -> str:
    limit = config.max_model_len if limit is None else limit
    reason = (
        f"its sliding_window={config.sliding_window} (attention here is full, not windowed)"
        if config.sliding_window is not None and config.sliding_window <= limit
        else f"max_position_embeddings={config.max_position_embeddings}"
        if limit == config.max_position_embeddings
        else f"max_model_len={limit}"
    )
    return f"sequence length {length} exceeds {limit} for {config.architecture}: {reason}"
