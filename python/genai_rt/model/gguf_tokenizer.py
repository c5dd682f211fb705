"""The tokenizer a GGUF file describes, built as a ``tokenizers.Tokenizer``.

``tokenizer.ggml.model`` picks the model: ``gpt2`` is byte-level BPE (vocabulary + merges, with
the pre-tokenizer ``tokenizer.ggml.pre`` names), ``llama`` is SentencePiece-style BPE (``▁`` for
spaces, byte fallback; merges rebuilt from the scores when the file has none). Token types mark
control tokens (added as special) and user-defined ones (added whole, not special). BOS, EOS,
add-BOS and the chat template come from the file too.
"""

from __future__ import annotations

from typing import Any

from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer

from genai_rt.model.gguf_file import GGUFFile
from genai_rt.model.tokenizer import Tokenizer, TokenizerError

CONTROL, USER_DEFINED = 3, 4  # llama.cpp token types
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _byte_level_pre_tokenizer(pre: str | None) -> pre_tokenizers.PreTokenizer:
    """llama.cpp's pre-tokenizer for ``tokenizer.ggml.pre`` (GPT-2's regex by default)."""
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if pre in ("llama3", "llama-v3", "llama-bpe", "smaug-bpe", "dbrx"):
        return pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(_LLAMA3_SPLIT), behavior="isolated"), byte_level
        ])
    if pre in ("qwen2", "deepseek-r1-qwen"):
        return pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated"), byte_level
        ])
    gpt2 = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre == "smollm":  # SmolLM's tokenizer.json: each digit alone, then GPT-2's regex
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), gpt2])
    return gpt2


def _bpe(**kwargs: Any) -> models.BPE:
    try:
        return models.BPE(**kwargs)
    except Exception as exc:  # tokenizers raises a bare Exception for a bad vocabulary/merges
        raise TokenizerError(f"the GGUF vocabulary and merges do not fit together: {exc}") from exc


def _byte_level(tokens: list[str], merges: list[str], pre: str | None) -> HFTokenizer:
    vocab = {token: index for index, token in enumerate(tokens)}
    pairs = [tuple(m.split(" ", 1)) for m in merges]
    tokenizer = HFTokenizer(_bpe(vocab=vocab, merges=pairs, fuse_unk=False))
    tokenizer.pre_tokenizer = _byte_level_pre_tokenizer(pre)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def sentencepiece_merges(tokens: list[str], scores: list[float]) -> list[tuple[str, str]]:
    """BPE merges implied by a SentencePiece vocabulary: every split of a token into two
    tokens, the merge ranked by the merged token's score (best first)."""
    vocab = {token: index for index, token in enumerate(tokens)}
    ranked: list[tuple[float, int, int, str, str]] = []
    for token, score in zip(tokens, scores, strict=True):
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in vocab and right in vocab:
                ranked.append((-score, vocab[left], vocab[right], left, right))
    ranked.sort()
    return [(left, right) for _, _, _, left, right in ranked]


def _sentencepiece(tokens: list[str], merges: list[str], scores: list[float],
                   unk: str | None, add_space_prefix: bool) -> HFTokenizer:
    vocab = {token: index for index, token in enumerate(tokens)}
    pairs = (
        [tuple(m.split(" ", 1)) for m in merges] if merges
        else sentencepiece_merges(tokens, scores)
    )
    tokenizer = HFTokenizer(_bpe(
        vocab=vocab, merges=pairs, unk_token=unk, fuse_unk=True, byte_fallback=True
    ))
    tokenizer.normalizer = normalizers.Sequence(
        ([normalizers.Prepend("▁")] if add_space_prefix else [])
        + [normalizers.Replace(" ", "▁")]
    )
    steps = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    if add_space_prefix:
        steps.append(decoders.Strip(content=" ", left=1))
    tokenizer.decoder = decoders.Sequence(steps)
    return tokenizer


def build_gguf_backend(gguf: GGUFFile) -> HFTokenizer:
    """The ``tokenizers.Tokenizer`` of ``gguf``'s ``tokenizer.ggml.*`` metadata.

    Raises
    ------
    TokenizerError
        If the file has no vocabulary or names a tokenizer model other than gpt2 / llama.
    """
    kind = gguf.metadata("tokenizer.ggml.model")
    tokens: list[str] = gguf.metadata("tokenizer.ggml.tokens") or []
    if not tokens:
        raise TokenizerError(f"{gguf.path.name} has no tokenizer.ggml.tokens")
    merges: list[str] = gguf.metadata("tokenizer.ggml.merges") or []
    types: list[int] = gguf.metadata("tokenizer.ggml.token_type") or []
    if kind == "gpt2":
        backend = _byte_level(tokens, merges, gguf.metadata("tokenizer.ggml.pre"))
    elif kind == "llama":
        unk_id = gguf.metadata("tokenizer.ggml.unknown_token_id")
        backend = _sentencepiece(
            tokens, merges, gguf.metadata("tokenizer.ggml.scores") or [0.0] * len(tokens),
            None if unk_id is None else tokens[int(unk_id)],
            bool(gguf.metadata("tokenizer.ggml.add_space_prefix", True)),
        )
    else:
        raise TokenizerError(
            f"{gguf.path.name}: tokenizer model {kind!r} is not supported (gpt2, llama)"
        )
    special = [t for t, kind_ in zip(tokens, types, strict=False) if kind_ == CONTROL]
    user = [t for t, kind_ in zip(tokens, types, strict=False) if kind_ == USER_DEFINED]
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])
    backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in user])
    return backend


def gguf_tokenizer_config(gguf: GGUFFile) -> dict[str, Any]:
    """tokenizer_config.json-style fields from the file: special tokens and add-BOS."""
    tokens: list[str] = gguf.metadata("tokenizer.ggml.tokens") or []
    config: dict[str, Any] = {}
    for field, key in (("bos_token", "bos"), ("eos_token", "eos"),
                       ("unk_token", "unknown"), ("pad_token", "padding")):
        token_id = gguf.metadata(f"tokenizer.ggml.{key}_token_id")
        if token_id is not None and 0 <= int(token_id) < len(tokens):
            config[field] = tokens[int(token_id)]
    # llama.cpp adds BOS to a SentencePiece vocabulary unless the file says otherwise.
    default_bos = gguf.metadata("tokenizer.ggml.model") == "llama"
    config["add_bos_token"] = bool(gguf.metadata("tokenizer.ggml.add_bos_token", default_bos))
    return config


def load_gguf_tokenizer(gguf: GGUFFile | str) -> Tokenizer:
    """A ``genai_rt.model.Tokenizer`` for a GGUF file (encode/decode, chat template)."""
    file = gguf if isinstance(gguf, GGUFFile) else GGUFFile(gguf)
    return Tokenizer.from_parts(
        build_gguf_backend(file), gguf_tokenizer_config(file),
        file.metadata("tokenizer.chat_template"),
    )
