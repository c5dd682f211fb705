"""``LLM``: the synchronous batch API (vLLM's offline shape)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from genai_rt.config import EngineConfig
from genai_rt.engine.chat import Conversation, is_single_conversation, render_chat
from genai_rt.engine.core import EngineCore
from genai_rt.engine.outputs import RequestOutput
from genai_rt.engine.request import PromptInput
from genai_rt.sampling.params import SamplingParams


class LLM:
    """Generate for a list of prompts at once, with continuous batching underneath.

    Parameters
    ----------
    model : str
        A local Hugging Face checkpoint directory.
    **overrides
        Any ``EngineConfig`` field (``dtype``, ``max_model_len``, ``num_gpu_blocks``,
        ``max_num_seqs``, ``enable_prefix_caching``, ...).

    Examples
    --------
    >>> llm = LLM("path/to/checkpoint", dtype="float32")  # doctest: +SKIP
    >>> outs = llm.generate(["Hello"], SamplingParams(max_tokens=8))  # doctest: +SKIP
    >>> outs[0].outputs[0].text  # doctest: +SKIP
    """

    def __init__(self, model: str, **overrides: Any) -> None:
        self.engine = EngineCore(EngineConfig.from_model(model, **overrides))
        self._ids = itertools.count()

    @classmethod
    def from_engine(cls, engine: EngineCore) -> LLM:
        """Wrap an existing core (tests build one around a pre-loaded model)."""
        llm = cls.__new__(cls)
        llm.engine = engine
        llm._ids = itertools.count()
        return llm

    @property
    def tokenizer(self) -> Any:
        return self.engine.tokenizer

    def generate(
        self,
        prompts: PromptInput | Sequence[PromptInput],
        sampling_params: SamplingParams | Sequence[SamplingParams] | None = None,
    ) -> list[RequestOutput]:
        """Run every prompt to completion; outputs in the prompts' order.

        Parameters
        ----------
        prompts : str | list[int] | dict | list of those
            Text, token ids, or ``{"prompt_token_ids": [...]}``; a single prompt is allowed.
        sampling_params : SamplingParams | list[SamplingParams] | None
            One for all prompts, or one per prompt.
        """
        prompt_list: list[Any]
        if not isinstance(prompts, (list, tuple)) or (
            prompts and isinstance(prompts[0], (int, float))
        ):
            # one prompt: text, a dict, ids, or something the core refuses with a clear error
            prompt_list = [prompts]
        else:
            prompt_list = list(prompts)
        if isinstance(sampling_params, Sequence):
            params_list = list(sampling_params)
            if len(params_list) != len(prompt_list):
                raise ValueError(f"got {len(params_list)} SamplingParams for "
                                 f"{len(prompt_list)} prompts")
        else:
            params_list = [sampling_params or SamplingParams()] * len(prompt_list)
        ids: list[str] = []
        finished: dict[str, RequestOutput] = {}
        try:
            for prompt, params in zip(prompt_list, params_list, strict=True):
                request_id = f"llm-{next(self._ids)}"
                self.engine.add_request(request_id, prompt, params, stream=False)
                ids.append(request_id)
            pending = set(ids)
            while pending:
                for out in self.engine.step():
                    if out.finished:
                        finished[out.request_id] = out
                        pending.discard(out.request_id)
        finally:
            for request_id in ids:  # on error: free every block of what was started
                if request_id not in finished:
                    self.engine.abort(request_id)
        return [finished[request_id] for request_id in ids]

    def chat(
        self,
        messages: Conversation | Sequence[Conversation],
        sampling_params: SamplingParams | Sequence[SamplingParams] | None = None,
        add_generation_prompt: bool = True,
        chat_template_kwargs: dict[str, Any] | None = None,
    ) -> list[RequestOutput]:
        """Answer one conversation, or several at once, with the model's chat template.

        Parameters
        ----------
        messages : list of dict, or list of such lists
            OpenAI-style ``[{"role": "user", "content": "..."}, ...]``.
        sampling_params : SamplingParams | list[SamplingParams] | None
            As in ``generate``.
        add_generation_prompt : bool
            Open the assistant's turn after the last message.
        chat_template_kwargs : dict, optional
            Extra template variables (``tools``, ``documents``, ...).

        Examples
        --------
        >>> out = llm.chat([{"role": "user", "content": "Capital of France?"}])  # doctest: +SKIP
        >>> out[0].outputs[0].text  # doctest: +SKIP
        'The capital of France is Paris.'
        """
        conversations: list[Any] = (
            [messages] if is_single_conversation(messages) else list(messages)
        )
        prompts: list[PromptInput] = [
            render_chat(self.tokenizer, conversation, add_generation_prompt,
                        **(chat_template_kwargs or {}))
            for conversation in conversations
        ]
        return self.generate(prompts, sampling_params)
