"""``genai-rt ingest`` and ``genai-rt search``: the store from the command line.

Store options (``--url``, ``--backend``, ``--chunk-tokens``, ...) are derived from
:class:`genai_rt.config.StoreConfig`, declared once there.
"""

from __future__ import annotations

import argparse
import json
import sys

from genai_rt.cli_flags import add_dataclass_flags, given
from genai_rt.config import StoreConfig


def add_ingest_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="folder of .txt, .md and .json documents")
    parser.add_argument("--tenant", required=True, help="tenant the documents belong to")
    parser.add_argument("--labels", default="",
                        help="comma-separated access labels for every document (none: the "
                             "whole tenant may see them)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(store_flags=add_dataclass_flags(parser, StoreConfig))


def add_search_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", help="the question or text to search for")
    parser.add_argument("--as", dest="principal", required=True,
                        help="who asks: tenant[:role1,role2][@user]")
    parser.add_argument("-k", type=int, default=5, help="passages to return (default 5)")
    parser.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                        help="metadata filter (repeat for more; same key twice = any of)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(store_flags=add_dataclass_flags(parser, StoreConfig))


def cmd_ingest(args: argparse.Namespace) -> int:
    from genai_rt.retrieval.store import DocumentStore

    labels = [x.strip() for x in args.labels.split(",") if x.strip()]
    with DocumentStore(StoreConfig(**given(args, args.store_flags))) as store:
        report = store.ingest_folder(args.dir, args.tenant, labels,
                                     progress=not args.no_progress)
    print(f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
          f"removed {report.removed}; {report.chunks_written} chunks written")
    for path, message in report.errors:
        print(f"skipped {path}: {message}", file=sys.stderr)
    return 1 if report.errors else 0


def _filters(items: list[str]) -> dict[str, object]:
    out: dict[str, list[object]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--filter must be KEY=VALUE, got {item!r}")
        try:
            value: object = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def cmd_search(args: argparse.Namespace) -> int:
    from genai_rt.principal import Principal
    from genai_rt.retrieval.store import DocumentStore, UnknownPrincipalError

    principal = Principal.parse(args.principal)
    with DocumentStore(StoreConfig(**given(args, args.store_flags))) as store:
        try:
            result = store.retrieve(args.query, principal, args.k, _filters(args.filter))
        except (UnknownPrincipalError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    r = result.report
    if args.json:
        print(json.dumps({
            "passages": [{"document_id": p.document_id, "chunk_id": p.chunk_id,
                          "score": p.score, "content_hash": p.content_hash, "text": p.text}
                         for p in result.passages],
            "report": {"k_asked": r.k_asked, "k_returned": r.k_returned,
                       "visible_rows": r.visible_rows,
                       "candidates_scanned": r.candidates_scanned, "backend": r.backend,
                       "fallback": r.fallback, "complete": r.complete}}, indent=2))
        return 0
    for n, p in enumerate(result.passages, 1):
        snippet = " ".join(p.text.split())[:160]
        print(f"{n}. {p.document_id} #{p.chunk_id}  score {p.score:.3f}  "
              f"sha256 {p.content_hash[:12]}\n   {snippet}")
    print(f"-- {r.k_returned} of k={r.k_asked}; {r.visible_rows} visible rows, "
          f"{r.candidates_scanned} scanned, backend {r.backend}"
          + (f"; fallback: {r.fallback}" if r.fallback else ""))
    return 0
