"""Read a GGUF file with the ``gguf`` package (llama.cpp's own reader): metadata and raw tensors.

Reading is kept apart from dequantizing (``gguf_dequant``): ``GGUFFile.tensors()`` yields each
tensor's name, GGML type, logical shape and raw block bytes, so a caller may keep some tensors
quantized and dequantize the rest.

Every failure is a ``CheckpointError`` that names the file and the problem: a missing file, a
wrong magic, a file cut short, a tensor whose bytes run past the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType

from genai_rt.model.loader import CheckpointError

GGUF_MAGIC = b"GGUF"


class _PlainArrayReader(GGUFReader):
    """``GGUFReader`` over a plain ndarray view of its memory map.

    The reader slices its buffer once per metadata value (about 250k times for a 49k-token
    vocabulary); on an ``np.memmap`` each slice runs memmap's Python ``__array_finalize__``.
    NOTE: a plain view of the same mapping halves the open time (28 s -> 12 s for SmolLM2-135M
    on the shared 2-core box under load 17, cProfile). The mapping stays alive through ``.base``.
    """

    @property  # type: ignore[override]
    def data(self) -> np.ndarray:
        return self._plain

    @data.setter
    def data(self, value: np.ndarray) -> None:
        self._plain = np.asarray(value).view(np.ndarray)


@dataclass(frozen=True)
class GGUFTensor:
    """One tensor as stored: what a quantized-weights path needs to keep it quantized.

    Attributes
    ----------
    name : str
        The GGUF name (``blk.0.attn_q.weight``).
    ggml_type : GGMLQuantizationType
    shape : tuple[int, ...]
        Logical shape in torch order (GGUF lists dimensions fastest-first; this is reversed).
    raw : np.ndarray
        The stored bytes, read-only, backed by the file's memory map: ``uint8`` blocks for
        quantized types, ``float32``/``float16`` values for plain ones (BF16 as ``uint8``).
    """

    name: str
    ggml_type: GGMLQuantizationType
    shape: tuple[int, ...]
    raw: np.ndarray

    @property
    def type_name(self) -> str:
        return self.ggml_type.name


class GGUFFile:
    """An opened GGUF file: ``metadata(key)``, ``architecture``, ``tensors()``.

    Parameters
    ----------
    path : path
        The ``.gguf`` file.

    Raises
    ------
    CheckpointError
        If the file is missing, is not GGUF (wrong magic), or is truncated or corrupt.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"GGUF file {self.path} does not exist")
        size = self.path.stat().st_size
        with self.path.open("rb") as handle:
            magic = handle.read(4)
        if magic != GGUF_MAGIC:
            raise CheckpointError(
                f"{self.path} is not a GGUF file: it starts with {magic!r}, expected {GGUF_MAGIC!r}"
            )
        try:
            self._reader = _PlainArrayReader(str(self.path))
        except (ValueError, IndexError, KeyError, OverflowError) as exc:
            # The reader slices past the end of a short file and then fails on a view/reshape.
            raise CheckpointError(
                f"{self.path} ({size} bytes) is truncated or corrupt: the gguf reader failed "
                f"with {type(exc).__name__}: {exc}"
            ) from exc
        self._check_tensor_extents(size)
        self._values: dict[str, Any] = {}

    def _check_tensor_extents(self, size: int) -> None:
        for tensor in self._reader.tensors:
            end = int(tensor.data_offset) + int(tensor.n_bytes)
            if end > size or tensor.data.nbytes != int(tensor.n_bytes):
                raise CheckpointError(
                    f"{self.path} is truncated: tensor {tensor.name!r} needs bytes up to {end}, "
                    f"the file has {size}"
                )

    def metadata(self, key: str, default: Any = None) -> Any:
        """The value of metadata ``key`` (str, number, bool, or list), ``default`` if absent.

        Values are decoded once and kept: the 49k-entry token list takes about a second.
        """
        if key in self._values:
            return self._values[key]
        field = self._reader.get_field(key)
        if field is None:
            return default
        if field.types and field.types[0] == GGUFValueType.ARRAY and not field.data:
            value: Any = []
        else:
            value = field.contents()
        self._values[key] = value
        return value

    def has(self, key: str) -> bool:
        return self._reader.get_field(key) is not None

    @property
    def architecture(self) -> str:
        arch = self.metadata("general.architecture")
        if not isinstance(arch, str):
            raise CheckpointError(f"{self.path} has no general.architecture metadata")
        return arch

    @property
    def tensor_names(self) -> list[str]:
        return [t.name for t in self._reader.tensors]

    def tensors(self) -> Iterator[GGUFTensor]:
        """Every tensor in file order, undecoded (see ``GGUFTensor``)."""
        for tensor in self._reader.tensors:
            yield GGUFTensor(
                name=tensor.name,
                ggml_type=GGMLQuantizationType(int(tensor.tensor_type)),
                shape=tuple(int(d) for d in reversed(tensor.shape.tolist())),
                raw=tensor.data,
            )


def find_gguf(path: str | Path) -> Path | None:
    """The GGUF file ``path`` names: the file itself, or the only ``*.gguf`` of a directory
    without config.json; None for a Hugging Face directory."""
    root = Path(path)
    if root.suffix == ".gguf" and not root.is_dir():
        return root
    if not root.is_dir() or (root / "config.json").is_file():
        return None
    files = sorted(root.glob("*.gguf"))
    if len(files) > 1:
        raise CheckpointError(
            f"{root} holds several GGUF files ({', '.join(f.name for f in files)}); "
            "pass the one to load"
        )
    return files[0] if files else None
