"""Shared, session-scoped objects for the retrieval tests: the real embedder, a text corpus."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from genai_rt.retrieval.embedder import Embedder

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "examples" / "corpus"


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These tests embed many small batches; on the shared 2-core box (load average ~19) this
    folder took 4m25s of wall time with two torch threads and 2m15s with one, at half the CPU
    seconds (87 s vs 41 s): the second thread mostly spins waiting for a core. Restored after
    each test, so no other suite is affected."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder(device="cpu")


def corpus_sentences(limit: int) -> list[str]:
    """Real English sentences: the example corpus, then standard-library docstrings (the same
    on every machine with this Python), deduplicated, in a fixed order."""
    import argparse
    import asyncio
    import collections
    import email.message
    import http.client
    import json
    import logging
    import os
    import pathlib
    import sqlite3
    import string
    import subprocess
    import tarfile
    import threading
    import unittest
    import urllib.request
    import zipfile

    texts = [p.read_text() for p in sorted(CORPUS.glob("*.md"))]
    for module in (os, pathlib, collections, json, logging, subprocess, threading, unittest,
                   email.message, sqlite3, argparse, asyncio, http.client, string, tarfile,
                   urllib.request, zipfile):
        texts.append(inspect.getdoc(module) or "")
        for _, member in sorted(inspect.getmembers(module)):
            if not callable(member):
                continue
            texts.append(inspect.getdoc(member) or "")
            if inspect.isclass(member):
                for _, method in sorted(inspect.getmembers(member, inspect.isfunction)):
                    texts.append(inspect.getdoc(method) or "")
    seen: dict[str, None] = {}
    for text in texts:
        for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", text):
            s = " ".join(s.split())
            if 20 <= len(s) <= 400 and s not in seen:
                seen[s] = None
    out = list(seen)
    if len(out) < limit:
        raise RuntimeError(f"only {len(out)} sentences found, need {limit}")
    return out[:limit]


@pytest.fixture(scope="session")
def sentence_vectors(embedder: Embedder) -> tuple[list[str], np.ndarray]:
    sentences = corpus_sentences(200)
    return sentences, embedder.encode(sentences)


class MemoEmbedder:
    """The real embedder with a per-text memo, for tests that embed the same short texts many
    times (the property tests); everything else is delegated unchanged."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self._memo: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            for t, v in zip(missing, self._inner.encode(missing), strict=True):
                self._memo[t] = v
        if not texts:
            return np.empty((0, self._inner.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])


@pytest.fixture(scope="session")
def memo_embedder(embedder: Embedder) -> MemoEmbedder:
    return MemoEmbedder(embedder)
