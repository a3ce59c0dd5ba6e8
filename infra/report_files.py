"""Files people open (a run's HTML report, training plots, Data Docs pages), kept in MongoDB's GridFS so that no
report lives on the disk of the machine that ran the flow: any machine's service serves them under
``/dashboard/files/<path>``, and the links in Prefect artifacts point there."""

from __future__ import annotations

import re

from gridfs import GridFSBucket
from gridfs.errors import NoFile

from infra.collections import REPORT_FILES
from infra.storage import Db


def save_file(db: Db, path: str, data: bytes, content_type: str, **meta) -> str:
    """Keep a report's file (an HTML report, a plot, a Data Docs page) under ``path`` in GridFS, where any machine
    and the service read it; a file saved again under the same path replaces the earlier one (the new one is
    stored first, so a reader never finds none). Returns ``path``."""
    bucket = GridFSBucket(db, bucket_name=REPORT_FILES)
    new = bucket.upload_from_stream(path, data, metadata={"content_type": content_type, **meta})
    for old in db[f"{REPORT_FILES}.files"].find({"filename": path, "_id": {"$ne": new}}, {"_id": 1}):
        bucket.delete(old["_id"])
    return path


def read_file(db: Db, path: str) -> tuple[bytes, str] | None:
    """A kept file's bytes and content type, or None if there is no file under ``path``."""
    try:
        stream = GridFSBucket(db, bucket_name=REPORT_FILES).open_download_stream_by_name(path)
    except NoFile:
        return None
    return stream.read(), (stream.metadata or {}).get("content_type", "application/octet-stream")


def file_paths(db: Db, prefix: str) -> list[str]:
    """The paths of the kept files under ``prefix`` (a folder, ending in ``/``), sorted."""
    found = db[f"{REPORT_FILES}.files"].distinct("filename", {"filename": {"$regex": f"^{re.escape(prefix)}"}})
    return sorted(found)
