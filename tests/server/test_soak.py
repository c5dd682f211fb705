"""Soak: 64 concurrent streams with random cancels and deadlines for SOAK_SECONDS.

Every completed stream's tokens equal an in-process run with the same parameters (seeded), a
cancelled one's are a prefix of it (nothing lost or duplicated); no KV block leaks; the
process's RSS grows by under 5% between the warm-up and the end.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from pathlib import Path

import grpc
import psutil
import pytest
from genai_rt.client import AsyncClient, Client
from genai_rt.engine import LLM, EngineCore
from genai_rt.sampling import SamplingParams

from tests.server.harness import ServerThread, engine_config
from tests.server.test_generation import wait_idle

SOAK_SECONDS = 30.0
ids_sent: list[str] = []
STREAMS = 64


def _request(rng: random.Random, i: int) -> tuple[str, dict[str, object], str]:
    prompt = "".join(rng.choice("abcdefgh ") for _ in range(rng.randint(3, 24)))
    params: dict[str, object] = dict(max_tokens=rng.randint(4, 40), ignore_eos=True, seed=i,
                                     temperature=rng.choice([0.0, 0.8]))
    fate = rng.choices(["finish", "cancel", "deadline"], weights=[6, 2, 1])[0]
    return prompt, params, fate


async def _worker(client: AsyncClient, rng: random.Random, stop_at: float, first_id: int,
                  log: list[tuple[str, dict[str, object], str, list[int], bool]],
                  phase: str) -> None:
    i = first_id
    while time.monotonic() < stop_at:
        prompt, params, fate = _request(rng, i)
        i += 1000
        timeout = rng.uniform(0.05, 0.5) if fate == "deadline" else 60.0
        call = client.generate(prompt, timeout=timeout, request_id=f"{phase}-{i}", **params)
        ids: list[int] = []
        finished = False
        cancel_after = rng.randint(1, 5)
        try:
            async for msg in call:
                ids.extend(msg.delta_token_ids)
                finished = msg.finished
                if fate == "cancel" and len(ids) >= cancel_after:
                    call.cancel()
                    break
        except grpc.aio.AioRpcError as err:
            assert err.code() in (grpc.StatusCode.DEADLINE_EXCEEDED,
                                  grpc.StatusCode.CANCELLED), err
        log.append((prompt, params, fate, ids, finished))
        ids_sent.append(f"{phase}-{i}")


@pytest.mark.slow
def test_soak_64_streams(server: ServerThread, keys: dict[str, str], client: Client,
                         chat_model: Path) -> None:
    proc = psutil.Process()
    log: list[tuple[str, dict[str, object], str, list[int], bool]] = []

    async def run(seconds: float, phase: str) -> None:
        async with AsyncClient(server.target, api_key=keys["gen"]) as c:
            stop_at = time.monotonic() + seconds
            await asyncio.gather(*(_worker(c, random.Random(w), stop_at, w, log, phase)
                                   for w in range(STREAMS)))

    asyncio.run(run(3.0, "warmup"))  # allocator pools, grpc buffers
    wait_idle(client)
    rss_start = proc.memory_info().rss
    log.clear()
    ids_sent.clear()
    asyncio.run(run(SOAK_SECONDS, "soak"))
    wait_idle(client)
    rss_end = proc.memory_info().rss
    assert len(log) >= STREAMS
    assert rss_end < rss_start * 1.05, (rss_start, rss_end)

    # Exactly one audit record per request, whatever its end.
    audit = server.server.governance.audit  # type: ignore[union-attr]
    audit.flush()
    records = Counter(json.loads(body)["record"]["request_id"]
                      for _, _, body, _ in audit.store.rows())
    soak = {rid: n for rid, n in records.items() if rid.startswith("acme/soak-")}
    # A request whose deadline passed before the server started its handler never reached
    # the service (gRPC answers DEADLINE_EXCEEDED itself): at most one record for those.
    for (_, _, fate, ids, _), rid in zip(log, ids_sent, strict=True):
        count = soak.get(f"acme/{rid}", 0)
        if fate == "deadline" and not ids:
            assert count <= 1, rid
        else:
            assert count == 1, (rid, fate, len(ids), count)
    assert len(soak) >= len(log) * 0.8

    # Replay in process, with the same parameters and seeds.
    llm = LLM.from_engine(EngineCore(engine_config(chat_model)))
    outs = llm.generate([p for p, *_ in log], [SamplingParams(**o) for _, o, *_ in log])
    completed = 0
    for (prompt, params, fate, ids, finished), out in zip(log, outs, strict=True):
        expected = out.outputs[0].token_ids
        if finished:
            completed += 1
            assert ids == expected, (prompt, params)
        else:
            assert ids == expected[:len(ids)], (prompt, params, fate)
    assert completed >= len(log) // 2
