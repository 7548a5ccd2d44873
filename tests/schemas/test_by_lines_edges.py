"""Edges of reading a file by its lines (`schemas.lines`, `schemas.by_lines`): bytes whose
lines a text split shows otherwise than the whole file's parse reads them."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.schemas.by_lines import kept_fields, read_by_lines
from rosterflow.schemas.csvfile import LINE, UnreadableFile, parse_csv
from rosterflow.schemas.lines import (
    LINE_KEY,
    line_hash,
    line_hashes,
    line_keys,
    line_texts,
    summary,
)
from rosterflow.schemas.records import ROW_HASH, row_hashes
from rosterflow.schemas.spec import FILE_SPECS
from tests.feeds import feed_files, tiny_district

SPEC = FILE_SPECS["enrollments"]
FIELDS = ["sourcedId", ROW_HASH, *kept_fields("sourcedId")["enrollments"]]
BEFORE = feed_files(tiny_district())["enrollments.csv"]
LINES = BEFORE.rstrip(b"\n").split(b"\n")  # the header, then e1 ... e6 on lines 2 to 7


def stored(data: bytes) -> pl.DataFrame:
    """The records a run stores of this enrollments.csv: its rows, with row hashes and keys."""
    rows = parse_csv(data, "enrollments.csv").rows
    keys = line_keys(line_hash(line_texts(data)))
    return rows.with_columns(
        row_hashes("enrollments", rows), keys.gather(rows[LINE] - 2).alias(LINE_KEY)
    ).select(FIELDS)


def test_a_cr_that_ends_the_file_is_part_of_the_last_line():
    """`u1,Ada` then a CR alone is a line the parse warns about, not the line `u1,Ada`: its
    text keeps the CR, so neither its hash nor the file's summary is that of the clean file."""
    clean, with_cr = b"sourcedId,name\nu1,Ada\n", b"sourcedId,name\nu1,Ada\r"

    assert line_texts(with_cr).to_list() == ["sourcedId,name", "u1,Ada\r"]
    assert line_texts(b"h\r\r").to_list() == ["h\r\r"]
    assert line_texts(b"h\n\r").to_list() == ["h", "\r"]
    assert summary(line_hashes(with_cr)) != summary(line_hashes(clean))
    assert parse_csv(with_cr, "users.csv").issues["rule"].to_list() == ["file.line_endings"]
    # CRLF and a last line without an end are still the clean file's lines
    assert summary(line_hashes(clean.replace(b"\n", b"\r\n"))) == summary(line_hashes(clean))


def test_a_changed_line_ending_in_cr_cr_lf_is_left_to_the_whole_parse():
    """e2 edited, its line ended in CR CR LF: the whole parse reads the first CR as a line
    end of its own (a warning, and every later record a line further on); the changed lines
    joined by LFs would read it as a plain CRLF, so only the whole parse can answer."""
    edited = LINES[2].replace(b"student", b"teacher") + b"\r\r"
    data = b"\n".join([LINES[0], LINES[1], edited, *LINES[3:]]) + b"\n"
    whole = parse_csv(data, "enrollments.csv")
    assert whole.issues["rule"].to_list() == ["file.line_endings"]
    assert whole.rows[LINE].to_list() == [2, 3, 5, 6, 7, 8]

    assert read_by_lines(SPEC, line_texts(data), stored(BEFORE)) is None


def test_a_header_ending_in_cr_cr_lf_is_left_to_the_whole_parse():
    data = b"\n".join([LINES[0] + b"\r\r", *LINES[1:]]) + b"\n"
    assert read_by_lines(SPEC, line_texts(data), stored(BEFORE)) is None


def test_a_file_ending_in_a_cr_alone_keeps_no_line_of_its_last_record():
    """The last line, e6, ends in a CR alone: it is not e6's stored line, and is parsed."""
    data = b"\n".join(LINES) + b"\r"
    assert read_by_lines(SPEC, line_texts(data), stored(BEFORE)) is None


def test_a_second_byte_order_mark_is_left_to_the_whole_parse():
    """A byte-order mark prepended to a file that had one: the whole parse finds the header's
    first name to be \\ufeffsourcedId (an error); the changed lines' file must not lose the
    second mark as if it were the first, and read a good header."""
    data = b"\xef\xbb\xbf\xef\xbb\xbf" + b"\n".join(LINES) + b"\n"
    assert parse_csv(data, "enrollments.csv").header[0] == "\ufeffsourcedId"

    assert read_by_lines(SPEC, line_texts(data), stored(BEFORE)) is None


# bytes a line may gain: line ends of every kind, quotes, separators, marks, control
# characters, and what some text tools take for a line end (U+2028, NEL)
FRAGMENTS = [
    b"\r", b"\n", b"\r\n", b"\r\r\n", b"\n\r", b'"', b'""', b",", b" ", b"\t", b"\x00",
    b"\x0b", b"\x0c", b"\x1e", b"\xef\xbb\xbf", b"\xe2\x80\xa8", b"\xc2\x85", b"x",
]  # fmt: skip
KEPT = list(dict.fromkeys(FIELDS[:1] + FIELDS[2:-1]))  # the stored fields, but the hash and key


@settings(max_examples=200, deadline=None)
@given(
    body=st.permutations(LINES[1:]),
    kept=st.integers(0, len(LINES) - 1),
    damage=st.lists(
        st.tuples(st.integers(0, len(LINES) - 1), st.integers(0, 80), st.sampled_from(FRAGMENTS)),
        max_size=3,
    ),
    line_end=st.sampled_from([b"\n", b"\r\n"]),
    file_end=st.sampled_from([b"", b"\n", b"\r\n", b"\r", b"\n\n"]),
    mark=st.booleans(),
)
def test_a_file_read_by_its_lines_is_the_file_its_whole_parse_reads(
    body, kept, damage, line_end, file_end, mark
):
    """Whenever the changed lines and the stored records answer, the whole file's parse reads
    the very records on the very lines, every line one record, without an issue: else the
    answer would stand for a file the full run reads otherwise."""
    lines = [LINES[0], *body[:kept]]
    for at, position, fragment in damage:
        at %= len(lines)
        lines[at] = lines[at][:position] + fragment + lines[at][position:]
    data = (b"\xef\xbb\xbf" if mark else b"") + line_end.join(lines) + file_end
    delta = read_by_lines(SPEC, line_texts(data), stored(BEFORE))
    if delta is None:
        return
    try:
        whole = parse_csv(data, "enrollments.csv")
    except UnreadableFile as error:
        raise AssertionError(f"the whole parse refuses the file: {error}") from None

    assert whole.header == SPEC.header
    assert whole.issues.height == 0, whole.issues
    assert whole.one_line_records
    kept_records = delta.stored.filter(pl.col(LINE).is_not_null()).select(*KEPT, LINE)
    read = pl.concat([delta.parsed.rows.select(*KEPT, LINE), kept_records]).sort(LINE)
    assert_frame_equal(read, whole.rows.select(*KEPT, LINE).sort(LINE))
