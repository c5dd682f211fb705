"""A checkpoint wide enough that BLAS picks different kernels for 1 and many rows."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.engine.tiny_model import save_tiny_llama


@pytest.fixture(scope="session")
def wide_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    path = tmp_path_factory.mktemp("wide_llama")
    model = save_tiny_llama(path, layers=2, max_positions=512, hidden_size=256,
                            intermediate_size=512)
    return path, model
