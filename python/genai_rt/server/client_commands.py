"""Client commands against a running ``genai-rt serve``: ``ask``, ``ingest DIR --server``,
``reviews``. The tenant and roles are the API key's, as for every gRPC call."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_SERVER = "localhost:50051"


def add_connection_args(parser: argparse.ArgumentParser, server_default: str | None) -> None:
    parser.add_argument("--server", default=server_default, metavar="HOST:PORT",
                        help=f"the gRPC server (default {server_default or 'none: local'})")
    parser.add_argument("--api-key", default=None, help="API key (`genai-rt keys add`)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per call")


def _client(args: argparse.Namespace) -> Any:
    from genai_rt.client import Client

    return Client(args.server, api_key=args.api_key, timeout=args.timeout)


def _fail(err: Any) -> int:
    print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
    return 1


# ------------------------------------------------------------------------------------ ask
def add_ask_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="the question or request")
    parser.add_argument("--json", action="store_true", help="print the final answer as JSON")
    add_connection_args(parser, DEFAULT_SERVER)


def cmd_ask(args: argparse.Namespace) -> int:
    import grpc
    from google.protobuf.json_format import MessageToDict

    try:
        with _client(args) as client:
            answer = None
            for event in client.ask(args.text):
                if event.HasField("delta_text") and not args.json:
                    print(event.delta_text, end="", flush=True)
                elif event.HasField("answer"):
                    answer = event.answer
    except grpc.RpcError as err:
        return _fail(err)
    if answer is None:
        print("error: the stream ended without an answer", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(MessageToDict(answer, preserving_proto_field_name=True), indent=2))
        return 0
    print(format_answer(answer))
    return 0 if answer.status == "PASSED" else 2


def format_answer(answer: Any) -> str:
    lines = [f"status: {answer.status} (intent {answer.intent or '-'}, "
             f"{answer.retries} retries, {answer.timings.get('total', 0.0):.2f} s)"]
    if answer.status != "PASSED":
        lines.append(f"  {answer.text}" if answer.status not in (
            "DRAFT_REQUIRES_SIGNOFF", "ESCALATED") else
            f"  not an answer: review item {answer.review_id} awaits a person")
    if answer.citations:
        lines.append("citations: " + ", ".join(answer.citations))
    for reason in answer.reasons:
        lines.append(f"  reason: {reason}")
    lines.append("gates: " + ", ".join(f"{v.gate}={'pass' if v.passed else 'FAIL'}"
                                       for v in answer.verdicts))
    if answer.audit_id:
        lines.append(f"audit record: {answer.audit_id}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------- ingest
def add_remote_ingest_args(parser: argparse.ArgumentParser) -> None:
    """Added to the retrieval branch's local ``ingest``: with --server it goes over gRPC."""
    add_connection_args(parser, None)
    for action in parser._actions:  # --tenant: required locally only (gRPC: the key's tenant)
        if action.dest == "tenant":
            action.required = False


def cmd_ingest(args: argparse.Namespace, local: Any) -> int:
    if args.server is None:
        if args.tenant is None:
            print("error: --tenant is required (or --server HOST:PORT to ingest into a "
                  "server, as the API key's tenant)", file=sys.stderr)
            return 2
        return int(local(args))
    if args.tenant is not None:
        print("error: --tenant cannot be combined with --server: the server files documents "
              "under the API key's tenant", file=sys.stderr)
        return 2
    import grpc

    from genai_rt.client import ingest_document
    from genai_rt.retrieval.documents import find_documents, read_document

    root = Path(args.dir).resolve()
    labels = [x for x in args.labels.split(",") if x]

    def documents() -> Any:
        for path in find_documents(root):
            doc = read_document(path)
            yield ingest_document(path.relative_to(root).as_posix(), doc.text,
                                  sorted(set(labels) | doc.labels), doc.metadata)

    try:
        with _client(args) as client:
            reply = client.ingest(documents())
    except grpc.RpcError as err:
        return _fail(err)
    print(f"ingested {root} into {args.server}: {reply.added} added, {reply.updated} updated, "
          f"{reply.unchanged} unchanged; {reply.chunks_in_store} chunks in the store")
    return 0


# -------------------------------------------------------------------------------- reviews
def add_reviews_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", default="list", choices=("list", "resolve"))
    parser.add_argument("id", nargs="?", type=int, help="resolve: the review item id")
    parser.add_argument("resolution", nargs="?", choices=("approved", "rejected", "answered"))
    parser.add_argument("--status", default="open", choices=("open", "resolved", "all"))
    parser.add_argument("--kind", default="", choices=("", "escalation", "signoff"))
    parser.add_argument("--note", default="")
    add_connection_args(parser, DEFAULT_SERVER)


def cmd_reviews(args: argparse.Namespace) -> int:
    import grpc

    try:
        with _client(args) as client:
            if args.action == "resolve":
                if args.id is None or args.resolution is None:
                    print("error: reviews resolve ID RESOLUTION", file=sys.stderr)
                    return 2
                item = client.resolve_review(args.id, args.resolution, args.note)
                print(f"review {item.id}: {item.resolution} by {item.reviewer}")
                return 0
            items = client.reviews(args.status, args.kind)
    except grpc.RpcError as err:
        return _fail(err)
    for item in items:
        print(f"[{item.id}] {item.kind:<10} {item.status:<8} {item.intent:<14} "
              f"{item.user}: {item.request}")
        for reason in item.reasons:
            print(f"      reason: {reason}")
    print(f"{len(items)} item(s)")
    return 0
