"""Report files kept in GridFS: saved, replaced, read back, listed by folder."""

from __future__ import annotations

from infra.collections import REPORT_FILES
from infra.report_files import file_paths, read_file, save_file


def test_a_file_saved_again_under_its_path_replaces_the_old_one_and_paths_list_by_folder(db):
    assert read_file(db, "training/t1/roc.png") is None
    save_file(db, "training/t1/roc.png", b"\x89PNG one", "image/png", kind="training-plot")
    save_file(db, "training/t1/roc.png", b"\x89PNG two", "image/png", kind="training-plot")
    save_file(db, "training/t1/metrics.json", b"{}", "application/json")
    save_file(db, "training/t10/metrics.json", b"{}", "application/json")
    save_file(db, "data-docs/b (1)/raw.html", "<p>é</p>".encode(), "text/html; charset=utf-8")
    assert read_file(db, "training/t1/roc.png") == (b"\x89PNG two", "image/png")
    assert db[f"{REPORT_FILES}.files"].count_documents({"filename": "training/t1/roc.png"}) == 1  # no old versions
    assert file_paths(db, "training/t1/") == ["training/t1/metrics.json", "training/t1/roc.png"]  # not t10
    assert file_paths(db, "data-docs/b (1)/") == ["data-docs/b (1)/raw.html"]
    assert read_file(db, "data-docs/b (1)/raw.html")[0].decode() == "<p>é</p>"
    assert file_paths(db, ".*") == []  # a prefix is text, never a pattern
