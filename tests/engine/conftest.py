"""One tiny checkpoint per test session, shared by the engine tests (saving it takes ~1 s)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.engine.tiny_model import save_tiny_llama


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    path = tmp_path_factory.mktemp("tiny_llama")
    model = save_tiny_llama(path)
    return path, model
