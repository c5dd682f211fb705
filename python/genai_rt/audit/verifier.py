"""Standalone verifier for genai_rt audit proofs: Python standard library only.

An outside party can copy this one file and check, without genai_rt or any package installed:

- that a record is in the log (an RFC 6962 inclusion proof against a signed checkpoint);
- that the log only grew between two checkpoints (an RFC 6962 consistency proof);
- the checkpoint's Ed25519 signature (RFC 8032, pure Python; slow, ~10 ms, but dependency-free).

Hashing is Certificate Transparency's (RFC 6962 section 2.1): a leaf is SHA-256(0x00 || data),
an interior node SHA-256(0x01 || left || right). The verification algorithms are RFC 9162's
(sections 2.1.3.2 and 2.1.4.2).

Usage: ``python verifier.py PROOF.json [PUBLIC_KEY_HEX]`` where PROOF.json is the output of
``genai-rt audit prove ID`` or ``genai-rt audit consistency N M``; exits 0 when every check
passes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
CHECKPOINT_ORIGIN = "genai_rt audit log v1"


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _shift_while_even(fn: int, sn: int) -> tuple[int, int]:
    while not fn & 1 and fn != 0:
        fn >>= 1
        sn >>= 1
    return fn, sn


def root_from_inclusion_proof(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root implied by an inclusion proof (RFC 9162 2.1.3.2); None when the proof's shape
    cannot belong to a tree of ``tree_size`` leaves."""
    if not 0 <= index < tree_size:
        return None
    fn, sn = index, tree_size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                fn, sn = _shift_while_even(fn, sn)
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree with ``root``."""
    return root_from_inclusion_proof(leaf, index, tree_size, proof) == root


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """True when ``proof`` shows the tree of ``size1`` leaves is a prefix of the one of ``size2``
    (RFC 9162 2.1.4.2)."""
    if size1 < 0 or size2 < size1:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0:
        return not proof  # the empty tree is a prefix of every tree
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: its root is the first subtree
        path.insert(0, root1)
    if not path:
        return False
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                fn, sn = _shift_while_even(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2


def checkpoint_note(tree_size: int, root: bytes, timestamp: str) -> bytes:
    """The exact bytes a checkpoint signs (a C2SP-style signed note body)."""
    root_b64 = base64.b64encode(root).decode()
    return f"{CHECKPOINT_ORIGIN}\n{tree_size}\n{root_b64}\n{timestamp}\n".encode()


# ----------------------------------------------------------------------------------- Ed25519
# RFC 8032 section 6's reference verification, in extended coordinates (x, y, z, t).
_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_Q = 2**252 + 27742317777372353535851937790883648493
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
Point = tuple[int, int, int, int]


def _add(a: Point, b: Point) -> Point:
    x = (a[1] - a[0]) * (b[1] - b[0]) % _P
    y = (a[1] + a[0]) * (b[1] + b[0]) % _P
    c = 2 * a[3] * b[3] * _D % _P
    d = 2 * a[2] * b[2] % _P
    e, f, g, h = y - x, d - c, d + c, y + x
    return e * f, g * h, f * g, e * h


def _mul(s: int, point: Point) -> Point:
    acc: Point = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            acc = _add(acc, point)
        point = _add(point, point)
        s >>= 1
    return acc


def _equal(a: Point, b: Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 % _P == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    return _P - x if (x & 1) != sign else x


def _decompress(data: bytes) -> Point | None:
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
assert _GX is not None
_G: Point = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 Ed25519 signature check over raw 32-byte public key and 64-byte signature."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decompress(public_key)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little")
    return _equal(_mul(s, _G), _add(r, _mul(h % _Q, a)))


# ----------------------------------------------------------------------------------- proofs
def verify_proof_document(doc: dict, public_key: bytes | None = None) -> list[str]:  # type: ignore[type-arg]
    """Check a ``genai-rt audit prove`` document; returns the failures (empty: all good).

    The record's leaf hash is recomputed from its body, the inclusion proof is checked against
    the checkpoint's root, and the checkpoint's signature against ``public_key`` (the key you
    trust; the document's own key is used only when none is given).
    """
    failures = []
    body = doc["record"].encode()
    leaf = leaf_hash(body)
    if leaf.hex() != doc["leaf_hash"]:
        failures.append("the record body does not hash to the stated leaf hash")
    cp = doc["checkpoint"]
    root = bytes.fromhex(cp["root"])
    proof = [bytes.fromhex(h) for h in doc["inclusion_proof"]]
    if not verify_inclusion(leaf, doc["index"], cp["tree_size"], proof, root):
        failures.append(f"the inclusion proof for index {doc['index']} does not lead to the "
                        f"checkpoint root at tree size {cp['tree_size']}")
    key = public_key if public_key is not None else bytes.fromhex(cp["public_key"])
    note = checkpoint_note(cp["tree_size"], root, cp["timestamp"])
    if not ed25519_verify(key, note, bytes.fromhex(cp["signature"])):
        failures.append("the checkpoint signature does not verify with the public key")
    return failures


def verify_consistency_document(doc: dict, public_key: bytes | None = None) -> list[str]:  # type: ignore[type-arg]
    """Check a ``genai-rt audit consistency`` document: both checkpoints' signatures and that
    the first tree is a prefix of the second. Returns the failures (empty: all good)."""
    failures = []
    first, second = doc["first"], doc["second"]
    for cp in (first, second):
        key = public_key if public_key is not None else bytes.fromhex(cp["public_key"])
        note = checkpoint_note(cp["tree_size"], bytes.fromhex(cp["root"]), cp["timestamp"])
        if not ed25519_verify(key, note, bytes.fromhex(cp["signature"])):
            failures.append(f"the checkpoint at tree size {cp['tree_size']} is not signed by "
                            f"the public key")
    proof = [bytes.fromhex(h) for h in doc["consistency_proof"]]
    if not verify_consistency(first["tree_size"], second["tree_size"],
                              bytes.fromhex(first["root"]), bytes.fromhex(second["root"]), proof):
        failures.append(f"the tree of {first['tree_size']} records is not a prefix of the tree "
                        f"of {second['tree_size']}: the log was rewritten")
    return failures


def main(argv: Sequence[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        doc = json.load(f)
    key = bytes.fromhex(argv[1]) if len(argv) == 2 else None
    if "consistency_proof" in doc:
        failures = verify_consistency_document(doc, key)
        ok = (f"OK: the signed tree of {doc['first']['tree_size']} records is a prefix of the "
              f"signed tree of {doc['second']['tree_size']}")
    else:
        failures = verify_proof_document(doc, key)
        ok = (f"OK: record {doc['record_id']} is leaf {doc['index']} of the signed tree of "
              f"{doc['checkpoint']['tree_size']} records")
    for failure in failures:
        print(f"FAIL: {failure}")
    print(ok if not failures else f"{len(failures)} checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
