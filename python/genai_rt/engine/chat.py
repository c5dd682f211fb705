"""Chat messages -> prompt token ids, through the model's own chat template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ChatMessage = Mapping[str, Any]
Conversation = Sequence[ChatMessage]


def check_conversation(messages: Any) -> list[dict[str, Any]]:
    """``messages`` as a list of ``{"role": str, "content": str, ...}`` dicts.

    Raises
    ------
    ValueError
        Naming the message (by index) and the field at fault.
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
        raise ValueError(
            "chat messages must be a non-empty list of {'role': ..., 'content': ...} dicts, "
            f"got {type(messages).__name__}"
        )
    checked = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ValueError(f"chat message {index} must be a dict, got {type(message).__name__}")
        for key in ("role", "content"):
            if not isinstance(message.get(key), str):
                raise ValueError(
                    f"chat message {index} needs a string {key!r}, got {message.get(key)!r}"
                )
        checked.append(dict(message))
    return checked


def is_single_conversation(messages: Any) -> bool:
    """True for one conversation (a list of dicts), False for a list of conversations."""
    return isinstance(messages, Sequence) and bool(messages) and isinstance(messages[0], Mapping)


def render_chat(
    tokenizer: Any, messages: Conversation, add_generation_prompt: bool = True,
    **template_kwargs: Any,
) -> dict[str, list[int]]:
    """``{"prompt_token_ids": ids}`` of ``messages`` rendered with the tokenizer's chat template.

    Token ids, not text: the template already writes BOS and the role markers, and encoding its
    text again with special tokens would add a second BOS.

    Raises
    ------
    ValueError
        Bad messages, or a model without a tokenizer or chat template.
    """
    checked = check_conversation(messages)
    if tokenizer is None or getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("this model has no chat template; use generate() with a text prompt")
    ids = tokenizer.apply_chat_template(
        checked, add_generation_prompt=add_generation_prompt, tokenize=True, **template_kwargs
    )
    return {"prompt_token_ids": list(ids)}
