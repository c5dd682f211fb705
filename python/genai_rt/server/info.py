"""The Info service: what routers ask a replica (model, server, load)."""

from __future__ import annotations

import time
from typing import Any

import grpc

from genai_rt import __version__
from genai_rt.principal import Principal
from genai_rt.proto.v1 import info_pb2 as pb


def model_info(engine: Any, model_name: str) -> pb.ModelInfo:
    core = engine.core
    model = core.model
    cfg = model.config
    tok = core.tokenizer
    return pb.ModelInfo(
        model_id=model_name, path=core.config.model.path, architecture=str(cfg.architecture),
        vocab_size=cfg.vocab_size, max_model_len=core.max_model_len,
        dtype=str(model.embed_tokens.dtype).removeprefix("torch."),
        device=str(core.runner.device), attention_backend=model.backend.name,
        has_chat_template=tok is not None and tok.chat_template is not None,
        eos_token_ids=list(core.eos_token_ids))


class InfoServicer:
    def __init__(self, server: Any) -> None:
        self.server = server  # GrpcServer: engine, config, services, admission
        self.started = time.monotonic()

    async def GetModelInfo(self, request: pb.GetModelInfoRequest,
                           context: grpc.aio.ServicerContext, principal: Principal) -> pb.ModelInfo:
        return model_info(self.server.engine, self.server.model_name)

    async def GetServerInfo(self, request: pb.GetServerInfoRequest,
                            context: grpc.aio.ServicerContext,
                            principal: Principal) -> pb.ServerInfo:
        cfg = self.server.config
        return pb.ServerInfo(
            version=__version__, services=list(self.server.services), tls=cfg.tls,
            auth=self.server.keys is not None, max_queue=cfg.max_queue,
            max_concurrent=cfg.max_concurrent, max_message_bytes=cfg.max_message_bytes,
            uptime_s=time.monotonic() - self.started, draining=self.server.draining)

    async def GetLoad(self, request: pb.GetLoadRequest, context: grpc.aio.ServicerContext,
                      principal: Principal) -> pb.Load:
        return load_of(self.server.engine, self.server.admission.in_flight)


def load_of(engine: Any, in_flight: int) -> pb.Load:
    s = engine.stats()
    return pb.Load(
        running=int(s["running"]), waiting=int(s["waiting"]), in_flight=in_flight,
        kv_usage=float(s["kv_usage"]), kv_blocks_used=int(s["kv_blocks_used"]),
        kv_blocks_total=int(s["kv_blocks_total"]),
        prefix_cache_hit_rate=float(s["prefix_cache_hit_rate"]),
        num_preemptions=int(s["num_preemptions"]))
