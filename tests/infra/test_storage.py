"""The storage seam: routing by scheme, redaction, failing fast, the single-writer lock, idempotent writes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.embedded import acquire_writer_lock
from infra.settings import PROJECT_ROOT, Settings
from infra.storage import (
    EmbeddedStoreBusyError, StorageError, StoreUnreachableError, UnsupportedURIError, get_database,
    parse_uri, redact_uri,
)
from infra.writes import merge_stage, write_documents

DEFAULT = Path("/var/data/mongo")
SECRET = "TopSecret99"  # a made-up password that must never show up in any message


def with_user(uri: str, user: str, password: str = SECRET) -> str:
    """Put credentials into a URI (built here so that no credential-bearing URI sits in the source)."""
    scheme, rest = uri.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest}"


@pytest.mark.parametrize(("uri", "engine", "display"), [
    ("", "embedded", "embedded:///var/data/mongo"),
    ("   ", "embedded", "embedded:///var/data/mongo"),
    (with_user("mongodb://db.example.com:27017/app", "alice"), "mongodb",
     with_user("mongodb://db.example.com:27017/app", "alice", "***")),
    (with_user("mongodb+srv://cluster0.x.mongodb.net/?retryWrites=true", "bob", "p%40ss"), "mongodb",
     with_user("mongodb+srv://cluster0.x.mongodb.net/?retryWrites=true", "bob", "***")),
    ("mongodb://db.example.com/?authSource=admin&password=hunter2", "mongodb",
     "mongodb://db.example.com/?authSource=admin&password=***"),
    ("embedded:///tmp/store", "embedded", "embedded:///tmp/store"),
    ("embedded://", "embedded", "embedded:///var/data/mongo"),
    ("memory://unit", "memory", "memory://unit"),
])
def test_uri_routing_and_redaction(uri, engine, display):
    target = parse_uri(uri, DEFAULT)
    assert (target.engine, target.display) == (engine, display)


def test_relative_embedded_path_is_taken_from_the_project_root():
    assert parse_uri("embedded://data/other", DEFAULT).path == PROJECT_ROOT / "data" / "other"


@pytest.mark.parametrize("uri", [with_user("ftp://host/x", "alice"), "localhost:27017",
                                 with_user("postgres://h/db", "u"), "memory://bad/name"])
def test_unknown_scheme_fails_with_a_clear_message_and_no_secret(uri):
    with pytest.raises(UnsupportedURIError) as info:
        parse_uri(uri, DEFAULT)
    assert SECRET not in str(info.value)
    assert "MONGO_URI" in str(info.value) or "memory://" in str(info.value)


def test_redact_uri_keeps_the_user_and_hides_the_password():
    assert redact_uri(with_user("mongodb://h", "u", "pw")) == with_user("mongodb://h", "u", "***")
    assert redact_uri("mongodb://h:27017") == "mongodb://h:27017"


def test_unreachable_server_fails_fast_without_leaking_the_password():
    settings = Settings(MONGO_URI=with_user("mongodb://127.0.0.1:1/app", "alice"), MONGO_TIMEOUT_MS=300)
    start = time.monotonic()
    with pytest.raises(StoreUnreachableError) as info:
        get_database(settings)
    assert time.monotonic() - start < 10
    assert SECRET not in str(info.value) and "alice:***@127.0.0.1:1" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_malformed_mongodb_uri_is_a_clear_error_without_the_secret():
    with pytest.raises(UnsupportedURIError) as info:
        get_database(Settings(MONGO_URI=with_user("mongodb://host:notaport/app", "alice")))
    assert SECRET not in str(info.value) and "not a valid MongoDB URI" in str(info.value)


def test_secret_uri_is_not_shown_in_the_settings_repr():
    settings = Settings(MONGO_URI=with_user("mongodb://h/app", "alice"))
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())


def test_embedded_store_persists_on_disk(tmp_path):
    settings = Settings(MONGO_URI=f"embedded://{tmp_path}/store")
    get_database(settings)["things"].insert_one({"k": 1})
    assert (tmp_path / "store").is_dir()
    assert get_database(settings)["things"].count_documents({"k": 1}) == 1


def test_second_writer_process_is_refused_with_a_clear_message(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX);"
            "f.write('4242'); f.flush(); print('locked', flush=True); time.sleep(30)"), str(tmp_path / ".writer.lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(EmbeddedStoreBusyError, match="one writer process at a time") as info:
            acquire_writer_lock(tmp_path, timeout_s=0.3)
        assert isinstance(info.value, StorageError) and "pid 4242" in str(info.value)  # the CLI prints it
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("attempt", range(5))
def test_client_per_thread_on_a_fresh_embedded_store(tmp_path, attempt):
    """Threads that open a fresh store and write to a new collection at the same moment all succeed."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    settings = Settings(MONGO_URI=f"embedded://{tmp_path}/threads")
    start = threading.Barrier(6)

    def write(i: int) -> int:
        start.wait()
        db = get_database(settings)
        db["t"].insert_one({"i": i})
        return id(db.client)

    with ThreadPoolExecutor(max_workers=6) as pool:
        client_ids = set(pool.map(write, range(6)))
    assert get_database(settings)["t"].count_documents({}) == 6
    assert len(client_ids) == 6


def test_write_documents_insert_only_never_touches_stored_documents(db):
    db["c"].create_index([("k", 1)], unique=True)
    first = write_documents(db["c"], [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}], key=["k"])
    again = write_documents(db["c"], [{"k": 1, "v": "CHANGED"}, {"k": 3, "v": "c"}], key=["k"])
    assert (first.inserted, again.inserted, again.unchanged) == (2, 1, 1)
    assert db["c"].find_one({"k": 1})["v"] == "a"


def test_write_documents_replace_keeps_a_newer_document(db):
    db["c"].create_index([("k", 1)], unique=True)
    write_documents(db["c"], [{"k": 1, "seq": 2, "v": "new"}], key=["k"], replace=True, keep_newer="seq")
    older = write_documents(db["c"], [{"k": 1, "seq": 1, "v": "old"}], key=["k"], replace=True, keep_newer="seq")
    newer = write_documents(db["c"], [{"k": 1, "seq": 3, "v": "newest"}], key=["k"], replace=True, keep_newer="seq")
    same = write_documents(db["c"], [{"k": 1, "seq": 3, "v": "newest"}], key=["k"], replace=True, keep_newer="seq")
    assert (older.kept_newer, newer.modified, same.unchanged) == (1, 1, 1)
    assert db["c"].count_documents({}) == 1 and db["c"].find_one({"k": 1})["v"] == "newest"


def test_merge_stage_for_a_real_server():
    assert merge_stage("f", ["student_id"]) == {"$merge": {
        "into": "f", "on": ["student_id"], "whenMatched": "replace", "whenNotMatched": "insert"}}
    newer = merge_stage("f", ["student_id"], keep_newer="batch_seq")["$merge"]["whenMatched"]
    assert newer[0]["$replaceWith"]["$cond"][0] == {"$gte": ["$$new.batch_seq", "$batch_seq"]}
