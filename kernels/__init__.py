"""Triton kernels of genai_rt, one op per file, each beside its plain-torch reference.

On a machine without a GPU, set ``TRITON_INTERPRET=1`` before importing any kernel module: the
kernels then run on CPU tensors in Triton's interpreter (that is how ``make test`` checks them).
"""
