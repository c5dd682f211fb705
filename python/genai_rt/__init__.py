"""genai_rt: a performance-focused runtime for generative AI in production.

The native core lives in ``genai_rt._core`` (C++/CUDA through pybind11); Triton kernels in
``genai_rt.kernels``; the Python layers (engine, sampling, model) around them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("genai-rt")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
