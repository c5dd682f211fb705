"""The Governance service: own records only, inclusion proofs that the stdlib verifier accepts,
feedback, and whole-log verification for auditors."""

from __future__ import annotations

import grpc
import pytest
from genai_rt.audit.verifier import verify_proof_document
from genai_rt.client import Client

from tests.server.harness import ServerThread


def test_record_proof_feedback_and_verify(client: Client, server: ServerThread,
                                          keys: dict[str, str]) -> None:
    reply = client.complete("govern me", temperature=0.0, max_tokens=4, request_id="gov-1")
    record = client.audit_record(reply.audit_id)
    assert record["request_id"] == "acme/gov-1" and record["status"] == "ok"
    assert record["principal"]["tenant"] == "acme"
    proof = client.prove(reply.audit_id)
    public_key = server.server.governance.audit.signer.public_key  # type: ignore[union-attr]
    assert verify_proof_document(proof, public_key) == []
    tampered = dict(proof, record=proof["record"].replace("gov-1", "gov-2"))
    assert verify_proof_document(tampered, public_key)
    client.feedback(reply.audit_id, 1, "useful")
    with pytest.raises(grpc.RpcError) as err:
        client.feedback(reply.audit_id, 9)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "rating" in err.value.details()

    with Client(server.target, api_key=keys["other"], timeout=30) as other:  # tenant beta
        for call in (lambda: other.audit_record(reply.audit_id),
                     lambda: other.prove(reply.audit_id)):
            with pytest.raises(grpc.RpcError) as err:
                call()
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as err:
            other.verify_audit()
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with Client(server.target, api_key=keys["auditor"], timeout=60) as auditor:
        report = auditor.verify_audit()
        assert report.ok and report.records >= 1 and not report.problems, report.report


def test_demo_client_runs_every_step(server: ServerThread, http_base: str,
                                     keys: dict[str, str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from genai_rt.server.demo_client import run

    assert run(server.target, http_base, keys["ops"]) == 0
    out = capsys.readouterr().out
    assert "finish length" in out or "finish stop" in out
    assert "-> 0 after the cancel" in out
    assert "OK:" in out and "proof verifies" in out
    assert "genai_rt:num_requests_running" in out
