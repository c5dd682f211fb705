"""Triton kernels of genai_rt, one op per file, each beside its plain-torch reference.

- ``decode_attention``: paged flash-decoding (split over KV + merge), GQA, fp32/fp16/bf16
- ``extend_attention``: causal prefill/extend over the paged cache, variable lengths
- ``rms_norm`` (fused residual add), ``rotary`` (neox, in place), ``silu_and_mul``
- ``kv_cache_write``: K/V into the paged cache through the slot mapping
- ``sampling``: temperature / min-p / top-k / top-p thresholds without a sort + Gumbel race
- ``token_bitmask``: grammar bitmask apply (the CUDA twin lives in csrc/cuda)

On a machine without a GPU, set ``TRITON_INTERPRET=1`` before importing any kernel module: the
kernels then run on CPU tensors in Triton's interpreter (that is how ``make test`` checks them).
"""
