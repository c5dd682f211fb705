"""tl.dot that also gives right answers in Triton's CPU interpreter.

NOTE: Triton 3.9's interpreter multiplies bf16 tiles wrongly (errors of 1e10 on a 16x16 product
of unit normals), so under TRITON_INTERPRET=1 the operands are widened to fp32 after the same
rounding the GPU path applies; on a GPU the native tensor-core dot runs.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
# Debug switch: GENAI_RT_TRITON_AUTOTUNE=0 runs every kernel with its default config (the device
# check's test stage uses it: correctness does not depend on the config, compile time does).
AUTOTUNE = not INTERPRETED and os.environ.get("GENAI_RT_TRITON_AUTOTUNE", "1") != "0"


def dot_precision(dtype: torch.dtype) -> str:
    """fp32 operands stay exact ("ieee"); tf32 would cost ~1e-3 relative error."""
    return "ieee" if dtype == torch.float32 or INTERPRETED else "tf32"


@triton.jit
def tile_dot(a, b, PRECISION: tl.constexpr, WIDEN: tl.constexpr):
    if WIDEN:
        out = tl.dot(a.to(tl.float32), b.to(tl.float32), input_precision="ieee")
    else:
        out = tl.dot(a, b, input_precision=PRECISION)
    return out
