"""A data protection officer's commands: ``python -m tasks.privacy <command>``.

    pseudonym SIS_ID [SIS_ID ...]      the pseudonym of a school id (several values: a composite id, in order)
    reveal PSEUDONYM --source F --mapping M
                                       which row of the school's export has this pseudonym (needs the key)
    find STUDENT                       where the student is held: documents per kind, files, model versions
    export STUDENT --out FILE.zip      everything held on the student, as one ZIP to hand over
    erase STUDENT --yes                erase the student everywhere (a record of the erasure stays)
    erasures                           every erasure: when, by whom, what it found
    audit [--student STUDENT]          who read a student's data, newest first
    retention [--apply]                each kind's retention, and what a sweep would remove (removes with --apply)
    rekey --source F [--source F ...] --mapping M (--plain | --old-key-file K)
                                       recompute every stored pseudonym under the current key, from the
                                       school's exports: after a key rotation, or (--plain) in a store made
                                       before pseudonyms, which holds the school's plain ids
    new-key                            print a fresh pseudonym key (for PIPELINE_PSEUDONYM_KEY)

STUDENT is the pseudonym the store holds; ``--sis`` reads it as the school's own id instead (made a pseudonym with
the installation's key). Every command that reads or erases a student is written to the audit log.
"""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import sys
from pathlib import Path


def _student(db, args) -> int:
    from infra.pseudonyms import bind_to_store, load

    if not args.sis:
        if not args.student[0].isdigit() or len(args.student) > 1:
            sys.exit("a pseudonym is a whole number (give --sis to use the school's own id)")
        return int(args.student[0])
    pseudonyms = load(create=False)
    bind_to_store(db, pseudonyms)
    return pseudonyms.of(args.student if len(args.student) > 1 else args.student[0])


