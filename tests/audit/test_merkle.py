"""RFC 6962 hashing, proofs, and the standalone verifier (stdlib only)."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from genai_rt.audit import AuditLog, verifier
from genai_rt.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    tree_root,
)

from tests.audit.helpers import make_record

# Certificate Transparency's test vectors (certificate-transparency-go, merkle tree tests).
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
             bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]
CT_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
LEAVES = [leaf_hash(f"record {i}".encode()) for i in range(37)]


def test_roots_match_certificate_transparency_vectors() -> None:
    hashes = [leaf_hash(d) for d in CT_LEAVES]
    assert tree_root([]) == EMPTY_ROOT
    for size, root in CT_ROOTS.items():
        assert tree_root(hashes[:size]).hex() == root


def test_frontier_appends_give_the_same_root_and_round_trip() -> None:
    frontier = Frontier()
    for n, leaf in enumerate(LEAVES, start=1):
        frontier.append(leaf)
        assert frontier.root() == tree_root(LEAVES[:n])
        again = Frontier.from_bytes(n, frontier.to_bytes())
        assert again.root() == frontier.root()
    with pytest.raises(ValueError, match="subtree roots"):
        Frontier(3, [LEAVES[0]])


def test_every_inclusion_proof_verifies_and_a_wrong_one_does_not() -> None:
    for n in range(1, len(LEAVES) + 1):
        root = tree_root(LEAVES[:n])
        for m in range(n):
            proof = inclusion_proof(m, LEAVES[:n])
            assert verifier.verify_inclusion(LEAVES[m], m, n, proof, root)
            other = (m + 1) % n
            if other != m:  # the same path does not prove another leaf, nor another position
                assert not verifier.verify_inclusion(LEAVES[other], m, n, proof, root)
                assert not verifier.verify_inclusion(LEAVES[m], other, n, proof, root)
            if proof:
                bent = [proof[0][:-1] + bytes([proof[0][-1] ^ 1])] + proof[1:]
                assert not verifier.verify_inclusion(LEAVES[m], m, n, bent, root)
    assert not verifier.verify_inclusion(LEAVES[0], 5, 5, [], LEAVES[0])


def test_every_consistency_proof_verifies_and_a_forked_log_does_not() -> None:
    forked = LEAVES[:5] + [leaf_hash(b"forged")] + LEAVES[6:]
    for n in range(1, len(LEAVES) + 1):
        root = tree_root(LEAVES[:n])
        for m in range(n + 1):
            proof = consistency_proof(m, LEAVES[:n])
            assert verifier.verify_consistency(m, n, tree_root(LEAVES[:m]), root, proof)
            if m > 5:  # the earlier tree held record 5; the later one replaced it
                assert not verifier.verify_consistency(
                    m, n, tree_root(LEAVES[:m]), tree_root(forked[:n]),
                    consistency_proof(m, forked[:n]))
    assert not verifier.verify_consistency(4, 3, LEAVES[0], LEAVES[0], [])


def test_pure_python_ed25519_agrees_with_cryptography() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    message = verifier.checkpoint_note(12, LEAVES[3], "2026-01-01T00:00:00+00:00")
    signature = key.sign(message)
    assert verifier.ed25519_verify(public, message, signature)
    assert not verifier.ed25519_verify(public, message + b"x", signature)
    assert not verifier.ed25519_verify(public, message, signature[:-1] + bytes([signature[-1] ^ 1]))
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert not verifier.ed25519_verify(other, message, signature)


def test_verifier_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(verifier.__file__).read_text())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree)
               if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert modules - {"__future__"} <= set(sys.stdlib_module_names), modules


def test_verifier_script_runs_alone_on_a_proof(tmp_path: Path, audit_log: AuditLog) -> None:
    pending = [audit_log.append(make_record(i)) for i in range(11)]
    doc = audit_log.prove(pending[6].record_id)
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(json.dumps(doc))
    script = tmp_path / "standalone" / "verifier.py"
    script.parent.mkdir()
    shutil.copy(verifier.__file__, script)
    # -I: isolated mode, no site-packages and no genai_rt on the path.
    run = subprocess.run([sys.executable, "-I", "-S", str(script), str(proof_file),
                          audit_log.signer.public_key.hex()], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"leaf {doc['index']}" in run.stdout
    doc["record"] = doc["record"].replace('"r6"', '"r7"')
    proof_file.write_text(json.dumps(doc))
    run = subprocess.run([sys.executable, "-I", "-S", str(script), str(proof_file)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "does not hash" in run.stdout
