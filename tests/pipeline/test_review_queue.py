"""The review queue persists escalations and drafts, lists and resolves them."""

from __future__ import annotations

from pathlib import Path

import pytest
from genai_rt.pipeline.review_queue import ReviewQueue


def test_items_survive_reopening_and_resolve_once(tmp_path: Path) -> None:
    path = tmp_path / "q" / "review.sqlite3"
    q = ReviewQueue(path)
    a = q.add("escalation", "acme", "u1", "hr_benefits", "How long?", ["format: empty"],
              ["draft 1", "draft 2"])
    b = q.add("signoff", "globex", "", "pricing", "Price?", ["high-risk"], ["d"])
    q.close()
    q = ReviewQueue(path)
    assert [i.id for i in q.list()] == [a, b]
    assert [i.id for i in q.list(tenant="globex")] == [b]
    item = q.get(a)
    assert item.drafts == ["draft 1", "draft 2"] and item.reasons == ["format: empty"]
    done = q.resolve(a, "answered", reviewer="hr-lead", note="16 weeks")
    assert done.status == "resolved" and done.resolution == "answered"
    assert [i.id for i in q.list()] == [b]
    assert [i.id for i in q.list(status=None)] == [a, b]
    with pytest.raises(ValueError, match="already resolved"):
        q.resolve(a, "approved", reviewer="x")
    with pytest.raises(KeyError, match="no review item 99"):
        q.resolve(99, "approved", reviewer="x")
    with pytest.raises(ValueError, match="resolution must be one of"):
        q.resolve(b, "maybe", reviewer="x")
    with pytest.raises(ValueError, match="review kind"):
        q.add("other", "acme", "", "i", "r", [], [])