def _who() -> str:
    return f"command line ({getpass.getuser()})"


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status."""
    parser = argparse.ArgumentParser(prog="python -m tasks.privacy", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("pseudonym", help="the pseudonym of a school id")
    command.add_argument("sis_id", nargs="+")
    command = commands.add_parser("reveal", help="which row of the school's export has this pseudonym")
    command.add_argument("pseudonym", type=int)
    command.add_argument("--source", required=True)
    command.add_argument("--mapping", required=True)
    for name, text in (("find", "where the student is held"), ("export", "everything held on the student, as a ZIP"),
                       ("erase", "erase the student everywhere")):
        command = commands.add_parser(name, help=text)
        command.add_argument("student", nargs="+", help="the pseudonym (or, with --sis, the school's id)")
        command.add_argument("--sis", action="store_true", help="STUDENT is the school's own id")
        if name == "export":
            command.add_argument("--out", required=True, help="the ZIP file to write")
        if name == "erase":
            command.add_argument("--yes", action="store_true", help="really erase (it cannot be undone)")
    commands.add_parser("erasures", help="every erasure")
    command = commands.add_parser("audit", help="who read a student's data")
    command.add_argument("--student", type=int)
    command = commands.add_parser("retention", help="each kind's retention")
    command.add_argument("--apply", action="store_true", help="remove what is older than its retention")
    commands.add_parser("new-key", help="print a fresh pseudonym key")
    command = commands.add_parser("rekey", help="recompute every stored pseudonym under the current key")
    command.add_argument("--source", action="append", required=True, help="a school export (every term's)")
    command.add_argument("--mapping", required=True)
    old = command.add_mutually_exclusive_group(required=True)
    old.add_argument("--plain", action="store_true", help="the store holds the school's plain ids (made before "
                                                           "pseudonyms)")
    old.add_argument("--old-key-file", help="a file holding the key the store's pseudonyms were made with")
    args = parser.parse_args(argv)

    if args.command == "new-key":
        print(secrets.token_hex(32))
        return 0
    if args.command == "pseudonym":
        from infra.pseudonyms import load

        print(load(create=False).of(args.sis_id if len(args.sis_id) > 1 else args.sis_id[0]))
        return 0
    if args.command == "reveal":
        return _reveal(args)
    if args.command == "rekey":
        return _rekey(args)

    from infra.collections import ERASURES, ensure_indexes
    from infra.storage import get_database
    from tasks.privacy import audit, retention, subject

    db = get_database()
    ensure_indexes(db)
    if args.command in ("find", "export", "erase"):
        student = _student(db, args)
        if args.command == "find":
            found = subject.find(db, student)
            audit.record(db, _who(), "find", student, "python -m tasks.privacy find")
            print(json.dumps({"student": student, "places": found.count, **found.summary(),
                              "files": sorted(found.files), "models": subject.trained_on(db, found)}, indent=1))
        elif args.command == "export":
            data = subject.export(db, student)
            audit.record(db, _who(), "export", student, "python -m tasks.privacy export")
            Path(args.out).write_bytes(data)
            print(f"wrote {args.out} ({len(data):,} bytes)")
        else:
            if not args.yes:
                sys.exit("erasing cannot be undone: add --yes (python -m tasks.privacy find shows what it would "
                         "remove)")
            record = subject.erase(db, student, by=_who())
            audit.record(db, _who(), "erase", subject.ERASED, f"python -m tasks.privacy erase ({record['erasure_id']})")
            print(json.dumps({k: v for k, v in record.items() if k != "digest"}, indent=1, default=str))
        return 0
    if args.command == "erasures":
        for doc in db[ERASURES].find({}, {"_id": 0, "digest": 0}).sort("at", 1):
            print(json.dumps(doc, default=str))
        return 0
    if args.command == "audit":
        for entry in audit.entries(db, args.student):
            print(json.dumps(entry, default=str))
        return 0
    from infra.settings import get_settings

    days = retention.days_for(get_settings().retention_days)
    print("retention  " + ", ".join(f"{kind} {'for ever' if n == 0 else f'{n} days'}" for kind, n in days.items()))
    if args.apply:
        print("removed    " + json.dumps(retention.apply(db, days)))
    return 0


def _reveal(args) -> int:
    """Read the export through its mapping and print the line whose id has the pseudonym (reading the file is how
    a pseudonym goes back to an id: the store never holds the id)."""
    from infra.pseudonyms import load
    from tasks.data.mapping import read_mapping
    from tasks.data.sources import source_rows

    pseudonyms = load(create=False)
    mapping, _ = read_mapping(args.mapping)
    columns = [mapping.student_id.column] if mapping.student_id.column else mapping.student_id.columns or []
    if not columns:
        sys.exit("this mapping numbers students by their row: a pseudonym is a row number, there is no id to reveal")
    rows, _ = source_rows(Path(args.source), mapping)
    for line, row in rows:
        if isinstance(row, dict) and all(row.get(c) not in (None, "") for c in columns):
            values = [row[c] for c in columns]
            if pseudonyms.of(values if len(values) > 1 else values[0]) == args.pseudonym:
                print(f"line {line}: " + ", ".join(f"{c}={row[c]}" for c in columns))
                return 0
    print(f"no row of {Path(args.source).name} has the pseudonym {args.pseudonym} under this key")
    return 1


def _rekey(args) -> int:
    """Recompute the store's pseudonyms under the current key from the school's exports; nothing changes unless
    every stored student of the batches concerned is found in them."""
    from infra.collections import BATCHES, ERASURES, STUDENTS_RAW, ensure_indexes
    from infra.pseudonyms import Pseudonyms, erased_digests, load, rebind_store, store_fingerprint
    from infra.storage import get_database
    from tasks.data.mapping import RowProblem, map_row, read_mapping
    from tasks.data.sources import source_rows
    from tasks.privacy import subject

    db = get_database()
    ensure_indexes(db)
    new, old = load(), None
    if args.old_key_file:
        old = Pseudonyms(Path(args.old_key_file).read_text(encoding="utf-8").strip().encode("utf-8"))
        if store_fingerprint(db) != old.fingerprint:
            sys.exit(f"the store's pseudonyms were not made with the key in {args.old_key_file} (its fingerprint "
                     f"is {old.fingerprint}, the store's {store_fingerprint(db)})")
    mapping, _ = read_mapping(args.mapping)
    if mapping.student_id.row_number:
        sys.exit("this mapping numbers students by their row: there is no id to make a pseudonym of")
    table: dict[int, int] = {}
    for source in args.source:
        rows, _ = source_rows(Path(source), mapping)
        for line, row in rows:
            if not isinstance(row, dict):
                continue
            try:
                before = map_row(row, mapping, False, line, old)["student_id"]
            except RowProblem:
                continue  # a row that was quarantined at ingest: it holds no stored student
            table[before] = map_row(row, mapping, False, line, new)["student_id"]
    query = {"source.mapping_sha256": {"$exists": True}, "source.ids": {"$exists": False}} if args.plain else {
        "source.ids": "pseudonyms"}
    batches = [doc["batch_id"] for doc in db[BATCHES].find(query, {"batch_id": 1})]
    stored = set(db[STUDENTS_RAW].distinct("student_id", {"batch_id": {"$in": batches}}))
    missing = stored - set(table)
    if missing:
        sys.exit(f"{len(missing)} of the {len(stored)} students stored in {len(batches)} batch(es) are in none of "
                 "the exports given: give every term's export (nothing was changed)")
    changed = subject.remap(db, {k: v for k, v in table.items() if k in stored and k != v})
    erased = erased_digests(db)  # an erased student stays out under the new pseudonyms too
    for before, after in table.items():
        if subject.digest(before) in erased:
            db[ERASURES].update_many({"digest": subject.digest(before)}, {"$set": {"digest": subject.digest(after)}})
            changed["erasures"] = changed.get("erasures", 0) + 1
    if args.plain:
        db[BATCHES].update_many({"batch_id": {"$in": batches}}, {"$set": {"source.ids": "pseudonyms"}})
    rebind_store(db, new)
    print(f"rekeyed    {len(stored)} students of {len(batches)} batch(es): " + json.dumps(changed))
    return 0


def run(argv: list[str] | None = None) -> int:
    """``main``, with an error a user can act on printed as one line (no traceback)."""
    from infra.errors import UserError

    try:
        return main(argv)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(run())
