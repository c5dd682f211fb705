"""``genai-rt audit verify|checkpoint|prove|consistency``, ``feedback export|add``,
``budget set|show``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from genai_rt.cli_flags import add_dataclass_flags, given


def _config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from genai_rt.config import AuditConfig

    return AuditConfig(**given(args, args.audit_flags))


def _add_common(parser: argparse.ArgumentParser) -> None:
    from genai_rt.config import AuditConfig

    flags = add_dataclass_flags(parser, AuditConfig,
                                skip=("metrics_port", "trace_exporter", "audit_queue_size",
                                      "price_table", "enforce_budgets"))
    parser.set_defaults(audit_flags=flags)


def add_audit_args(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    verify = actions.add_parser("verify", help="check the whole log; names every bad record")
    verify.add_argument("--public-key", default=None,
                        help="the trusted Ed25519 key (hex, or a PEM file); default: the key "
                             "file next to the log")
    verify.add_argument("--checkpoint", action="append", default=[],
                        help="a signed checkpoint kept outside the log (JSON from `audit "
                             "checkpoint`); repeatable. Catches a log cut back before it")
    checkpoint = actions.add_parser("checkpoint", help="sign the head now and print the "
                                                       "checkpoint (keep it outside the log)")
    checkpoint.add_argument("--out", default=None, help="write the checkpoint JSON here")
    prove = actions.add_parser("prove", help="print an inclusion proof for a record id (or "
                                             "leaf index) against a signed checkpoint")
    prove.add_argument("id", help="record id (or leaf index)")
    prove.add_argument("--out", default=None, help="write the proof JSON here (default stdout)")
    consistency = actions.add_parser("consistency",
                                     help="prove the log only grew between two checkpoints")
    consistency.add_argument("size1", type=int)
    consistency.add_argument("size2", type=int)
    consistency.add_argument("--out", default=None, help="write the proof JSON here")
    replay = actions.add_parser("replay", help="re-run a recorded engine request in "
                                               "deterministic mode; says if the output matches")
    replay.add_argument("id", help="record id")
    replay.add_argument("--model", default=None,
                        help="checkpoint to replay on (default: the default model); its "
                             "weights hash must equal the record's")
    for sub in (verify, checkpoint, prove, consistency, replay):
        _add_common(sub)


def add_feedback_args(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="write ratings with their records' lineage "
                                               "as JSONL")
    export.add_argument("--out", default=None, help="JSONL file (default stdout)")
    add = actions.add_parser("add", help="attach a rating and a comment to a record")
    add.add_argument("id", help="record id")
    add.add_argument("rating", type=int, help="an int in [-5, 5]")
    add.add_argument("comment", nargs="?", default="")
    for sub in (export, add):
        _add_common(sub)


def _require_log(url: str) -> None:
    from genai_rt.audit.db import is_postgres_url

    if not is_postgres_url(url) and not os.path.exists(url.removeprefix("sqlite:///")):
        raise SystemExit(f"error: no audit log at {url}")


def _key_path(cfg) -> str | None:  # type: ignore[no-untyped-def]
    return cfg.audit_key or (None if cfg.audit_url.startswith("postgres")
                             else f"{cfg.audit_url.removeprefix('sqlite:///')}.key")


def cmd_audit(args: argparse.Namespace) -> int:
    cfg = _config(args)
    _require_log(cfg.audit_url)
    if args.action == "verify":
        return _verify(cfg, args.public_key, args.checkpoint)
    from genai_rt.audit.log import AuditLog

    if args.action == "replay":
        return _replay(cfg, args.id, args.model)
    with AuditLog(cfg.audit_url, key_path=cfg.audit_key, checkpoint_every=cfg.checkpoint_every,
                  synchronous=cfg.audit_sync) as log:
        if args.action == "checkpoint":
            signed = log.checkpoint()
            if signed is None:
                raise SystemExit("error: the log is empty; nothing to sign")
            doc = signed.to_dict()
        elif args.action == "prove":
            doc = log.prove(args.id)
        else:
            from genai_rt.audit.proofs import prove_consistency

            doc = prove_consistency(log, args.size1, args.size2)
    text = json.dumps(doc, indent=2, sort_keys=True)
    if getattr(args, "out", None):
        Path(args.out).write_text(text + "\n")
        print(f"wrote {args.out}" + ("" if args.action == "checkpoint" else
              f"; check it with `python -m genai_rt.audit.verifier {args.out}` (stdlib only)"))
    else:
        print(text)
    return 0


def _replay(cfg, record_id: str, model: str | None) -> int:  # type: ignore[no-untyped-def]
    from genai_rt.audit.log import AuditLog
    from genai_rt.audit.replay import ReplayError, load_record, replay

    with AuditLog(cfg.audit_url, key_path=cfg.audit_key, checkpoint_every=cfg.checkpoint_every,
                  synchronous=cfg.audit_sync) as log:
        try:
            record = load_record(log, record_id)
        except ReplayError as err:
            raise SystemExit(f"error: {err}") from None
    if model is None:
        from genai_rt.model.default_model import smollm2_gguf

        model = str(smollm2_gguf())
    try:
        report = replay(record_id, record, model)
    except ReplayError as err:
        raise SystemExit(f"error: {err}") from None
    print(report.describe())
    return 0 if report.matched or not report.recorded_deterministic else 1


def _verify(cfg, public_key: str | None,  # type: ignore[no-untyped-def]
            checkpoint_files: list[str]) -> int:
    from genai_rt.audit.checkpoints import SignedCheckpoint, load_public_key
    from genai_rt.audit.db import Database
    from genai_rt.audit.store import TreeStore
    from genai_rt.audit.verify_log import verify_store

    key_source = public_key or _key_path(cfg)
    if key_source is None or (public_key is None and not os.path.exists(key_source)):
        raise SystemExit("error: no trusted public key: pass --public-key (hex or PEM file)")
    key = load_public_key(key_source)
    db = Database(cfg.audit_url, synchronous=cfg.audit_sync)
    try:
        external = [SignedCheckpoint(**json.loads(Path(f).read_text()))
                    for f in checkpoint_files]
        report = verify_store(TreeStore(db, create=False), key, external)
    finally:
        db.close()
    print(report.format())
    return 0 if report.ok else 1


def cmd_feedback(args: argparse.Namespace) -> int:
    from genai_rt.audit.feedback import export_feedback
    from genai_rt.audit.log import AuditLog

    cfg = _config(args)
    _require_log(cfg.audit_url)
    with AuditLog(cfg.audit_url, key_path=cfg.audit_key, synchronous=cfg.audit_sync) as log:
        if args.action == "add":
            log.add_feedback(args.id, args.rating, args.comment)
            return 0
        if args.out:
            with open(args.out, "w", encoding="utf-8") as out:
                count = export_feedback(log.store, out)
            print(f"wrote {count} feedback lines to {args.out}", file=sys.stderr)
        else:
            export_feedback(log.store, sys.stdout)
    return 0


def add_budget_args(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    set_ = actions.add_parser("set", help="set a tenant's budget limit in USD (spent is kept)")
    set_.add_argument("tenant")
    set_.add_argument("limit_usd", type=float)
    show = actions.add_parser("show", help="a tenant's limit, spent, reserved and available")
    show.add_argument("tenant")
    for sub in (set_, show):
        _add_common(sub)


def cmd_budget(args: argparse.Namespace) -> int:
    from genai_rt.audit.budgets import BudgetStore

    store = BudgetStore(_config(args).audit_url)
    try:
        if args.action == "set":
            store.set_budget(args.tenant, args.limit_usd)
        usage = store.usage(args.tenant)
        print(f"{args.tenant}: limit ${usage.limit:.6f}, spent ${usage.spent:.6f}, "
              f"reserved ${usage.reserved:.6f}, available ${usage.available:.6f}")
    finally:
        store.close()
    return 0
