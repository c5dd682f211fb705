"""Vocabulary: token bytes checked against the real tokenizers' own decoders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from genai_rt import _core
from genai_rt.sampling import Vocabulary

from tests.sampling.real_tokenizers import (
    CL100K_SPECIAL_TOKENS,
    MissingTokenizerData,
    cl100k_encoding,
    cl100k_token_bytes,
    tokenizer_json_path,
)

tokenizers = pytest.importorskip("tokenizers")

TEXTS = [
    "Hello, world!",
    'Line one\nline two\n\n\tindented {"key": [1, 2.5e-3, null]}',
    "naïve café — “quotes” ½ ∑ 東京 مرحبا Привет",
    "emoji 😀👍🏽 family 👨‍👩‍👧 parrot 🦜 and a rare one 🫎",
    "  leading and trailing spaces  ",
    "code:\r\n  x = y ** 2  # ok\u00a0nbsp",
]
HF_TOKENIZERS = ["qwen2.5", "llama-3.1", "mistral"]
# SentencePiece's decoder strips the space that its pre-tokenizer prepends to the first word.
STRIPS_FIRST_SPACE = {"mistral"}


def _load(name: str) -> tuple[Path, Vocabulary]:
    try:
        path = tokenizer_json_path(name)
    except MissingTokenizerData as exc:
        pytest.skip(str(exc))
    return path, Vocabulary.from_tokenizer_json(path)


@pytest.fixture(scope="module", params=HF_TOKENIZERS)
def hf_vocab(request: pytest.FixtureRequest) -> tuple[str, object, Vocabulary]:
    path, vocab = _load(request.param)
    return request.param, tokenizers.Tokenizer.from_file(str(path)), vocab



@pytest.mark.parametrize("text", TEXTS)
def test_concatenated_token_bytes_equal_decode(hf_vocab, text: str) -> None:
    name, tok, vocab = hf_vocab
    ids = tok.encode(text, add_special_tokens=False).ids
    joined = b"".join(vocab.token_bytes[i] for i in ids).decode("utf-8")
    decoded = tok.decode(ids, skip_special_tokens=False)
    if name in STRIPS_FIRST_SPACE:
        assert joined.startswith(" "), joined
        joined = joined[1:]
    assert joined == decoded
    assert decoded.strip() == text.strip()  # the tokenizer round-trips these texts


def test_every_token_decodes_like_the_tokenizer(hf_vocab) -> None:
    """Each id alone (every 3rd id, plus all added tokens): same text as tokenizers' decode."""
    name, tok, vocab = hf_vocab
    added = list(tok.get_added_tokens_decoder())
    ids = sorted(set(range(0, tok.get_vocab_size(), 3)) | set(added))
    decoded = tok.decode_batch([[i] for i in ids], skip_special_tokens=False)
    mismatches = []
    for i, expected in zip(ids, decoded, strict=True):
        mine = vocab.token_bytes[i].decode("utf-8", "replace")
        if name in STRIPS_FIRST_SPACE and mine.startswith(" "):
            mine = mine[1:]
        if mine != expected:
            mismatches.append((i, vocab.token_bytes[i], expected))
    assert not mismatches, mismatches[:5]


def test_byte_fallback_and_metaspace_tokens() -> None:
    _, vocab = _load("mistral")
    tok = tokenizers.Tokenizer.from_file(str(tokenizer_json_path("mistral")))
    assert vocab.token_bytes[tok.token_to_id("<0x0A>")] == b"\n"
    assert vocab.token_bytes[tok.token_to_id("<0xF0>")] == b"\xf0"
    assert vocab.token_bytes[tok.token_to_id("\u2581the")] == b" the"
    assert vocab.eos_token_ids == [tok.token_to_id("</s>")]
    assert set(vocab.special_token_ids) == {0, 1, 2}  # <unk>, <s>, </s>
    ids = tok.encode("🫎", add_special_tokens=False).ids  # not in the vocab: four byte tokens
    assert b"".join(vocab.token_bytes[i] for i in ids) == " 🫎".encode()


def test_byte_level_special_and_added_tokens() -> None:
    _, vocab = _load("qwen2.5")
    tok = tokenizers.Tokenizer.from_file(str(tokenizer_json_path("qwen2.5")))
    assert vocab.size == 151665
    assert vocab.token_bytes[tok.token_to_id("Ġ")] == b" "
    assert vocab.token_bytes[tok.token_to_id("Ċ")] == b"\n"
    im_end = tok.token_to_id("<|im_end|>")
    assert vocab.token_bytes[im_end] == b"<|im_end|>"
    assert vocab.eos_token_ids == [im_end]  # tokenizer_config.json's eos_token
    assert im_end in vocab.special_token_ids
    tool_call = tok.token_to_id("<tool_call>")  # added but not special: ordinary text
    assert vocab.token_bytes[tool_call] == b"<tool_call>"
    assert tool_call not in vocab.special_token_ids


