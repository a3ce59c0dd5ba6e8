"""A school's export through its declared mapping (pure): the mapping checked with the line of each problem,
rows mapped to our record (renames, constants, value maps, scales checked then converted, wide grade columns to
nested courses, composite ids, the score), CSV read with its dialect, and every row that cannot be mapped kept
with its line number and reasons."""

from __future__ import annotations

import pytest

from tasks.data.mapping import MappingError, composite_id, map_row, read_mapping
from tasks.data.sources import SourceFileError, read_source
from validation.records import UnparseableLine, check_record

MAPPING = """\
source:
  format: csv
  delimiter: ";"
student_id:
  columns: [school, number]
fields:
  age: {column: age}
  major: {column: subject, map: {mat: Math, por: Literature}}
  fullTime: {constant: true}
  enrollment_year: {constant: 2024}
  study.hours_per_week: {column: studytime, map: {"1": 1.5, "2": 3.5, "3": 7.5, "4": 12}}
  demographics.part_time_job: {column: paid}
courses:
  - course: {constant: first subject}
    credits: {constant: 4}
    grades: {columns: [G1, G2], scale: [0, 20]}
labels:
  score: {column: G3, scale: [0, 20]}
  rule: "pass: >= 50"
"""
HEADER = "school;number;age;subject;studytime;paid;G1;G2;G3"


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_row_becomes_our_record(tmp_path):
    mapping, digest = read_mapping(write(tmp_path, "m.yaml", MAPPING))
    row = {"school": "GP", "number": "17", "age": "17", "subject": "mat", "studytime": "2", "paid": "yes",
           "G1": "10", "G2": "12", "G3": "13"}
    record = map_row(row, mapping, labeled=True)
    assert record == {"student_id": composite_id(["GP", "17"]), "age": 17, "major": "Math", "fullTime": True,
                      "enrollment_year": 2024, "study": {"hours_per_week": 3.5},
                      "demographics": {"part_time_job": True},
                      "courses": [{"course": "first subject", "credits": 4, "grades": [50.0, 60.0]}],
                      "final_score": 65.0}
    assert check_record(record, labeled=True, label_rule=mapping.label_rule()) == []
    assert mapping.label_rule().name == "pass" and len(digest) == 64
    assert composite_id(["GP", "17"]) == composite_id(["GP", " 17 "]) != composite_id(["MS", "17"])
    assert 0 < composite_id(["GP", "17"]) < 2**53


def test_a_period_without_a_grade_is_left_out_and_blank_optionals_stay_out(tmp_path):
    mapping, _ = read_mapping(write(tmp_path, "m.yaml", MAPPING))
    row = {"school": "GP", "number": "1", "age": "16", "subject": "por", "studytime": "", "paid": "",
           "G1": "9", "G2": "", "G3": ""}
    record = map_row(row, mapping, labeled=True)
    assert record["courses"][0]["grades"] == [45.0] and "final_score" not in record
    assert "study" not in record and "demographics" not in record


def test_csv_dialect_bom_quotes_and_a_malformed_row_with_its_line(tmp_path):
    mapping, _ = read_mapping(write(tmp_path, "m.yaml", MAPPING))
    text = "\ufeff" + "\n".join([
        HEADER,
        'GP;1;17;"mat";2;yes;10;12;13',
        'GP;2;18;por;1;no;21;12;13',            # a first-period grade above the declared 0-20 scale
        'GP;3;16;bio;3;no;10;11;12',            # a subject the map does not know
        'GP;4;17;mat;2;yes;10;12',              # a field short
        'MS;5;"seventeen";mat;2;maybe;10;12;14',  # wrong type and an unknown yes/no: the record checks say so
    ]) + "\n"
    records, digest = read_source(write(tmp_path, "school.csv", text), mapping, labeled=True)
    assert len(records) == 5 and len(digest) == 64
    assert records[0]["student_id"] == composite_id(["GP", "1"]) and records[0]["major"] == "Math"
    scale, unmapped, short = records[1], records[2], records[3]
    assert isinstance(scale, UnparseableLine) and scale.error == "line 3: courses[0].grades (G1): scale"
    assert scale.reasons[0] == {"field": "courses[0].grades (G1)", "rule": "scale", "value": 21,
                                "expected": "0..20 (the source's declared scale)"}
    assert unmapped.error.startswith("line 4: major: map")
    assert isinstance(short, UnparseableLine) and short.error == "line 5: 8 fields where the header has 9"
    rules = {(r["field"], r["rule"]) for r in check_record(records[4], labeled=True)}
    assert rules == {("age", "type"), ("demographics.part_time_job", "type")}
    [parse, why] = check_record(scale, labeled=True)
    assert parse["rule"] == "parse" and why["rule"] == "scale"  # quarantined with the mapping's reason


