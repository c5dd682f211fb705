"""The RFC 6962 Merkle tree over audit records: roots, inclusion and consistency proofs.

Appends keep only the *frontier*: the roots of the perfect subtrees that make up the tree, one per
set bit of its size, largest first (a "compact range"). Appending a leaf is a binary carry:
O(log n) hashes, and the root is those roots folded right to left. Proofs are built from the
stored leaf hashes (RFC 6962 2.1.1 / 2.1.2) and checked by ``verifier`` (the same hashing).
"""

from __future__ import annotations

from collections.abc import Sequence

from genai_rt.audit.verifier import leaf_hash, node_hash

HASH_SIZE = 32
EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

__all__ = [
    "EMPTY_ROOT", "Frontier", "consistency_proof", "inclusion_proof", "leaf_hash", "node_hash",
    "tree_root",
]


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): RFC 6962's k."""
    return 1 << ((n - 1).bit_length() - 1)


def tree_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes (SHA-256 of the empty string for no leaves)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(tree_root(leaves[:k]), tree_root(leaves[k:]))


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf ``index`` in the tree over ``leaves``."""
    n = len(leaves)
    if not 0 <= index < n:
        raise IndexError(f"leaf index {index} is outside a tree of {n} leaves")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return inclusion_proof(index, leaves[:k]) + [tree_root(leaves[k:])]
    return inclusion_proof(index - k, leaves[k:]) + [tree_root(leaves[:k])]


def consistency_proof(size1: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): shows the tree of the first ``size1`` leaves is a prefix of all of them."""
    n = len(leaves)
    if not 0 <= size1 <= n:
        raise ValueError(f"cannot prove consistency of size {size1} with a tree of {n} leaves")
    if size1 in (0, n):
        return []
    return _subproof(size1, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [tree_root(leaves)]
    k = _split(n)
    if m <= k:
        return _subproof(m, leaves[:k], complete) + [tree_root(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [tree_root(leaves[:k])]


class Frontier:
    """The perfect-subtree roots of a tree of ``size`` leaves; enough to append and take roots.

    Serialized as the concatenated 32-byte hashes (their heights follow from ``size``'s bits),
    which is what the store keeps in its tree-head row.
    """

    __slots__ = ("size", "hashes")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError(f"a frontier of size {size} has {bin(size).count('1')} subtree "
                             f"roots, got {len(hashes)}")
        self.size = size
        self.hashes = list(hashes)

    @classmethod
    def from_bytes(cls, size: int, blob: bytes) -> Frontier:
        if len(blob) % HASH_SIZE:
            raise ValueError(f"frontier blob of {len(blob)} bytes is not a multiple of 32")
        return cls(size, [blob[i:i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)])

    def to_bytes(self) -> bytes:
        return b"".join(self.hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash: merge equal-height subtrees like a binary carry."""
        self.hashes.append(leaf)
        size = self.size
        while size & 1:  # each trailing one bit of the old size is a subtree to merge
            right = self.hashes.pop()
            self.hashes[-1] = node_hash(self.hashes[-1], right)
            size >>= 1
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root
