"""Token-aware chunking with overlap, counted in the embedder's own tokens.

A chunk is at most ``max_tokens`` tokens so the embedder never truncates it, and consecutive
chunks share ``overlap`` tokens so a sentence cut at a boundary is whole in one of them. Chunks
never end inside a word (a WordPiece ``##`` continuation stays with its word).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tokenizers import Tokenizer


@dataclass(frozen=True)
class Chunk:
    """A slice of a document: its text, character span and content hash."""

    text: str
    start: int
    end: int
    content_hash: str


def content_hash(text: str) -> str:
    """sha256 hex of the UTF-8 text (what audit records cite)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chunk_text(text: str, tokenizer: Tokenizer, max_tokens: int, overlap: int) -> list[Chunk]:
    """Split ``text`` into chunks of at most ``max_tokens`` tokens overlapping by ``overlap``."""
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    if not 0 <= overlap < max_tokens:
        raise ValueError(f"overlap must be in [0, max_tokens), got {overlap}")
    enc = tokenizer.encode(text, add_special_tokens=False)
    offsets, tokens = enc.offsets, enc.tokens
    n = len(offsets)
    if n == 0:
        return []
    chunks: list[Chunk] = []
    start = 0
    while start < n:
        end = min(start + max_tokens, n)
        # Back off so the chunk does not end inside a word (keep at least one token).
        while end < n and end - start > 1 and tokens[end].startswith("##"):
            end -= 1
        piece = text[offsets[start][0]:offsets[end - 1][1]]
        chunks.append(Chunk(piece, offsets[start][0], offsets[end - 1][1], content_hash(piece)))
        if end == n:
            break
        nxt = max(end - overlap, start + 1)
        while nxt < end and tokens[nxt].startswith("##"):
            nxt += 1
        start = nxt
    return chunks
