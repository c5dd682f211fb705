"""``genai-rt ingest`` and ``genai-rt search`` in process (the same store the API builds)."""

from __future__ import annotations

import json

from genai_rt.cli import main


def test_ingest_then_search_as_principal(tmp_path, capsys, monkeypatch, memo_embedder):
    # Share the session's embedder instead of loading the model again.
    import genai_rt.retrieval.store as store_module
    monkeypatch.setattr(store_module, "Embedder", lambda path=None: memo_embedder)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pay.md").write_text("Salaries are paid on the 25th of each month.")
    (docs / "menu.txt").write_text("The canteen serves soup on Fridays.")
    (docs / "bad.txt").write_bytes(b"\xff\xfe\x00garbage")
    url = str(tmp_path / "s.db")
    assert main(["ingest", str(docs), "--tenant", "acme", "--labels", "hr", "--url", url,
                 "--backend", "cpu_exact", "--no-progress"]) == 1  # one file was skipped
    out = capsys.readouterr()
    assert "added 2" in out.out and "skipped bad.txt" in out.err

    assert main(["search", "when is payday?", "--as", "acme:hr", "-k", "1", "--url", url,
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["passages"][0]["document_id"] == "pay.md"
    assert result["report"]["complete"] and result["report"]["backend"] == "cpu_exact"

    # Without the hr role nothing is visible; an unknown tenant is an error, not an empty list.
    assert main(["search", "when is payday?", "--as", "acme", "-k", "1", "--url", url]) == 0
    assert "0 of k=1; 0 visible rows" in capsys.readouterr().out
    assert main(["search", "payday", "--as", "globex:hr", "--url", url]) == 2
    assert "unknown tenant 'globex'" in capsys.readouterr().err
