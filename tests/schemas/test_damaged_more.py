"""Damaged files the reader must still answer exactly (`schemas.csvfile`): what the fast
path's proof once let through, and what the exact path named on another line."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rosterflow.schemas.csvfile import UnreadableFile, parse_csv
from rosterflow.schemas.spec import FILE_SPECS

ENROLLMENTS = FILE_SPECS["enrollments"]
HEADER = ",".join(ENROLLMENTS.header)
RECORDS = [
    "e1,,,k1,s1,u-t1,teacher,true,,",
    "e2,,,k1,s1,u-s1,student,false,,",
    "e3,,,k2,s1,u-t1,teacher,true,,",
]


def enrollments(*records: str) -> bytes:
    return "\n".join([HEADER, *records, ""]).encode()


def issues_of(data: bytes) -> set[tuple]:
    parsed = parse_csv(data, "enrollments.csv")
    return set(parsed.issues.select("line", "rule").iter_rows())


def issues_of_file(data: bytes, encoding: str) -> set[tuple]:
    parsed = parse_csv(data, "x.csv", encoding=encoding)
    return set(parsed.issues.select("line", "rule").iter_rows())


def test_a_quoted_comma_in_an_identifier_does_not_hide_a_short_record():
    """Every column of enrollments.csv is an identifier, a code or a date: a quoted comma in a
    sourcedId and a record that lost its last comma (its endDate) balanced the fast path's
    count of commas, which skipped those columns, and the short record was read padded with a
    null, the feed valid."""
    data = enrollments('"e1,x",,,k1,s1,u-t1,teacher,true,,', RECORDS[1], RECORDS[2][:-1])

    assert issues_of(data) == {(4, "file.ragged")}
    parsed = parse_csv(data, "enrollments.csv")
    assert parsed.rows["sourcedId"].to_list() == ["e1,x", "e2"]


def test_a_quoted_comma_in_an_identifier_alone_is_read_as_it_is():
    """The same quoted comma without a short record: read by the fast path, one record per
    line (before, the count it upset sent the file to the csv module, which read the same)."""
    parsed = parse_csv(
        enrollments('"e1,x",,,k1,s1,u-t1,teacher,true,,', *RECORDS[1:]),
        "enrollments.csv",
    )

    assert parsed.issues.height == 0
    assert parsed.rows["sourcedId"].to_list() == ["e1,x", "e2", "e3"]
    assert parsed.one_line_records


@settings(max_examples=60, deadline=None)
@given(
    quoted=st.sets(st.tuples(st.integers(0, 2), st.integers(0, 9)), min_size=1, max_size=4),
    short=st.integers(0, 2),
    lost=st.integers(1, 3),
)
def test_a_short_record_is_ragged_whatever_commas_other_values_quote(quoted, short, lost):
    """Commas quoted into any values (of any columns) and one record short of `lost` fields:
    the short record is the one error, on its line, and no record is read from it."""
    rows = [record.split(",") for record in RECORDS]
    for row, column in quoted:
        rows[row][column] = f'"{rows[row][column]},{column}"'
    rows[short] = rows[short][:-lost]

    data = enrollments(*(",".join(row) for row in rows))

    assert issues_of(data) == {(2 + short, "file.ragged")}
    parsed = parse_csv(data, "enrollments.csv")
    assert parsed.rows["__line"].to_list() == [line for line in (2, 3, 4) if line != 2 + short]


def test_a_quote_left_open_in_a_big_file_is_named_on_the_line_it_opens_on():
    """A quote opening a value on line 7 of a users.csv with no other quote: the csv module
    takes in every line after it (once it gave up at 128 KiB, naming the line it had reached,
    7410 here); the error names the line the value opens on, and the records before it read."""
    records = [f"u{i},Name {i},a" for i in range(20_000)]
    records[5] = 'u5,"Name 5,a'
    data = "\n".join(["sourcedId,name,x", *records, ""]).encode()

    parsed = parse_csv(data, "users.csv")

    quote = parsed.issues.filter(pl.col("rule") == "file.quote")
    assert quote.select("line", "field", "value", "severity").rows() == [
        (7, "name", '"Name 5,a', "error")
    ]
    assert "never closed" in quote["message"][0]
    assert parsed.rows["sourcedId"].to_list() == ["u0", "u1", "u2", "u3", "u4"]


@pytest.mark.parametrize(
    ("data", "encoding", "refused"),
    [
        # classic Mac OS line ends in Windows-1252: 0x81 is no character of it
        (b"id,name\r1,a\r2,b\r3,\x81c\r", "cp1252", "not cp1252 (byte 0x81 at offset 18)"),
        (
            "id,name\r1,a\r2,b\r3,\ud800c\r".encode("utf-16", "surrogatepass"),
            "utf-16",
            "not utf-16",
        ),
        (b"id,name\r1,a\r2,b\r3,\xffc\r", "utf-8", "not UTF-8 (byte 0xff at offset 18)"),
    ],
)
def test_a_byte_not_in_the_encoding_is_named_on_its_line_in_a_file_of_crs_alone(
    data, encoding, refused
):
    """A file whose lines end in a CR alone (classic Mac OS) is read with the warning
    `file.line_endings`, each CR a line end: a byte a named encoding has no character for, on
    line 4, was named on line 1 (the LFs before it), where UTF-8's names line 4."""
    with pytest.raises(UnreadableFile) as unreadable:
        parse_csv(data, "x.csv", encoding=encoding)

    assert str(unreadable.value).startswith(f"x.csv line 4: {refused}")
    # (the same file with a control character there instead is an issue on line 4)
    readable = data.decode(encoding, "replace").replace("\ufffd", "\x01").encode(encoding)
    assert issues_of_file(readable, encoding) == {(None, "file.line_endings"), (4, "value.control")}