def test_cl100k_from_tiktoken_file() -> None:
    try:
        token_bytes = cl100k_token_bytes()
        enc = cl100k_encoding()
    except MissingTokenizerData as exc:
        pytest.skip(str(exc))
    holes = [i for i, t in enumerate(token_bytes) if not t]
    vocab = Vocabulary(token_bytes, eos_token_ids=[CL100K_SPECIAL_TOKENS["<|endoftext|>"]],
                       special_token_ids=[*CL100K_SPECIAL_TOKENS.values(), *holes])
    assert vocab.size == enc.n_vocab == 100277
    for i in range(0, 100256, 5):
        assert vocab.token_bytes[i] == enc.decode_single_token_bytes(i), i
    for text in TEXTS:
        ids = enc.encode(text)
        assert b"".join(vocab.token_bytes[i] for i in ids) == text.encode()


def test_from_tokenizer_matches_from_file() -> None:
    path, from_file = _load("qwen2.5")
    from_object = Vocabulary.from_tokenizer(tokenizers.Tokenizer.from_file(str(path)))
    assert from_object.token_bytes == from_file.token_bytes
    assert from_object.special_token_ids == from_file.special_token_ids
    # No config files beside a Tokenizer object: EOS from the eos-like special tokens.
    assert from_object.eos_token_ids == sorted(
        from_file.token_bytes.index(t) for t in (b"<|endoftext|>", b"<|im_end|>")
    )
    assert from_object.hash != from_file.hash  # the EOS set is part of the contents


def test_generation_config_adds_eos_ids(tmp_path: Path) -> None:
    path, _ = _load("mistral")
    shutil.copyfile(path, tmp_path / "tokenizer.json")
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": [2, 32]}))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": {"content": "</s>"}}))
    assert Vocabulary.from_tokenizer_json(tmp_path).eos_token_ids == [2, 32]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<nope>"}))
    with pytest.raises(ValueError, match="eos_token '<nope>'"):
        Vocabulary.from_tokenizer_json(tmp_path)


def test_padded_vocab_size() -> None:
    path, plain = _load("mistral")
    padded = Vocabulary.from_tokenizer_json(path, vocab_size=32064)
    assert padded.size == len(padded.token_bytes) == 32064
    assert padded.token_bytes[:32000] == plain.token_bytes
    assert padded.token_bytes[32000:] == [b""] * 64
    assert set(range(32000, 32064)) <= set(padded.special_token_ids)
    assert padded.hash != plain.hash
    with pytest.raises(ValueError, match="vocab_size=100 is smaller"):
        Vocabulary.from_tokenizer_json(path, vocab_size=100)


def test_hash_is_content_hash() -> None:
    a = Vocabulary([b"a", b"bc", b"<eos>"], eos_token_ids=[2], special_token_ids=[2])
    same = Vocabulary([b"a", b"bc", b"<eos>"], eos_token_ids=[2], special_token_ids=[2])
    shifted = Vocabulary([b"ab", b"c", b"<eos>"], eos_token_ids=[2], special_token_ids=[2])
    assert a.hash == same.hash and len(a.hash) == 64
    assert a.hash != shifted.hash


def test_bad_inputs_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no tokenizer.json"):
        Vocabulary.from_tokenizer_json(tmp_path / "missing.json")
    with pytest.raises(ValueError, match=r"eos_token_ids \[7\] out of range"):
        Vocabulary([b"a"], eos_token_ids=[7])
    with pytest.raises(TypeError, match="sequence of bytes"):
        Vocabulary(["a"], eos_token_ids=[0])  # type: ignore[list-item]
    wordpiece = tokenizers.Tokenizer(tokenizers.models.WordPiece({"[UNK]": 0, "a": 1, "##b": 2}))
    wordpiece.decoder = tokenizers.decoders.WordPiece()
    with pytest.raises(ValueError, match="unsupported tokenizer decoder"):
        Vocabulary.from_tokenizer(wordpiece)
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE({"a": 0, "b": 1}, []))
    bpe.decoder = tokenizers.decoders.ByteLevel()
    with pytest.raises(ValueError, match="cannot tell the EOS token"):
        Vocabulary.from_tokenizer(bpe)
    with pytest.raises(TypeError, match="backend_tokenizer"):
        Vocabulary.from_tokenizer(object())


def test_native_is_cached_or_names_the_missing_engine() -> None:
    vocab = Vocabulary([b"a", b"b", b"</s>"], eos_token_ids=[2], special_token_ids=[2])
    if not hasattr(_core, "Vocabulary"):
        with pytest.raises(RuntimeError, match="no grammar engine"):
            vocab.native()
    else:
        assert vocab.native() is vocab.native()


@pytest.mark.parametrize("decoder", ["byte_level", "metaspace"])
def test_token_containing_the_join_separator(decoder: str) -> None:
    """A token holding U+FFFE (the joined-decoding separator) takes the token-by-token path."""
    vocab = {"a": 0, "\u0120b": 1, "\u2581c": 2, "x\ufffey": 3, "</s>": 4}
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE(vocab, []))
    bpe.add_special_tokens(["</s>"])
    bpe.decoder = (tokenizers.decoders.ByteLevel() if decoder == "byte_level"
                   else tokenizers.decoders.Metaspace())
    got = Vocabulary.from_tokenizer(bpe)
    b_space = b" b" if decoder == "byte_level" else "\u0120b".encode()
    c_space = b" c" if decoder == "metaspace" else "\u2581c".encode()
    assert got.token_bytes == [b"a", b_space, c_space, "x\ufffey".encode(), b"</s>"]
    assert got.eos_token_ids == [4] and got.special_token_ids == [4]
