"""Attention backends behind one interface: torch (CPU reference), triton (GPU), flash_attn."""

from genai_rt.model.attention.base import AttentionBackend, AttentionMetadata

__all__ = ["AttentionBackend", "AttentionMetadata"]
