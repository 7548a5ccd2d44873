"""A file read by its changed lines against stored records (`schemas.by_lines`): which lines
are parsed, which stored records stand in, how the records differ, where an issue on a kept
record lands, and when only the whole file's parse can answer."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.by_lines import kept_fields, read_by_lines
from rosterflow.schemas.csvfile import LINE, parse_csv
from rosterflow.schemas.issues import issue_frame, issue_row
from rosterflow.schemas.lines import LINE_KEY, line_hash, line_keys, line_texts
from rosterflow.schemas.records import ROW_HASH, row_hashes
from rosterflow.schemas.references import platform_issues
from rosterflow.schemas.spec import FILE_SPECS
from tests.feeds import feed_files, tiny_district

SPEC = FILE_SPECS["enrollments"]
FIELDS = ["sourcedId", ROW_HASH, *kept_fields("sourcedId")["enrollments"]]


def stored(data: bytes) -> pl.DataFrame:
    """The records a run stores of this enrollments.csv: its rows, with row hashes and keys."""
    rows = parse_csv(data, "enrollments.csv").rows
    keys = line_keys(line_texts(data).hash(0x0E_1173))
    return rows.with_columns(
        row_hashes("enrollments", rows), keys.gather(rows[LINE] - 2).alias(LINE_KEY)
    ).select(FIELDS)


BEFORE = feed_files(tiny_district())["enrollments.csv"]
LINES = BEFORE.rstrip(b"\n").split(b"\n")  # the header, then e1 ... e6 on lines 2 to 7


def read(lines: list[bytes], records: pl.DataFrame | None = None):
    data = b"\n".join(lines) + b"\n"
    return read_by_lines(SPEC, line_texts(data), stored(BEFORE) if records is None else records)


def test_only_the_changed_lines_are_parsed_and_the_others_stand_in():
    edited = LINES[2].replace(b"student", b"teacher")  # e2
    new = LINES[6].replace(b"e6,", b"e9,")
    # e2 is edited (line 2), e4 goes, e9 comes (line 6), e1 moves to the end
    delta = read([LINES[0], edited, LINES[3], LINES[5], LINES[6], new, LINES[1]])

    assert delta is not None
    assert delta.parsed.rows.select("sourcedId", LINE).rows() == [("e2", 2), ("e9", 6)]
    kept = stored(BEFORE).filter(delta.is_kept)["sourcedId"].to_list()
    assert sorted(kept) == ["e1", "e3", "e5", "e6"]
    assert sorted(delta.gone["sourcedId"]) == ["e2", "e4"]
    _, changes = delta.compared("enrollments", delta.parsed.rows)
    assert sorted(changes.changed) == ["e2", "e9"]
    assert changes.removed.to_list() == ["e4"] and changes.added.to_list() == ["e9"]


def test_the_checks_see_the_kept_records_fields_and_nulls_for_the_rest():
    delta = read(LINES)
    _, changes = delta.compared("enrollments", delta.parsed.rows)
    table = delta.with_kept(
        SPEC, delta.parsed.rows.with_columns(row_hashes("enrollments", delta.parsed.rows))
    )

    assert delta.parsed.rows.height == 0 and changes.count == 0
    assert table.columns == [*SPEC.header, LINE, ROW_HASH]
    whole = stored(BEFORE)
    assert_frame_equal(table.select(FIELDS[:-1]), whole.select(FIELDS[:-1]))
    assert table[LINE].to_list() == [-1, -2, -3, -4, -5, -6]
    assert table["beginDate"].null_count() == table.height  # a field no check reads


def test_an_issue_on_a_kept_record_is_placed_on_the_line_it_stands_on():
    delta = read([LINES[0], *reversed(LINES[1:])])  # e6 on line 2 ... e1 on line 7
    e2 = stored(BEFORE)["sourcedId"].to_list().index("e2")  # kept record -(e2 + 1)
    issues = issue_frame(
        [
            issue_row(
                "enrollments.csv", -1 - e2, "userSourcedId", "u-s1", "reference", "error", "x"
            ),
            issue_row("users.csv", -1, "email", None, "teacher.no_email", "warning", "y"),
        ]
    )

    placed = delta.placed(issues, "enrollments.csv")

    assert sorted(placed.select("file", "line").rows()) == [
        ("enrollments.csv", 6),
        ("users.csv", -1),  # another file's issue is left alone
    ]


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param([*LINES, LINES[3]], id="a kept line repeated"),
        pytest.param([*LINES, LINES[2].replace(b"student", b"teacher")], id="a sourcedId twice"),
        pytest.param([*LINES[:3], b"", *LINES[3:]], id="a blank line"),
        pytest.param([*LINES, b'e9,,,"k1\n"'], id="a value over two lines"),
        pytest.param([LINES[0].replace(b"sourcedId", b"SourcedId"), *LINES[1:]], id="a header"),
    ],
)
def test_what_only_the_whole_parse_settles_gets_no_answer(lines):
    assert read(lines) is None


def test_a_record_stored_without_its_key_is_read_from_its_line():
    records = stored(BEFORE).with_columns(
        pl.when(pl.col("sourcedId") == "e3").then(None).otherwise(pl.col(LINE_KEY)).alias(LINE_KEY)
    )

    delta = read(LINES, records)

    assert delta.parsed.rows["sourcedId"].to_list() == ["e3"]
    _, changes = delta.compared("enrollments", delta.parsed.rows)
    assert changes.count == 0  # as stored: neither changed nor gone


def test_the_line_hashes_the_reader_took_are_the_ones_matched():
    edited = [LINES[0], LINES[2].replace(b"student", b"teacher"), *LINES[3:], LINES[1]]
    data = b"\n".join(edited) + b"\n"
    texts = line_texts(data)
    hashed = read_by_lines(SPEC, texts, stored(BEFORE), hashes=line_hash(texts))
    assert hashed is not None
    assert_frame_equal(hashed.stored, read(edited).stored)
    # hashes of other lines match other stored records: the given ones are the ones used
    shifted = line_hash(pl.concat([texts.slice(0, 1), texts.slice(2), texts.slice(1, 1)]))
    misread = read_by_lines(SPEC, texts, stored(BEFORE), hashes=shifted)
    assert misread is None or not misread.stored[LINE].equals(hashed.stored[LINE])


@pytest.mark.parametrize("in_place", [False, True])
def test_the_checks_read_a_table_whose_filtered_chunks_come_out_empty(in_place):
    """Seed 58 of a QA sweep: the stored records come in chunks (one per parsing thread, or per
    row group read), and the table of a run by lines is the changed lines' chunk, then the kept
    records in theirs. Class k1's three primary teachers (e1, e3, e7) are in the first and the
    last stored chunk, none in the middle one: the eager filters of the primary check left an empty
    chunk between two others, and Polars' `pl.format` of the warning's message panicked
    (`assertion failed: i < self.len()`), where the whole file's parse warns."""
    data = BEFORE.replace(b"e3,,,k2", b"e3,,,k1") + b"e7,,,k1,s1,u-t2,teacher,true,,\n"
    records = stored(data)
    records = pl.concat([records.slice(0, 3), records.slice(3, 3), records.slice(6)], rechunk=False)
    lines = data.rstrip(b"\n").split(b"\n")
    lines[6] = lines[6].replace(b"u-s2", b"u-s1")  # e6 changed: its own chunk
    delta = read_by_lines(SPEC, line_texts(b"\n".join(lines) + b"\n"), records)
    assert delta is not None and delta.kept == 6
    changed = delta.parsed.rows.with_columns(row_hashes("enrollments", delta.parsed.rows))
    table = delta.with_kept(SPEC, changed, in_place)
    assert table["sourcedId"].n_chunks() > 2

    found = pl.concat(platform_issues({"enrollments": table}, {"enrollments": "bulk"})).collect()
    issues = delta.placed(found, "enrollments.csv")

    whole = parse_csv(b"\n".join(lines) + b"\n", "enrollments.csv").rows
    oracle = pl.concat(platform_issues({"enrollments": whole}, {"enrollments": "bulk"})).collect()
    assert_frame_equal(issues.sort(pl.all()), oracle.sort(pl.all()))
    assert sorted(issues.select("line", "rule").rows()) == [
        (2, "enrollment.primary"),
        (4, "enrollment.primary"),
        (8, "enrollment.primary"),
    ]
