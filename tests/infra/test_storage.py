"""The storage seam: routing by scheme, redaction, failing fast, idempotent writes, transactions."""

from __future__ import annotations

import time

import pytest

from infra.settings import Settings
from infra.storage import (
    StoreUnreachableError,
    UnsupportedURIError,
    atomically,
    get_database,
    parse_uri,
    redact_uri,
    supports_transactions,
)
from infra.writes import insert_new, merge_pipeline_output, merge_stage

SECRET = "TopSecret99"  # a made-up password that must never show up in any message


def with_user(uri: str, user: str, password: str = SECRET) -> str:
    """Put credentials into a URI (built here so that no credential-bearing URI sits in the source)."""
    scheme, rest = uri.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest}"


@pytest.mark.parametrize(("uri", "kind", "display"), [
    ("", "local", "local"),
    ("   ", "local", "local"),
    (with_user("mongodb://db.example.com:27017/app", "alice"), "mongodb",
     with_user("mongodb://db.example.com:27017/app", "alice", "***")),
    (with_user("mongodb+srv://cluster0.x.mongodb.net/?retryWrites=true", "bob", "p%40ss"), "mongodb",
     with_user("mongodb+srv://cluster0.x.mongodb.net/?retryWrites=true", "bob", "***")),
    ("mongodb://db.example.com/?authSource=admin&password=hunter2", "mongodb",
     "mongodb://db.example.com/?authSource=admin&password=***"),
])
def test_uri_routing_and_redaction(uri, kind, display):
    target = parse_uri(uri)
    assert (target.kind, target.display) == (kind, display)


@pytest.mark.parametrize("uri", [with_user("ftp://host/x", "alice"), "localhost:27017",
                                 with_user("postgres://h/db", "u")])
def test_unknown_scheme_fails_with_a_clear_message_and_no_secret(uri):
    with pytest.raises(UnsupportedURIError) as info:
        parse_uri(uri)
    assert SECRET not in str(info.value) and "MONGO_URI" in str(info.value)


@pytest.mark.parametrize("uri", ["embedded:///tmp/store", "embedded://", "memory://unit"])
def test_retired_schemes_say_what_replaced_them(uri):
    with pytest.raises(UnsupportedURIError, match="no longer supported.*Leave MONGO_URI empty"):
        parse_uri(uri)


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


def test_one_client_is_shared_by_threads(db):
    from concurrent.futures import ThreadPoolExecutor

    def write(i: int) -> int:
        database = get_database()
        database["t"].insert_one({"i": i})
        return id(database.client)

    with ThreadPoolExecutor(max_workers=6) as pool:
        client_ids = set(pool.map(write, range(12)))
    assert db["t"].count_documents({}) == 12 and len(client_ids) == 1


def test_insert_new_never_touches_stored_documents(db):
    db["c"].create_index([("k", 1)], unique=True)
    first = insert_new(db["c"], [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}])
    again = insert_new(db["c"], [{"k": 1, "v": "CHANGED"}, {"k": 3, "v": "c"}])
    assert (first.inserted, again.inserted, again.unchanged) == (2, 1, 1)
    assert db["c"].find_one({"k": 1})["v"] == "a"


def test_insert_new_reports_progress_per_chunk_and_counts_across_chunks(db):
    db["c"].create_index([("k", 1)], unique=True)
    insert_new(db["c"], [{"k": k} for k in range(0, 2500, 2)])
    seen: list[int] = []
    counts = insert_new(db["c"], ({"k": k} for k in range(2500)), on_progress=seen.append)
    assert (counts.inserted, counts.unchanged) == (1250, 1250) and seen == [1000, 2000, 2500]


def test_pipeline_output_merges_on_several_keys_replacing_only_its_own_documents(db):
    db["f"].create_index([("batch", 1), ("k", 1)], unique=True)
    db["f"].insert_many([{"batch": "older", "k": 1, "v": "kept"}, {"batch": "this", "k": 2, "v": "stale"}])
    db["src"].insert_many([{"k": k, "v": "new"} for k in (1, 2, 3)])
    pipeline = [{"$project": {"_id": 0, "batch": {"$literal": "this"}, "k": 1, "v": 1}}]
    for _ in range(2):  # a re-run changes nothing more
        merge_pipeline_output(db, "src", pipeline, "f", ["batch", "k"])
        stored = {(doc["batch"], doc["k"]): doc["v"] for doc in db["f"].find()}
        assert stored == {("older", 1): "kept", ("this", 1): "new", ("this", 2): "new", ("this", 3): "new"}


def test_merge_stage():
    assert merge_stage("f", ["batch_id", "student_id"]) == {"$merge": {
        "into": "f", "on": ["batch_id", "student_id"], "whenMatched": "replace", "whenNotMatched": "insert"}}


def test_a_transaction_applies_all_of_its_writes_or_none(db):
    assert supports_transactions(db)  # the local server is a one-node replica set, as Atlas is
    db["a"].insert_one({"k": 0})
    db["b"].insert_one({"k": 0})

    def both(session):
        db["a"].insert_one({"k": 1}, session=session)
        db["b"].insert_one({"k": 1}, session=session)
        return "done"

    def fails_halfway(session):
        db["a"].insert_one({"k": 2}, session=session)
        raise RuntimeError("crash between the two writes")

    assert atomically(db, both) == "done"
    with pytest.raises(RuntimeError):
        atomically(db, fails_halfway)
    assert sorted(d["k"] for d in db["a"].find()) == [0, 1] and sorted(d["k"] for d in db["b"].find()) == [0, 1]