@pytest.mark.parametrize(("text", "message"), [
    ("student_id: {column: id}\nfields:\n  absences: {column: absences}\n",
     r"line 3: fields.absences: unknown field"),
    ("student_id: {column: id}\nfields:\n  age: {column: age, constant: 17}\n",
     r"line 3: fields.age: .*exactly one of 'column' or 'constant'"),
    ("student_id: {column: id}\nlabels:\n  score: {column: G3}\n  rule: \"= 50\"\n",
     r"line 4: labels.rule: .*is not like"),
    ("student_id: {column: id}\ncourses:\n  - course: {constant: X}\n    credits: {constant: 4}\n"
     "    grades: {columns: [G1], scale: [20, 0]}\n", r"line 5: courses.0.grades"),
    ("fields: {}\n", r"student_id: Field required"),
    ("student_id: {column: id}\nfields:\n  fullTime: {column: ft, map: {yes: true, no: false}}\n",
     r"line 3: fields.fullTime.map: .*quote yes/no/on/off keys"),
    ("student_id: [oops\n", "not valid YAML"),
    ("- a list\n", "must be a YAML mapping"),
])
def test_a_bad_mapping_is_one_error_naming_its_line(tmp_path, text, message):
    with pytest.raises(MappingError, match=message):
        read_mapping(write(tmp_path, "bad.yaml", text))


def test_sources_that_cannot_be_read_say_what_to_do(tmp_path):
    with pytest.raises(MappingError, match="mapping file not found"):
        read_mapping(tmp_path / "none.yaml")
    with pytest.raises(SourceFileError, match="needs? a mapping|need a mapping"):
        read_source(write(tmp_path, "x.csv", HEADER + "\n"), None, labeled=True)
    mapping, _ = read_mapping(write(tmp_path, "m.yaml", MAPPING.replace("format: csv\n", "encoding: utf-16\n")))
    with pytest.raises(SourceFileError, match="cannot read .* as utf-16"):
        read_source(write(tmp_path, "y.csv", HEADER + "\nGP;1\n"), mapping, labeled=True)


def test_parquet_rows_map_the_same_way(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    mapping, _ = read_mapping(write(tmp_path, "m.yaml", MAPPING.replace("format: csv", "format: parquet")))
    table = pa.table({"school": ["GP"], "number": [1], "age": [17], "subject": ["mat"], "studytime": [2],
                      "paid": [True], "G1": [10.0], "G2": [None], "G3": [13.0]})
    pq.write_table(table, tmp_path / "school.parquet")
    [record], _ = read_source(tmp_path / "school.parquet", mapping, labeled=True)
    assert record["courses"][0]["grades"] == [50.0] and record["final_score"] == 65.0
    assert record["study"] == {"hours_per_week": 3.5} and record["demographics"] == {"part_time_job": True}


def test_a_column_the_mapping_reads_but_the_file_lacks_is_one_error_before_anything_is_stored(tmp_path):
    mapping, _ = read_mapping(write(tmp_path, "m.yaml", MAPPING))
    text = "school;number;age;subject;studytime;paid;G1;G2\nGP;1;17;mat;2;yes;10;12\n"  # no G3 (the score)
    with pytest.raises(SourceFileError, match=r"reads column\(s\) \['G3'\] that school.csv does not have"):
        read_source(write(tmp_path, "school.csv", text), mapping, labeled=True)


def test_hostile_values_stay_data(tmp_path):
    mapping, _ = read_mapping(write(tmp_path, "m.yaml", MAPPING.replace(
        "course: {constant: first subject}", "course: {column: subject}").replace(
        "  major: {column: subject, map: {mat: Math, por: Literature}}\n", "")))
    for hostile in ("$$NOW", "<script>alert(1)</script>", "x" * 5000):
        row = {"school": "GP", "number": "1", "age": "17", "subject": hostile, "studytime": "2", "paid": "no",
               "G1": "10", "G2": "12", "G3": "13"}
        record = map_row(row, mapping, labeled=True)
        assert record["courses"][0]["course"] == hostile  # a string, never an expression or markup
        reasons = {(r["field"], r["rule"]) for r in check_record({**record, "major": "Math"}, labeled=True)}
        assert reasons == ({("courses[0].course", "max_length")} if len(hostile) > 100 else set())


def test_at_ingest_the_schools_id_becomes_its_pseudonym_and_a_quarantined_row_withholds_it(tmp_path):
    from infra.pseudonyms import Pseudonyms
    from tasks.data.mapping import WITHHELD

    keyed = Pseudonyms(b"k" * 32)
    mapping, _ = read_mapping(write(tmp_path, "m.yaml", MAPPING.replace("columns: [school, number]",
                                                                         "column: number")))
    text = "\n".join([HEADER, "GP;S-00017;17;mat;2;yes;10;12;13", "GP;S-00018;17;mat;2;yes;25;12;13",
                      "GP;S-00019;17;mat"]) + "\n"
    good, off_scale, short = read_source(write(tmp_path, "s.csv", text), mapping, labeled=True, pseudonyms=keyed)[0]
    assert good["student_id"] == keyed.of("S-00017") and check_record(good, labeled=True,
                                                                      label_rule=mapping.label_rule()) == []
    assert isinstance(off_scale, UnparseableLine) and f"number={WITHHELD}" in off_scale.text
    assert "S-000" not in off_scale.text + short.text and short.text == f"line 4: {WITHHELD}"
    assert "line 4" in short.error
