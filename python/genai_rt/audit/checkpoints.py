"""Signed checkpoints: (tree size, root, time) signed with Ed25519 (the ``cryptography`` package).

A checkpoint commits the log to its first ``tree_size`` records; anyone holding the public key can
check it (``verifier.ed25519_verify`` needs no package at all). The private key is a PEM file made
on first use with mode 0600; replicas that share a log share the key file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from genai_rt.audit.records import utc_now
from genai_rt.audit.verifier import checkpoint_note, ed25519_verify


@dataclass(frozen=True)
class SignedCheckpoint:
    """The log's state at ``tree_size`` records, signed. Hashes and keys are hex."""

    tree_size: int
    root: str
    timestamp: str
    public_key: str
    signature: str

    @property
    def note(self) -> bytes:
        return checkpoint_note(self.tree_size, bytes.fromhex(self.root), self.timestamp)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(bytes.fromhex(self.public_key)).hexdigest()[:16]

    def verify(self, public_key: bytes) -> bool:
        """True when the signature is ``public_key``'s over this checkpoint's note."""
        return ed25519_verify(public_key, self.note, bytes.fromhex(self.signature))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)


class Signer:
    """Signs checkpoints with one Ed25519 key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = _raw_public(key)

    @classmethod
    def load_or_create(cls, path: str | Path) -> Signer:
        """Load the PEM private key at ``path``, creating it (mode 0600) when absent."""
        path = Path(path)
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"audit signing key {path} is not an Ed25519 private key")
            return cls(key)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return cls(key)

    def sign(self, tree_size: int, root: bytes) -> SignedCheckpoint:
        timestamp = utc_now()
        signature = self._key.sign(checkpoint_note(tree_size, root, timestamp))
        return SignedCheckpoint(tree_size, root.hex(), timestamp, self.public_key.hex(),
                                signature.hex())


def load_public_key(text_or_path: str) -> bytes:
    """A raw 32-byte Ed25519 public key from hex, or from a PEM file (public or private)."""
    path = Path(text_or_path)
    if path.is_file():
        data = path.read_bytes()
        if b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None)
            if isinstance(key, Ed25519PrivateKey):
                return _raw_public(key)
            raise ValueError(f"{path} is not an Ed25519 key")
        public = serialization.load_pem_public_key(data)
        return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = bytes.fromhex(text_or_path)
    except ValueError:
        raise ValueError(f"public key {text_or_path!r} is neither a file nor hex") from None
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return raw
