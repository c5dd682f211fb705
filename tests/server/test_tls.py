"""TLS and mTLS from certificate files: a client with the CA (and, for mTLS, its own
certificate) is served; a plaintext client or one without a client certificate is not."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from genai_rt.client import Client
from genai_rt.config import ServerConfig
from genai_rt.engine.async_engine import Engine

from tests.server.certs import make_certs
from tests.server.harness import ServerThread

OK = dict(temperature=0.0, max_tokens=2)


def test_mtls(engine: Engine, tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    config = ServerConfig(port=0, tls_cert_file=certs["server"] + ".pem",
                          tls_key_file=certs["server"] + ".key",
                          tls_client_ca_file=certs["ca"] + ".pem")
    thread = ServerThread(config, engine=engine)
    target = f"localhost:{thread.port}"
    try:
        with Client(target, tls_ca_file=certs["ca"] + ".pem",
                    client_cert_file=certs["client"] + ".pem",
                    client_key_file=certs["client"] + ".key", timeout=30) as c:
            assert c.complete("tls", **OK).completions[0].token_ids
            assert c.server_info().tls
        for client in (Client(target, tls_ca_file=certs["ca"] + ".pem", timeout=5),
                       Client(target, timeout=5)):
            with client, pytest.raises(grpc.RpcError) as err:
                client.complete("no client certificate", **OK)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        thread.stop()


def test_config_refuses_half_tls() -> None:
    with pytest.raises(ValueError, match="tls_cert_file and tls_key_file"):
        ServerConfig(tls_cert_file="a.pem")
    with pytest.raises(ValueError, match="mTLS"):
        ServerConfig(tls_client_ca_file="ca.pem")
