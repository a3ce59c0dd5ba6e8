"""The registry: versions only go up, nothing is overwritten, tampered binaries are refused, aliases are atomic."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from infra.collections import ALIAS_HISTORY, MODELS
from infra.errors import IntegrityError
from infra.settings import get_settings
from infra.storage import get_bucket
from tasks.registry.store import (
    CHAMPION,
    ModelNotFoundError,
    get_alias,
    load_model,
    models_folder,
    register_version,
    set_alias,
)


def tiny_model(c: float = 1.0):
    return LogisticRegression(C=c).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


def register(db, c: float = 1.0):
    return register_version(db, "m", tiny_model(c), {"algorithm": "linear", "problem": "classification",
                                                   "metrics": {"val": {"auc": c}}},
                            get_settings().artifacts_path)


def test_versions_only_go_up_and_files_are_never_overwritten(db):
    versions = [register(db, c)["version"] for c in (0.5, 1.0, 2.0)]
    assert versions == [1, 2, 3]
    folder = models_folder(db, get_settings().artifacts_path, "m")
    assert sorted(p.name for p in folder.iterdir()) == ["v1", "v2", "v3"]
    assert {p.name for p in (folder / "v2").iterdir()} == {"model.joblib", "metrics.json", "metadata.json"}
    db[MODELS].delete_many({"version": 3})  # even if a document disappears, its number is never reused
    assert register(db)["version"] == 4
    with pytest.raises(FileExistsError):
        (folder / "v1").mkdir(exist_ok=False)


def test_registered_model_loads_from_gridfs_with_identical_predictions(db):
    doc = register(db, 2.0)
    loaded = load_model(db, "m", version=doc["version"])
    assert (loaded.predict_proba([[1.5]]) == tiny_model(2.0).predict_proba([[1.5]])).all()
    assert Path(doc["binary"]["path"]).read_bytes() == get_bucket(db).open_download_stream(
        doc["binary"]["gridfs_id"]).read()


def test_a_tampered_binary_is_refused(db):
    doc = register(db)
    bucket = get_bucket(db)
    payload = bucket.open_download_stream(doc["binary"]["gridfs_id"]).read()
    bucket.delete(doc["binary"]["gridfs_id"])
    bucket.upload_from_stream_with_id(doc["binary"]["gridfs_id"], "m/v1/model.joblib", payload[:-1] + b"\x00")
    with pytest.raises(IntegrityError, match="refusing to load"):
        load_model(db, "m", version=doc["version"])


def test_unknown_version_or_alias_is_a_clear_error(db):
    with pytest.raises(ModelNotFoundError, match="no version 9"):
        load_model(db, "m", version=9)
    with pytest.raises(ModelNotFoundError, match="no 'champion' alias"):
        load_model(db, "m", alias=CHAMPION)


def test_alias_compare_and_set_and_history(db):
    register(db), register(db)
    assert set_alias(db, "m", CHAMPION, 1, None, "first", {}, by="test")
    assert not set_alias(db, "m", CHAMPION, 2, None, "also first?", {}, by="test")  # exists already
    assert not set_alias(db, "m", CHAMPION, 2, 7, "stale expectation", {}, by="test")
    assert set_alias(db, "m", CHAMPION, 2, 1, "better", {"p": 0.01}, by="test")
    assert get_alias(db, "m", CHAMPION)["version"] == 2
    history = list(db[ALIAS_HISTORY].find({}, {"_id": 0, "at": 0}).sort("at", 1))
    assert [(h["from_version"], h["to_version"], h["reason"]) for h in history] == [(None, 1, "first"),
                                                                                    (1, 2, "better")]
    assert load_model(db, "m", alias=CHAMPION) is not None


def test_racing_first_champions_cannot_both_win(db, store):
    register(db), register(db)
    from infra.storage import get_database

    def claim(version: int) -> bool:
        return set_alias(get_database(), "m", CHAMPION, version, None, f"v{version}", {}, by=f"run-{version}")

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(claim, [1, 2] * 5))
    assert sum(results) == 1
    assert db[ALIAS_HISTORY].count_documents({"alias": CHAMPION}) == 1


def test_a_binary_left_pending_by_a_killed_registration_is_removed_by_the_next(db):
    from datetime import UTC, datetime, timedelta

    bucket = get_bucket(db)
    old = bucket.upload_from_stream("m/pending/model.joblib", b"left by kill -9")
    db["models.files"].update_one({"_id": old}, {"$set": {"uploadDate": datetime.now(UTC) - timedelta(hours=3)}})
    recent = bucket.upload_from_stream("m/pending/model.joblib", b"another registration, in flight")
    register(db)
    names = {f._id: f.filename for f in bucket.find({})}
    assert old not in names and names[recent] == "m/pending/model.joblib"  # the one in flight is left alone
    assert sorted(names.values()) == ["m/pending/model.joblib", "m/v1/model.joblib"]


@pytest.mark.parametrize(("saved", "loads"), [
    ({}, True),                                   # stored before versions were kept
    ("same", True),
    ("patch", True),                              # a patch release does not change what a pickle holds
    ({"scikit-learn": "0.24.2"}, False),
    ({"python": "3.9.1"}, False),
])
def test_a_model_saved_under_other_library_versions_is_refused_with_what_to_do(db, saved, loads):
    from tasks.registry.store import IncompatibleRuntimeError, runtime_versions

    doc = register(db)
    here = runtime_versions()
    assert doc["runtime"] == here and set(here) == {"python", "scikit-learn", "xgboost", "numpy"}
    if saved == "same":
        saved = here
    elif saved == "patch":
        saved = {**here, "numpy": ".".join(here["numpy"].split(".")[:2]) + ".999"}
    else:
        saved = {**here, **saved} if saved else {}
    db[MODELS].update_one({"name": "m", "version": doc["version"]}, {"$set": {"runtime": saved}})
    if loads:
        assert load_model(db, "m", version=doc["version"]).predict([[3.0]]).tolist() == [1]
    else:
        with pytest.raises(IncompatibleRuntimeError, match=r"was saved with (scikit-learn 0\.24\.2|python 3\.9\.1)"):
            load_model(db, "m", version=doc["version"])
