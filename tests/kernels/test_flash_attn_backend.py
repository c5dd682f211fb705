"""The flash_attn backend exists only with the flash_attn package; selection falls back."""

from __future__ import annotations

import importlib.util

import pytest

HAS_FLASH_ATTN = importlib.util.find_spec("flash_attn") is not None


@pytest.mark.skipif(HAS_FLASH_ATTN, reason="flash_attn is installed: nothing to fall back from")
def test_import_fails_cleanly_without_flash_attn() -> None:
    with pytest.raises(ImportError, match="flash_attn"):
        importlib.import_module("genai_rt.model.attention.flash_attn_backend")
