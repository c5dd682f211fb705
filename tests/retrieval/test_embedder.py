"""The runtime's own MiniLM forward against sentence-transformers (the reference)."""

from __future__ import annotations

import numpy as np
import pytest
from genai_rt.retrieval.embedder import Embedder, default_model_path


def test_matches_sentence_transformers_on_200_sentences(embedder, sentence_vectors):
    st = pytest.importorskip("sentence_transformers",
                             reason="sentence-transformers is the reference (dev extra)")
    sentences, ours = sentence_vectors  # 200 sentences, short and long, across length buckets
    assert len(sentences) == 200
    reference = st.SentenceTransformer(str(default_model_path()), device="cpu").encode(
        sentences, batch_size=64, convert_to_numpy=True)
    cosine = (ours * reference).sum(1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() >= 0.99999, f"worst cosine {cosine.min()}"
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_long_text_is_truncated_like_sentence_transformers(embedder):
    long = "word " * 1000
    tokens = embedder.tokenizer.encode(long).ids
    assert len(tokens) > embedder.max_length == 256
    a, b = embedder.encode([long, long + " and more words at the end"])
    np.testing.assert_allclose(a, b, atol=1e-6)  # the tail past the window is cut


def test_batching_does_not_change_results(embedder):
    texts = ["short", "a somewhat longer sentence about vector search", "mid length text"]
    together = embedder.encode(texts)
    alone = np.concatenate([embedder.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert embedder.encode([]).shape == (0, embedder.dim)


def test_bad_input(embedder, tmp_path):
    with pytest.raises(TypeError, match="not one string"):
        embedder.encode("one string")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        embedder.encode(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        Embedder(tmp_path)


def test_any_local_sentence_transformers_folder_loads(embedder, tmp_path):
    for item in default_model_path().iterdir():
        (tmp_path / item.name).symlink_to(item)
    other = Embedder(tmp_path, device="cpu")
    assert other.name == tmp_path.name and other.dim == 384
    text = ["a local folder"]
    np.testing.assert_allclose(other.encode(text), embedder.encode(text), atol=1e-6)
