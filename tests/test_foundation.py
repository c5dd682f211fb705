"""The package, the native module, the generated stubs and the CLI are wired together."""

from __future__ import annotations

import subprocess
import sys

import genai_rt
from genai_rt import _core
from genai_rt.info import collect


def test_native_module_reports_build_facts() -> None:
    assert _core.version() == genai_rt.__version__
    assert isinstance(_core.built_with_cuda, bool)
    count = _core.cuda_device_count()
    assert count >= 0
    if not _core.built_with_cuda:
        assert count == 0


def test_kernels_ship_inside_the_package() -> None:
    import genai_rt.kernels
    import genai_rt.kernels.token_bitmask as token_bitmask

    assert hasattr(token_bitmask, "apply_token_bitmask_ref")
    assert genai_rt.kernels.__name__ == "genai_rt.kernels"


def test_grpc_stubs_are_generated() -> None:
    from genai_rt.proto.v1 import runtime_pb2, runtime_pb2_grpc

    request = runtime_pb2.GenerateRequest(request_id="r1", prompt="hi")
    request.params.json_schema.schema = '{"type": "object"}'  # a message: schema + whitespace
    parsed = runtime_pb2.GenerateRequest.FromString(request.SerializeToString())
    assert parsed.params.WhichOneof("grammar") == "json_schema"
    assert hasattr(runtime_pb2_grpc, "GenerationServicer")


def test_info_reports_every_field() -> None:
    info = collect()
    assert info.version == genai_rt.__version__
    assert info.triton_mode in ("interpreter", "compiled", "compiled (no GPU: kernels cannot run)")
    assert set(info.optional_backends) >= {"flash_attn", "hnswlib", "faiss", "xgrammar"}


def test_cli_info_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "genai_rt.cli", "info"], check=True,
                         capture_output=True, text=True).stdout
    assert "built_with_cuda" in out and "triton_mode" in out
