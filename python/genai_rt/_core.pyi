# Type stubs for the native module genai_rt._core (csrc/bindings/module.cpp). Keep in step.
from types import ModuleType

built_with_cuda: bool
cuda: ModuleType  # present only when built_with_cuda

def version() -> str: ...
def cuda_device_count() -> int: ...

# --- CUDA kernels (csrc/cuda, BindCudaKernels): members of `cuda` when built_with_cuda ---
# cuda.apply_token_bitmask_inplace(logits, dtype, num_rows, vocab_size, logits_stride, bitmask,
#     bitmask_words, bitmask_stride, indices, num_indices, stream) -> None
# cuda.top_k(input, dtype, rows, cols, input_stride, k, out_values, out_indices, stream) -> None
# cuda.max_top_k: int (1024)
# Pointers and the stream are integers (tensor.data_ptr(), stream.cuda_stream); dtype codes:
# 0 float32, 1 float16, 2 bfloat16.

# --- CPU attention (csrc/attention, BindCpuAttention) ---
def cpu_paged_decode_attention(
    out: int, query: int, kv_cache: int, block_tables: int, seq_lens: int, num_seqs: int,
    num_heads: int, num_kv_heads: int, head_dim: int, num_blocks: int, block_size: int,
    max_blocks_per_seq: int, block_table_stride: int, scale: float, num_threads: int,
) -> None: ...
def cpu_paged_decode_split(seq_lens: list[int], num_threads: int) -> list[tuple[int, int]]: ...

cpu_paged_decode_min_tokens_per_thread: int
