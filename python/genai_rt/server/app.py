"""``GrpcServer``: one process serving one engine over gRPC (and HTTP when configured).

Lifecycle: ``start()`` binds the port with health NOT_SERVING -> ``load()`` builds the engine
off the event loop, then SERVING -> ``drain()`` (on SIGTERM): NOT_SERVING, new calls get
UNAVAILABLE, in-flight requests get ``drain_grace_s`` to finish, then are aborted -> ``stop()``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from genai_rt.config import AuditConfig, EngineConfig, ServerConfig
from genai_rt.engine.async_engine import Engine
from genai_rt.proto.v1 import assistant_pb2, governance_pb2, info_pb2, retrieval_pb2, runtime_pb2
from genai_rt.server.admission import Admission
from genai_rt.server.assistant_service import AssistantServicer, audit_hook
from genai_rt.server.auth import ApiKeyStore
from genai_rt.server.front import EngineFront
from genai_rt.server.generation import GenerationServicer
from genai_rt.server.governance import Governance
from genai_rt.server.governance_service import GovernanceServicer
from genai_rt.server.info import InfoServicer
from genai_rt.server.retrieval_service import RetrievalServicer
from genai_rt.server.rpc import add_servicer

logger = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def grpc_options(config: ServerConfig) -> list[tuple[str, int]]:
    keepalive_ms = int(config.keepalive_time_s * 1000)
    return [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.keepalive_time_ms", keepalive_ms),
        ("grpc.keepalive_timeout_ms", int(config.keepalive_timeout_s * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        # Accept client pings as often as we send ours; a client pinging faster gets GOAWAY.
        ("grpc.http2.min_ping_interval_without_data_ms", max(keepalive_ms // 2, 1000)),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def server_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    if not config.tls:
        return None
    assert config.tls_cert_file is not None and config.tls_key_file is not None
    pair = (Path(config.tls_key_file).read_bytes(), Path(config.tls_cert_file).read_bytes())
    if config.tls_client_ca_file is None:
        return grpc.ssl_server_credentials([pair])
    return grpc.ssl_server_credentials(
        [pair], root_certificates=Path(config.tls_client_ca_file).read_bytes(),
        require_client_auth=True)


class GrpcServer:
    """The gRPC server around one ``Engine``.

    Parameters
    ----------
    config : ServerConfig
    engine_config : EngineConfig | None
        What ``load()`` builds; not needed when ``engine`` is given.
    engine : Engine | None
        A ready engine (tests, embedding); ``load()`` then only flips health to SERVING.
    audit_config : AuditConfig | None
        The audit log, metrics (and budgets with ``config.prices_file``); None: no audit.
    store : DocumentStore | None
        A ready grounding store (tests); else ``load()`` opens ``config.store_url`` if set.
    """

    def __init__(self, config: ServerConfig, engine_config: EngineConfig | None = None,
                 engine: Engine | None = None, audit_config: AuditConfig | None = None,
                 store: Any = None) -> None:
        if engine is None and engine_config is None:
            raise ValueError("GrpcServer needs an engine_config or an engine")
        self.config = config
        self.engine_config = engine_config
        self.engine: Any = engine
        path = engine.core.config.model.path if engine is not None else engine_config.model.path  # type: ignore[union-attr]
        self.model_name = config.model_name or Path(path).name
        self.keys = ApiKeyStore.load(config.api_keys_file) if config.api_keys_file else None
        self.ready = False
        self.draining = False
        self.admission = Admission(config.max_concurrent, config.max_queue)
        self.front: EngineFront | None = None
        self.audit_config = audit_config
        self.governance: Governance | None = None
        self.store: Any = store
        self._owns_store = store is None
        self.pipeline: Any = None
        self.health = health.aio.HealthServicer()
        self.server = grpc.aio.server(options=grpc_options(config))
        self.generation = GenerationServicer(self)
        self.assistant = AssistantServicer(self)
        self.services = [
            add_servicer(self.server, self, runtime_pb2.DESCRIPTOR.services_by_name["Generation"],
                         self.generation),
            add_servicer(self.server, self, info_pb2.DESCRIPTOR.services_by_name["Info"],
                         InfoServicer(self)),
            add_servicer(self.server, self,
                         governance_pb2.DESCRIPTOR.services_by_name["Governance"],
                         GovernanceServicer(self)),
            add_servicer(self.server, self, assistant_pb2.DESCRIPTOR.services_by_name["Assistant"],
                         self.assistant),
            add_servicer(self.server, self,
                         retrieval_pb2.DESCRIPTOR.services_by_name["Retrieval"],
                         RetrievalServicer(self)),
        ]
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [*self.services, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server)
        self.port = 0
        self._vocabulary: Any = None
        self.stopped = asyncio.Event()
        self.on_ready: list[Callable[[], Any]] = []

    def decode_token(self, token_id: int) -> str:
        """One token's text (special tokens kept), for logprob tables."""
        tok = self.engine.core.tokenizer
        return str(tok.decode([token_id], skip_special_tokens=False)) if tok else str(token_id)

    def vocabulary(self) -> Any:
        """The grammar Vocabulary of the served model (built once, for tool-call grammars)."""
        if self._vocabulary is None:
            from genai_rt.sampling.vocabulary import Vocabulary

            tok = self.engine.core.tokenizer
            self._vocabulary = Vocabulary.from_tokenizer(
                getattr(tok, "backend", tok), vocab_size=self.engine.core.vocab_size)
        return self._vocabulary

    async def _set_health(self, status: int) -> None:
        for name in ("", *self.services):
            await self.health.set(name, status)

    async def start(self) -> int:
        """Bind and start answering (health NOT_SERVING until ``load``); returns the port."""
        await self._set_health(NOT_SERVING)
        address = f"{self.config.host}:{self.config.port}"
        creds = server_credentials(self.config)
        if creds is None:
            self.port = self.server.add_insecure_port(address)
        else:
            self.port = self.server.add_secure_port(address, creds)
        await self.server.start()
        logger.info("gRPC listening on %s:%d (%s)", self.config.host, self.port,
                    "TLS" if creds else "plaintext")
        return self.port

    async def load(self, progress: Callable[[str], None] | None = None) -> None:
        """Build the engine (in a worker thread, so health keeps answering), then SERVING."""
        if self.engine is None:
            t0 = time.perf_counter()
            if progress:
                progress(f"loading {self.engine_config.model.path}")  # type: ignore[union-attr]
            self.engine = await asyncio.to_thread(Engine, self.engine_config)
            if progress:
                progress(f"model loaded in {time.perf_counter() - t0:.1f} s")
        if self.audit_config is not None:
            self.governance = await asyncio.to_thread(
                Governance, self.audit_config, self.engine, self.model_name,
                self.config.prices_file)
        self.front = EngineFront(self.engine, self.admission, self.governance)
        await asyncio.to_thread(self._open_pipeline, progress)
        for hook in self.on_ready:
            hook()
        self.ready = True
        await self._set_health(SERVING)

    def _open_pipeline(self, progress: Callable[[str], None] | None) -> None:
        """The document store (``store_url``) and the pipeline over it (``pipeline_config``)."""
        if self.store is None and self.config.store_url is not None:
            from genai_rt.config import StoreConfig
            from genai_rt.retrieval import DocumentStore

            self.store = DocumentStore(StoreConfig(url=self.config.store_url))
            if progress:
                progress(f"document store {self.config.store_url}: {len(self.store)} chunks")
        if self.config.pipeline_config is None:
            return
        if self.store is None:
            raise ValueError("pipeline_config needs a document store (store_url)")
        from genai_rt.pipeline import Pipeline, PipelineConfig, ReviewQueue
        from genai_rt.pipeline.store_adapter import GroundingStore

        config = PipelineConfig.load(self.config.pipeline_config)
        queue = ReviewQueue(self.config.review_queue or config.resolve(config.review_queue))
        self.pipeline = Pipeline(
            config, self.engine, GroundingStore(self.store, config.classifications),
            embedder=self.store.embedder, review_queue=queue,
            on_record=audit_hook(self.governance) if self.governance is not None else None)
        if progress:
            progress(f"assistant pipeline from {self.config.pipeline_config} "
                     f"({len(config.intents)} intents)")

    async def drain(self) -> None:
        """Stop admitting, let in-flight requests finish within the grace period, then stop."""
        if self.draining:
            return
        self.draining = True
        self.admission.start_drain()
        await self._set_health(NOT_SERVING)
        logger.info("draining: %d in flight, grace %.1f s", self.admission.in_flight,
                    self.config.drain_grace_s)
        if not await self.admission.wait_idle(self.config.drain_grace_s):
            aborted = await self.front.abort_all() if self.front is not None else 0
            logger.warning("drain grace period over: aborted %d requests", aborted)
            await self.admission.wait_idle(5.0)
        await self.stop()

    async def stop(self) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace=1.0)
        if self.governance is not None:  # flush the audit log and sign a final checkpoint
            await asyncio.to_thread(self.governance.close)
        if self.pipeline is not None:
            self.pipeline.review_queue.close()
        if self.store is not None and self._owns_store:
            await asyncio.to_thread(self.store.close)
        if self.engine is not None and self.engine_config is not None:
            await asyncio.to_thread(self.engine.shutdown)  # only an engine we built
        self.stopped.set()
