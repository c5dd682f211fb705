"""Streaming detokenization that never emits a broken UTF-8 sequence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

# Prompt tokens decoded before the first output token, so that decoders which treat the start of
# a sequence specially (SentencePiece's Metaspace drops the first "▁") see the true context. vLLM
# uses 5; one would do for Metaspace, a few more cover a prompt that ends inside a UTF-8 sequence.
PROMPT_CONTEXT_TOKENS = 5
_REPLACEMENT = "\ufffd"


class _Decoder(Protocol):
    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str: ...


class IncrementalDetokenizer:
    """Text deltas for a growing token sequence, with vLLM's prefix/read offset technique.

    Each step decodes two windows of tokens starting at ``prefix_offset``: up to
    ``read_offset`` (text already emitted) and up to the end. The delta is their difference;
    when the longer one ends in U+FFFD the newest tokens stop inside a UTF-8 sequence (or a byte
    fallback run), so nothing is emitted until a later token completes it. Both offsets only
    move to positions where the text was complete, so the windows always start on a character
    boundary and cost O(tokens since the last emission) per step, not O(sequence); ids before
    the prefix offset are dropped, so memory stays O(1) per sequence.

    Parameters
    ----------
    tokenizer : tokenizers.Tokenizer
        Anything with ``decode(ids, skip_special_tokens=...)``.
    prompt_token_ids : Sequence[int]
        Only its last ``PROMPT_CONTEXT_TOKENS`` are used, as context.
    skip_special_tokens : bool
        Leave special tokens out of the text.

    Examples
    --------
    >>> detok = IncrementalDetokenizer(tokenizer, prompt_ids)  # doctest: +SKIP
    >>> "".join(detok.step([t]) for t in output_ids) + detok.flush() == detok.text  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        tokenizer: _Decoder,
        prompt_token_ids: Sequence[int],
        skip_special_tokens: bool = True,
    ) -> None:
        self._tokenizer = tokenizer
        self._skip_special_tokens = skip_special_tokens
        self._ids = [int(t) for t in prompt_token_ids[-PROMPT_CONTEXT_TOKENS:]]
        self._prefix_offset = 0
        self._read_offset = len(self._ids)
        self._prefix_text: str | None = None
        self._text_parts: list[str] = []

    @property
    def text(self) -> str:
        """All text emitted so far (the concatenated deltas)."""
        if len(self._text_parts) > 1:
            self._text_parts = ["".join(self._text_parts)]
        return self._text_parts[0] if self._text_parts else ""

    def step(self, new_token_ids: Sequence[int]) -> str:
        """Append tokens; return the newly complete text (possibly empty while held back)."""
        self._ids.extend(int(t) for t in new_token_ids)
        return self._emit(final=False)

    def flush(self) -> str:
        """At the end of the sequence: emit whatever is held back, even an incomplete tail."""
        return self._emit(final=True)

    def _decode(self, start: int, end: int | None = None) -> str:
        return self._tokenizer.decode(
            self._ids[start:end], skip_special_tokens=self._skip_special_tokens
        )

    def _emit(self, final: bool) -> str:
        if self._read_offset == len(self._ids):
            return ""
        if self._prefix_text is None:
            self._prefix_text = self._decode(self._prefix_offset, self._read_offset)
        new_text = self._decode(self._prefix_offset)
        if len(new_text) <= len(self._prefix_text):
            # Only skipped special tokens (or a decoder that merged text): nothing to show yet.
            return ""
        if new_text.endswith(_REPLACEMENT) and not final:
            return ""
        delta = new_text[len(self._prefix_text):]
        # Only ids from the new prefix offset on are ever decoded again: drop the rest.
        del self._ids[: self._read_offset]
        self._prefix_offset, self._read_offset = 0, len(self._ids)
        self._prefix_text = None
        self._text_parts.append(delta)
        return delta
