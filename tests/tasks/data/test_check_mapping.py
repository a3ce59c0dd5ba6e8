"""A school's mapping checked in seconds (``--check-mapping``): what a run would keep, quarantine and find, with no
flow, store or Prefect; a file whose every line fails to parse says which delimiter its first line suggests; an
export without ids takes its row numbers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.data.check import check_mapping, required_fields
from tasks.data.mapping import read_mapping
from tasks.data.sources import SourceFileError, read_source
from tests.tasks.data.test_mapping import HEADER, MAPPING, write

ROOT = Path(__file__).resolve().parents[3]

ROWS = [f"{'GP' if i % 2 else 'MS'};{i};{16 + i % 4};{'mat' if i % 3 else 'por'};{1 + i % 4};"
        f"{'yes' if i % 5 else 'no'};{8 + i % 10};{9 + i % 9};{0 if i in (4, 9) else 6 + i % 14}" for i in range(1, 41)]


def export(tmp_path, rows=ROWS, header=HEADER, mapping=MAPPING):
    return write(tmp_path, "school.csv", "\n".join([header, *rows]) + "\n"), write(tmp_path, "school.yaml", mapping)


def test_the_check_says_what_a_run_would_keep_quarantine_and_learn(tmp_path):
    rows = [*ROWS, "GP;99;17;mat;2;yes;25;10;12", "GP;98;17;mat;2;yes;10;10;30",  # grade and score off the scale
            "GP;1;17;mat;2;yes;10;10;10"]  # id 1 again
    source, mapping = export(tmp_path, rows)
    checked = check_mapping(source, mapping)
    lines = {line[:10].strip(): line[11:] for line in checked.lines}
    assert checked.ready is False and lines["records"] == "40 of 43 would be accepted, 3 quarantined"
    rejected = [line[11:] for line in checked.lines if line.startswith("rejected")]
    assert rejected == ["1 x courses[0].grades (G1): scale (expected 0..20 (the source's declared scale))",
                        "1 x final_score: scale (expected 0..20 (the source's declared scale))",
                        "1 x student_id: unique (expected first seen at position 0)"]
    assert lines["result"].startswith("not ready: 7% of the rows would be quarantined (a run stops above 5%)")
    passing = sum(1 for row in ROWS if int(row.rsplit(";", 1)[1]) * 5 >= 50)
    assert lines["label"] == (f"pass (final_score >= 50): {passing} of 40 ({passing / 40:.1%}); a model has to beat "
                              f"{max(passing, 40 - passing) / 40:.1%} accuracy, what calling "
                              f"{'everyone' if passing >= 20 else 'nobody'} 'pass' scores")
    assert lines["check"].startswith("2 of 40 students have a final score of 0 although their record shows study")
    assert "study.attendance_rate" in lines["fields"]
    first = check_mapping(source, mapping, rows=30).lines[1]
    assert first == "source     school.csv: csv, 43 rows; checked the first 30"

    no_age = MAPPING.replace("  age: {column: age}\n", "").replace("mat: Math, por: Literature", "mat: Math")
    checked = check_mapping(*export(tmp_path, mapping=no_age))
    lines = {line[:10].strip(): line[11:] for line in checked.lines if not line.startswith("fields     optional")}
    assert lines["fields"] == "required but not in the mapping (every record would be quarantined): age"
    assert lines["records"] == "0 of 40 would be accepted, 40 quarantined" and not checked.ready
    assert "age" in required_fields() and "major" in required_fields()


def test_a_major_outside_ours_is_named_with_the_allowed_values(tmp_path):
    source, mapping = export(tmp_path, mapping=MAPPING.replace("mat: Math, por: Literature", "mat: Maths, "
                                                                                              "por: Literature"))
    checked = check_mapping(source, mapping)
    [line] = [line for line in checked.lines if line.startswith("majors")]
    assert line.startswith("majors     not one of ours: 'Maths' (27); allowed: Biology, Computer Science, ")
    assert checked.ready  # accepted: a warning, not a rejection


def test_every_line_failing_to_parse_is_one_error_with_a_delimiter_hint(tmp_path):
    mapping, _ = read_mapping(write(tmp_path, "m.yaml", MAPPING))
    commas = [row.replace(";", ",") for row in ROWS]  # the rows written with another delimiter than the header
    with pytest.raises(SourceFileError) as raised:
        read_source(write(tmp_path, "x395.csv", "\n".join([HEADER, *commas]) + "\n"), mapping, labeled=True)
    assert str(raised.value) == (
        "none of the 40 rows of x395.csv could be read (line 2: 1 fields where the header has 9): its first line has "
        "0 comma, 8 semicolon, 0 tab, 0 bar characters; check source.delimiter and source.quotechar in the mapping "
        "(nothing was stored)")
    tabs = write(tmp_path, "tabs.csv", "\n".join([HEADER.replace(";", "\t"), *(r.replace(";", "\t") for r in ROWS)]))
    with pytest.raises(SourceFileError, match=r'1 columns; its first line has 0 comma, 0 semicolon, 8 tab, 0 bar '
                                              r'characters: set source.delimiter: "\\t" in the mapping \(now ";"\)'):
        read_source(tabs, mapping, labeled=True)


def test_an_export_without_ids_takes_its_row_numbers(tmp_path):
    by_row = MAPPING.replace("student_id:\n  columns: [school, number]", "student_id: {row_number: true}")
    mapping, _ = read_mapping(write(tmp_path, "m.yaml", by_row))
    records, _ = read_source(write(tmp_path, "s.csv", "\n".join([HEADER, *ROWS[:3]]) + "\n"), mapping, labeled=True)
    assert [record["student_id"] for record in records] == [2, 3, 4]  # the line each row is on
    checked = check_mapping(tmp_path / "s.csv", tmp_path / "m.yaml")
    assert any(line.startswith("ids        row numbers: a student's id changes") for line in checked.lines)
    with pytest.raises(Exception, match="give exactly one of 'column', 'columns' or 'row_number: true'"):
        read_mapping(write(tmp_path, "two.yaml", by_row.replace("{row_number: true}",
                                                                "{row_number: true, column: number}")))


def test_the_command_checks_in_seconds_without_prefect_or_a_store(tmp_path):
    source, mapping = export(tmp_path)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-X", "importtime", "flows/main.py", "--source", str(source), "--mapping",
                           str(mapping), "--check-mapping"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "result     ready: run the same command without --check-mapping"
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert {"prefect", "pymongo", "great_expectations", "sklearn"}.isdisjoint(imported), seconds
    bad = subprocess.run([sys.executable, "flows/main.py", "--source", str(source), "--check-mapping"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert (bad.returncode, bad.stderr.strip()) == (1, "error: --check-mapping needs --source FILE and --mapping "
                                                       "MAPPING")
