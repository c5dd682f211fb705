"""``make demo``: the end-to-end path that exists today, printed step by step."""

from __future__ import annotations

import os


def run_demo() -> int:
    from genai_rt.device import cuda_available

    if not cuda_available():  # Triton kernels run in the interpreter; set before any is defined
        os.environ.setdefault("TRITON_INTERPRET", "1")
    import torch

    from genai_rt.info import collect, format_info

    print("== genai_rt build ==")
    print(format_info(collect()))
    from genai_rt.sampling import apply_token_bitmask

    print("\n== token-bitmask apply: torch reference vs Triton kernel ==")
    device = "cuda" if cuda_available() else "cpu"
    vocab = 1000
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, vocab, generator=generator).to(device)
    words = (vocab + 31) // 32
    bitmask = torch.randint(-(2**31), 2**31 - 1, (3, words), generator=generator,
                            dtype=torch.int32).to(device)
    reference = apply_token_bitmask(logits.clone(), bitmask, backend="torch")
    kernel = apply_token_bitmask(logits.clone(), bitmask, backend="triton")
    allowed = torch.isfinite(reference).sum().item()
    same = torch.equal(reference, kernel)
    print(f"3 rows x {vocab} tokens: {allowed} allowed, Triton == torch: {same}")
    return 0 if same else 1
