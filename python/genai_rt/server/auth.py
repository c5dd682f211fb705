"""API keys: salted SHA-256 hashes in a JSON file, each mapped to a principal.

Keys are 256 random bits (``secrets.token_urlsafe(32)``), so a fast salted hash is enough: a
slow KDF protects guessable passwords, and nobody guesses 2**256 (GitHub tokens work the same
way). Every stored hash is compared on every check with ``hmac.compare_digest`` and no early
exit, so the time a check takes does not depend on which key, if any, matched.

File format (``genai-rt keys add`` writes it)::

    {"keys": [{"name": "hr-app", "salt": "<hex>", "sha256": "<hex>",
               "tenant": "acme", "roles": ["hr"], "user": "hr-app"}]}
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genai_rt.principal import Principal

# Callers without a key file configured all act as this tenant.
ANONYMOUS = Principal("default", frozenset({"*"}), "anonymous")


class AuthError(Exception):
    """No key, or one that matches nothing (UNAUTHENTICATED / HTTP 401)."""


def _digest(salt: bytes, key: str) -> bytes:
    return hashlib.sha256(salt + key.encode("utf-8")).digest()


@dataclass(frozen=True)
class _StoredKey:
    name: str
    salt: bytes
    digest: bytes
    principal: Principal


class ApiKeyStore:
    """The keys of one file. ``authenticate(key) -> Principal`` or ``AuthError``."""

    def __init__(self, entries: list[_StoredKey]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, path: str | Path) -> ApiKeyStore:
        """Read a key file; a malformed one raises ``ValueError`` naming the entry and field."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"api_keys_file {path}: {err}") from None
        raw = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(raw, list):
            raise ValueError(f"api_keys_file {path}: expected {{\"keys\": [...]}}")
        entries = []
        for i, item in enumerate(raw):
            try:
                entries.append(_StoredKey(
                    name=str(item.get("name", f"key-{i}")),
                    salt=bytes.fromhex(item["salt"]),
                    digest=bytes.fromhex(item["sha256"]),
                    principal=Principal(item["tenant"], frozenset(item.get("roles", [])),
                                        str(item.get("user", item.get("name", "")))),
                ))
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                raise ValueError(f"api_keys_file {path}: keys[{i}] is invalid: {err!r}") from None
        return cls(entries)

    def authenticate(self, key: str | None) -> Principal:
        if not key:
            raise AuthError("missing API key: send 'authorization: Bearer <key>'")
        found: Principal | None = None
        for entry in self._entries:  # all of them, always: no timing hint of which one matched
            if hmac.compare_digest(_digest(entry.salt, key), entry.digest):
                found = entry.principal
        if found is None:
            raise AuthError("invalid API key")
        return found

    def __len__(self) -> int:
        return len(self._entries)


def add_key(path: str | Path, tenant: str, roles: list[str], name: str, user: str = "") -> str:
    """Append a new key for ``tenant``/``roles`` to ``path`` (created if absent); returns the key.

    The key itself is never stored: only its salt and salted hash.
    """
    Principal(tenant, frozenset(roles))  # validate before writing
    file = Path(path)
    data: dict[str, Any] = json.loads(file.read_text()) if file.exists() else {"keys": []}
    key = "grt-" + secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    data["keys"].append({
        "name": name, "salt": salt.hex(), "sha256": _digest(salt, key).hex(),
        "tenant": tenant, "roles": sorted(roles), "user": user or name,
    })
    tmp = file.with_suffix(file.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.chmod(tmp, 0o600)
    tmp.replace(file)
    return key


def bearer_token(value: str | None) -> str | None:
    """The key of an ``authorization`` header value ``Bearer <key>``; None when absent."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("authorization must be 'Bearer <key>'")
    return token.strip()
