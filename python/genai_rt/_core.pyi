# Type stubs for the native module genai_rt._core (csrc/bindings/module.cpp). Keep in step.
from types import ModuleType

built_with_cuda: bool
cuda: ModuleType  # present only when built_with_cuda

def version() -> str: ...
def cuda_device_count() -> int: ...
