"""Triton kernels of genai_rt, one op per file, each beside its plain-torch reference.

- ``decode_attention``: paged flash-decoding (split over KV + merge), GQA, fp32/fp16/bf16;
  ``split_kv`` picks (and logs) the split count
- ``extend_attention``: causal prefill/extend over the paged cache, variable lengths
- ``rms_norm`` (fused residual add), ``rotary`` (neox, in place), ``silu_and_mul``
- ``kv_cache_write``: K/V into the paged cache through the slot mapping
- fused decode-layer ops: ``rms_norm_linear`` (residual + RMSNorm inside the QKV / gate-up
  projection), ``silu_mul_linear`` (SiLU-and-mul inside the down projection), both for <= 16
  rows; ``rotary_kv_write`` (rotary + KV-cache write in one launch)
- ``sampling_temperature`` (inverse CDF, one uniform a row) and ``sampling_rejection`` (top-k /
  top-p / min-p by pivot rejection): the engine's Sampler on CUDA; ``sampling``: shared helpers
  and sort-free thresholds (the top-k floor)
- ``token_bitmask``: grammar bitmask apply (the CUDA twin lives in csrc/cuda)

On a machine without a GPU, set ``TRITON_INTERPRET=1`` before importing any kernel module: the
kernels then run on CPU tensors in Triton's interpreter (that is how ``make test`` checks them).
"""
