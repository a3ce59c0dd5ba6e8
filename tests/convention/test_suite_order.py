"""The suite's scheduling hint names files that exist (a renamed file would silently lose its place)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import LONGEST_FILES

ROOT = Path(__file__).resolve().parents[2]


def test_every_file_the_schedule_puts_first_exists_once():
    assert [path for path in LONGEST_FILES if not (ROOT / path).is_file()] == []
    assert len(set(LONGEST_FILES)) == len(LONGEST_FILES)
