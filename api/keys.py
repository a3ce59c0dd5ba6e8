"""``python -m api.keys`` (``make api-key``): create, list and revoke the prediction service's API keys.

    python -m api.keys create --name school-sis --scopes predict,read
    python -m api.keys list
    python -m api.keys revoke <key id>

A new key is printed once, never stored (the store keeps its hash): hand it to whoever uses it now.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime


def main(argv: list[str] | None = None) -> int:
    """Parse the command, do it against the configured store, say what was done."""
    from api.auth import SCOPES, checked_scopes, key_document, new_key
    from infra.collections import ensure_indexes
    from infra.errors import UserError
    from infra.storage import get_database
    from tasks.serving import store

    parser = argparse.ArgumentParser(prog="python -m api.keys", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="a new key, printed once")
    create.add_argument("--name", required=True, help="who or what uses it (shown in records: 'by key:<id> (name)')")
    create.add_argument("--scopes", required=True, help=f"comma-separated, of: {', '.join(SCOPES)}")
    commands.add_parser("list", help="every key: id, name, scopes, created, revoked")
    revoke = commands.add_parser("revoke", help="revoke a key (the service stops accepting it within 5 s)")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)
    try:
        db = get_database()
        ensure_indexes(db)
        if args.command == "create":
            try:
                scopes = checked_scopes(args.scopes)
            except ValueError as exc:
                parser.error(str(exc))
            if not args.name.strip() or len(args.name) > 60 or not args.name.isprintable():
                parser.error("--name: at most 60 printable characters")
            key, key_id, hashed = new_key()
            store.insert_key(db, key_document(args.name.strip(), scopes, key_id, hashed, datetime.now(UTC)))
            print(f"key {key_id} ({args.name.strip()}), scopes {', '.join(scopes)}; it is shown only now:")
            print(key)
        elif args.command == "list":
            for doc in store.list_keys(db):
                revoked = f"revoked {doc['revoked_at']:%Y-%m-%d %H:%M}" if doc.get("revoked_at") else "active"
                print(f"{doc['key_id']}  {doc['name']:<24} {','.join(doc['scopes']):<28} "
                      f"created {doc['created_at']:%Y-%m-%d %H:%M}  {revoked}")
        elif not store.revoke_key(db, args.key_id, datetime.now(UTC)):
            print(f"error: no active key {args.key_id!r} (python -m api.keys list shows them)", file=sys.stderr)
            return 1
        else:
            print(f"key {args.key_id} revoked")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
