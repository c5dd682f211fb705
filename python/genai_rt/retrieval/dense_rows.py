"""Slot storage the two exact backends share: vectors in one array, ids <-> slots, free slots.

A deleted row's slot is cleared in every allow-bitmap and reused by the next insert, so updates
and deletes never move other rows (and never need a rebuild).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class DenseRows:
    """Vectors [capacity, dim] in float32 or float16, their squared norms, and slot ids."""

    def __init__(self, dim: int, dtype: str, capacity: int = 1024) -> None:
        self.dim = dim
        self.np_dtype = np.dtype(np.float16 if dtype == "float16" else np.float32)
        self.vectors = np.zeros((capacity, dim), dtype=self.np_dtype)
        self.norms = np.zeros(capacity, dtype=np.float32)
        self.slot_ids = np.full(capacity, -1, dtype=np.int64)  # -1: free slot
        self.used = 0  # slots [0, used) have been handed out at least once
        self.free: list[int] = []
        self.slot_of: dict[int, int] = {}
        self.version = 0  # bumped on every change (the GPU backend re-uploads when it moves)

    def __len__(self) -> int:
        return len(self.slot_of)

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        slots = np.empty(len(ids), dtype=np.int64)
        for n, i in enumerate(ids.tolist()):
            slot = self.slot_of.get(i)
            if slot is None:
                slot = self.free.pop() if self.free else self._next_slot()
                self.slot_of[i] = slot
            slots[n] = slot
        stored = vectors.astype(self.np_dtype)
        self.vectors[slots] = stored
        self.norms[slots] = np.einsum("ij,ij->i", stored.astype(np.float32),
                                      stored.astype(np.float32))
        self.slot_ids[slots] = ids
        self.version += 1

    def remove(self, ids: np.ndarray) -> None:
        for i in ids.tolist():
            slot = self.slot_of.pop(i)
            self.slot_ids[slot] = -1
            self.vectors[slot] = 0
            self.free.append(slot)
        self.version += 1

    def allow_bitmap(self, allowed: np.ndarray | None) -> tuple[np.ndarray, int]:
        """(uint32 words over slots [0, used), visible rows): live rows among ``allowed``.

        Bit i of word w is slot 32 w + i, the layout csrc/search and the Triton kernel read.
        """
        live = self.slot_ids[:self.used]
        mask = live >= 0 if allowed is None else np.isin(live, allowed)
        words = -(-self.used // 32)
        packed = np.zeros(words * 4, dtype=np.uint8)
        packed[:(self.used + 7) // 8] = np.packbits(mask, bitorder="little")
        return packed.view("<u4").astype(np.uint32, copy=False), int(mask.sum())

    def save(self, folder: Path) -> None:
        n = self.used
        np.savez(folder / "rows.npz", vectors=self.vectors[:n], slot_ids=self.slot_ids[:n])

    def load(self, folder: Path) -> None:
        with np.load(folder / "rows.npz") as data:
            vectors, slot_ids = data["vectors"], data["slot_ids"]
        live = slot_ids >= 0
        self.upsert(slot_ids[live], vectors[live].astype(np.float32))

    def _next_slot(self) -> int:
        if self.used == len(self.slot_ids):
            grow = max(1024, len(self.slot_ids))
            self.vectors = np.concatenate([self.vectors, np.zeros((grow, self.dim),
                                                                  self.np_dtype)])
            self.norms = np.concatenate([self.norms, np.zeros(grow, np.float32)])
            self.slot_ids = np.concatenate([self.slot_ids, np.full(grow, -1, np.int64)])
        self.used += 1
        return self.used - 1


class DenseRowsIndex:
    """What both exact indexes answer from their ``DenseRows`` alone (mixed in before
    ``VectorIndex``): size, membership, ids, insert and delete."""

    rows: DenseRows

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, item: object) -> bool:
        return item in self.rows.slot_of

    def ids(self) -> np.ndarray:
        return np.fromiter(self.rows.slot_of, dtype=np.int64, count=len(self.rows))

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.rows.upsert(ids, vectors)

    def _delete(self, ids: np.ndarray) -> None:
        self.rows.remove(ids)
