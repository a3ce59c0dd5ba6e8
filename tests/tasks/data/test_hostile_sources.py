"""Hostile inputs cannot tie up the reading stage (issue 31, findings 8, 9 and 10): YAML bombs and deep nesting in a
mapping, Parquet compression bombs, files over the row, column and byte limits, a codec that fails its own way;
errors name the file and never quote its content; a deployment's run reads sources only from the configured
folders."""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.data.mapping import MappingError, read_mapping
from tasks.data.sources import (
    SourceFileError,
    SourceLimits,
    SourceNotAllowedError,
    SourceTooLargeError,
    check_source_folder,
    read_source,
)
from tests.tasks.data.test_mapping import MAPPING, write

BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


@pytest.mark.parametrize("text, says", [
    (BILLION_LAUGHS, "line 1: YAML anchors and aliases"),
    ("fields: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested more than 20 levels deep"),
    ("fields:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 40)), "nested more than 20 levels deep"),
])
def test_a_hostile_mapping_is_one_clear_error_in_well_under_a_second(tmp_path, text, says):
    started = time.monotonic()
    with pytest.raises(MappingError, match=says):
        read_mapping(write(tmp_path, "m.yaml", text))
    assert time.monotonic() - started < 2


def parquet_mapping(tmp_path):
    mapping, _ = read_mapping(write(tmp_path, "m.yaml", MAPPING.replace("format: csv", "format: parquet")))
    return mapping


def test_a_parquet_compression_bomb_stops_at_the_limits(tmp_path):
    rows = 3_000_000  # one repeated value: a few KB on disk, 3 million rows once read
    pq.write_table(pa.table({"school": pa.array(["GP"] * rows)}), tmp_path / "rows.parquet", compression="zstd")
    assert (tmp_path / "rows.parquet").stat().st_size < 100_000
    started = time.monotonic()
    with pytest.raises(SourceTooLargeError, match=r"rows 3,000,000, over the limit of 2,000,000 "
                                                  r"\(PIPELINE_SOURCE_MAX_ROWS\)"):
        read_source(tmp_path / "rows.parquet", parquet_mapping(tmp_path), labeled=True)
    wide = "x" * 10_000  # dictionary-encoded: one value on disk, 10 KB in every row once decompressed
    pq.write_table(pa.table({"school": pa.array([wide] * 50_000)}), tmp_path / "bytes.parquet", compression="zstd")
    with pytest.raises(SourceTooLargeError, match="PIPELINE_SOURCE_MAX_BYTES"):
        read_source(tmp_path / "bytes.parquet", parquet_mapping(tmp_path), labeled=True,
                    limits=SourceLimits(bytes=50_000_000))
    many = pa.table({f"c{i}": [1] for i in range(50)})
    pq.write_table(many, tmp_path / "columns.parquet")
    with pytest.raises(SourceTooLargeError, match="columns 50, over the limit of 40"):
        read_source(tmp_path / "columns.parquet", parquet_mapping(tmp_path), labeled=True,
                    limits=SourceLimits(columns=40))
    assert time.monotonic() - started < 30


def test_csv_and_json_lines_are_bounded_too(tmp_path):
    mapping, _ = read_mapping(write(tmp_path, "m.yaml", MAPPING))
    header = "school;number;age;subject;studytime;paid;G1;G2;G3\n"
    big = write(tmp_path, "big.csv", header + "GP;1;17;mat;2;yes;10;12;13\n" * 200)
    with pytest.raises(SourceTooLargeError, match="more rows than 100"):
        read_source(big, mapping, labeled=True, limits=SourceLimits(rows=100))
    with pytest.raises(SourceTooLargeError, match="bytes"):
        read_source(big, mapping, labeled=True, limits=SourceLimits(bytes=1_000))
    lines = write(tmp_path, "many.jsonl", '{"student_id": 1}\n' * 50)
    with pytest.raises(SourceTooLargeError, match="more lines than 10"):
        read_source(lines, None, labeled=True, limits=SourceLimits(rows=10))


def test_errors_name_the_file_and_never_quote_its_content(tmp_path):
    secret = write(tmp_path, "passwd.csv", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/bin/sh\n")
    mapping, _ = read_mapping(write(tmp_path, "m.yaml", MAPPING.replace('delimiter: ";"', 'delimiter: ","')))
    with pytest.raises(SourceFileError) as info:
        read_source(secret, mapping, labeled=True)
    assert "passwd.csv" in str(info.value) and "root:x" not in str(info.value) and "/bin/bash" not in str(info.value)
    near = write(tmp_path, "near.csv", "school;number;age;subject;studytime;paid;G1;G2;g3\nGP;1;17;mat;2;yes;1;1;1\n")
    with pytest.raises(SourceFileError, match=r"close to: \['g3'\]"):  # a typo is still pointed at
        read_source(near, read_mapping(write(tmp_path, "m2.yaml", MAPPING))[0], labeled=True)
    odd, _ = read_mapping(write(tmp_path, "m3.yaml", MAPPING.replace("format: csv\n", "encoding: punycode\n")))
    with pytest.raises(SourceFileError, match="cannot read .* as punycode"):
        read_source(write(tmp_path, "odd.csv", "scho\u00f6l;x\n"), odd, labeled=True)


def test_a_deployment_reads_sources_only_from_the_configured_folders(tmp_path, monkeypatch):
    from tasks.data import tasks as data_tasks
    from validation.contracts import DEFAULT_LABEL_RULE

    allowed = tmp_path / "exports"
    allowed.mkdir()
    check_source_folder(allowed / "term1.csv", [allowed])  # inside: fine
    with pytest.raises(SourceNotAllowedError, match="outside the folders a deployment may read"):
        check_source_folder(allowed / ".." / "elsewhere.csv", [allowed])
    link = allowed / "link.csv"
    link.symlink_to("/etc/passwd")
    with pytest.raises(SourceNotAllowedError):
        check_source_folder(link, [allowed])  # a link out of the folder is outside it
    monkeypatch.setenv("PIPELINE_SOURCE_DIRS", str(allowed))
    monkeypatch.setattr(data_tasks, "in_deployment", lambda: True)
    with pytest.raises(SourceNotAllowedError) as info:
        data_tasks.load_source.fn("/etc/passwd", "auto", None, None, DEFAULT_LABEL_RULE)
    assert "root:x" not in str(info.value) and "/bin/bash" not in str(info.value)  # named, never read
