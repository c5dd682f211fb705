"""``Engine``: the async API. A background thread owns the EngineCore and runs the step loop;
asyncio callers talk to it through a command queue and get outputs on per-request queues.

The forward runs outside the event loop (torch releases the GIL in its kernels), so many
concurrent callers stay responsive while the engine steps.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from genai_rt.config import EngineConfig
from genai_rt.engine.chat import Conversation, render_chat
from genai_rt.engine.core import EngineCore
from genai_rt.engine.outputs import RequestOutput
from genai_rt.engine.request import PromptInput
from genai_rt.sampling.params import SamplingParams

logger = logging.getLogger(__name__)

# How long the idle loop sleeps between checks for shutdown (it wakes on any command at once).
IDLE_POLL_S = 0.5


@dataclass
class _Stream:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[RequestOutput | BaseException]

    def put(self, item: RequestOutput | BaseException) -> None:
        _call_soon(self.loop, self.queue.put_nowait, item)


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Any, *args: Any) -> None:
    # A caller's loop may be closed already (it exited without waiting for its request):
    # nobody is listening, and the engine thread must not die over it.
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        pass


class Engine:
    """Async front of the engine: many concurrent ``generate`` callers, abort from any task.

    Parameters
    ----------
    config : EngineConfig
    **parts
        Optional pre-built ``model``, ``tokenizer``, ``eos_token_ids`` (see ``EngineCore``).

    Examples
    --------
    >>> engine = Engine(EngineConfig.from_model("path/to/checkpoint"))  # doctest: +SKIP
    >>> async for out in engine.generate("Hello", SamplingParams(max_tokens=8)):  # doctest: +SKIP
    ...     print(out.outputs[0].delta_text, end="")
    """

    def __init__(self, config: EngineConfig | None = None, core: EngineCore | None = None,
                 **parts: Any) -> None:
        if core is None:
            if config is None:
                raise ValueError("Engine needs an EngineConfig (or a pre-built EngineCore)")
            core = EngineCore(config, **parts)
        self.core = core
        self._commands: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._streams: dict[str, _Stream] = {}
        self._ids = itertools.count()
        self._stats: dict[str, float | int] = core.stats()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="genai_rt-engine", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------------------- public API
    async def generate(
        self,
        prompt: PromptInput,
        params: SamplingParams | None = None,
        request_id: str | None = None,
    ) -> AsyncIterator[RequestOutput]:
        """Stream a request's outputs: one per step that changed it, the last with ``finished``.

        Leaving the loop early aborts the request: at once on cancellation or with
        ``contextlib.aclosing``, else when the generator is finalized (asyncio's rule for a
        ``break`` out of ``async for``).

        Raises
        ------
        ValueError
            When the request is refused (see ``EngineCore.add_request``).
        """
        if self._stopped.is_set():
            raise RuntimeError("engine is shut down")
        loop = asyncio.get_running_loop()
        request_id = request_id if request_id is not None else f"req-{next(self._ids)}"
        stream = _Stream(loop, asyncio.Queue())
        accepted: asyncio.Future[None] = loop.create_future()
        self._send("add", request_id, prompt, params, stream, accepted)
        await accepted
        finished = False
        try:
            while True:
                item = await stream.queue.get()
                if isinstance(item, BaseException):
                    finished = True
                    raise item
                finished = item.finished
                yield item
                if finished:
                    return
        finally:
            if not finished:
                self._send("abort", request_id, None)

    async def chat(
        self,
        messages: Conversation,
        params: SamplingParams | None = None,
        request_id: str | None = None,
        add_generation_prompt: bool = True,
        chat_template_kwargs: dict[str, Any] | None = None,
    ) -> AsyncIterator[RequestOutput]:
        """``generate`` for one conversation rendered with the model's chat template.

        Raises
        ------
        ValueError
            Bad messages (the message index and field are named), no chat template, or a
            refused request.
        """
        prompt = render_chat(self.core.tokenizer, messages, add_generation_prompt,
                             **(chat_template_kwargs or {}))
        async for out in self.generate(prompt, params, request_id):
            yield out

    async def abort(self, request_id: str) -> bool:
        """Abort a request from any task; its stream ends with finish_reason "abort".

        Returns True when the request was live.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._send("abort", request_id, (loop, done))
        return await done

    def stats(self) -> dict[str, float | int]:
        """running, waiting, kv_usage, prefix_cache_hit_rate, ... as of the last step."""
        return dict(self._stats)

    def shutdown(self) -> None:
        """Stop the step loop; live requests are aborted."""
        if not self._stopped.is_set():
            self._send("stop")
            self._thread.join()
            self.core.shutdown()

    # ----------------------------------------------------------------------------- the loop
    def _send(self, *command: Any) -> None:
        self._commands.put(command)

    def _run(self) -> None:
        core = self.core
        while not self._stopped.is_set():
            try:
                block = not core.has_unfinished
                command = self._commands.get(block=block, timeout=IDLE_POLL_S if block else None)
            except queue.Empty:
                command = None
            while command is not None:
                try:
                    self._handle(command)
                except Exception:  # keep serving the other callers
                    logger.exception("engine command %r failed", command[0])
                try:
                    command = self._commands.get_nowait()
                except queue.Empty:
                    command = None
            if self._stopped.is_set() or not core.has_unfinished:
                self._stats = core.stats()
                continue
            try:
                outputs = core.step()
            except Exception as exc:  # a failed step must not hang callers: fail them all
                logger.exception("engine step failed; aborting %d requests", len(core.requests))
                self._fail_all(exc)
                continue
            for out in outputs:
                stream = self._streams.get(out.request_id)
                if stream is not None:
                    stream.put(out)
                    if out.finished:
                        del self._streams[out.request_id]
            self._stats = core.stats()
        self._fail_all(RuntimeError("engine shut down"))

    def _handle(self, command: tuple[Any, ...]) -> None:
        kind = command[0]
        if kind == "add":
            _, request_id, prompt, params, stream, accepted = command
            try:
                if request_id in self._streams:
                    raise ValueError(f"request id {request_id!r} is already in use")
                self.core.add_request(request_id, prompt, params)
            except Exception as exc:
                _call_soon(stream.loop, _set_exception, accepted, exc)
                return
            self._streams[request_id] = stream
            _call_soon(stream.loop, _set_result, accepted, None)
        elif kind == "abort":
            _, request_id, reply = command
            out = self.core.abort(request_id)
            stream = self._streams.pop(request_id, None)
            if stream is not None and out is not None:
                stream.put(out)
            if reply is not None:
                loop, done = reply
                _call_soon(loop, _set_result, done, out is not None)
        elif kind == "stop":
            self._stopped.set()

    def _fail_all(self, exc: BaseException) -> None:
        for request_id in list(self.core.requests):
            self.core.abort(request_id)
        for stream in self._streams.values():
            stream.put(exc)
        self._streams.clear()


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
