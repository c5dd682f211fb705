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
