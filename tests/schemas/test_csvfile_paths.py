"""A file reads the same whichever path reads it: the fast one (one Polars parse, proven by
byte counts) or the exact one (the csv module), which takes every file the counts cannot prove.
Each test reads a file both ways: as `parse_csv` reads it, and forced onto the exact path."""

import re

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.schemas import csvfile
from rosterflow.schemas.csvfile import UnreadableFile, parse_csv
from rosterflow.schemas.issues import issue_frame


def fast_rows(data: bytes) -> pl.DataFrame | None:
    """The fast path's reading of `data`, None when Polars refuses it or its counts do not
    prove it."""
    try:
        return csvfile._fast_parse(data, csvfile._header(data), csvfile._byte_counts(data))
    except pl.exceptions.PolarsError:
        return None


def exact(data: bytes) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows, problems = csvfile._exact_parse(data, csvfile._header(data), "x.csv")
    return rows, issue_frame(problems)


def issues_of(frame: pl.DataFrame) -> list[tuple]:
    return frame.select("line", "field", "value", "rule", "severity").rows()


# values whose closing quote is followed by more of the value, which Polars reads (dropping
# each quote that is not doubled): as it reads them
READ_AS_POLARS_READS = {
    "quoted twice": ('""a""', "a"),
    "inner quotes not doubled": ('"Robert "Bob" Smith"', "Robert Bob Smith"),
    "two quoted parts": ('"a" "b"', "a b"),
    "a doubled quote among them": ('"a""b" "c"', 'a"b c'),
}


@pytest.mark.parametrize(
    ("value", "read_as"), READ_AS_POLARS_READS.values(), ids=READ_AS_POLARS_READS.keys()
)
def test_a_value_quoted_amiss_that_polars_reads_reads_alike_on_both_paths(value, read_as):
    # the exact path read `""a""` as `a""` (the csv module), the fast one as `a` (Polars): the
    # same file took one or the other as a line elsewhere was ragged or not
    proven = f"id,name\n1,{value}\n2,Ada\n".encode()
    ragged = proven + b"3\n"  # a short record: the counts fail, the exact path reads the file

    assert fast_rows(proven) is not None and fast_rows(ragged) is None
    fast, slow = parse_csv(proven, "x.csv"), parse_csv(ragged, "x.csv")
    assert fast.rows.rows() == slow.rows.rows() == [("1", read_as, 2), ("2", "Ada", 3)]
    assert fast.issues.height == 0
    assert issues_of(slow.issues) == [(4, None, "3", "file.ragged", "error")]


# values whose closing quote is followed by more of the value, which Polars refuses: a file
# holding one only ever takes the exact path, which reads it as the csv module does
READ_AS_THE_CSV_MODULE_READS = {
    "text after the closing quote": ('"a"b', "ab"),
    "a space after it": ('"a" ', "a "),
    "a quote alone after it": ('"a"b"', 'ab"'),
    "a doubled quote, then text": ('"a""b"c', 'a"bc'),
}


@pytest.mark.parametrize(
    ("value", "read_as"),
    READ_AS_THE_CSV_MODULE_READS.values(),
    ids=READ_AS_THE_CSV_MODULE_READS.keys(),
)
def test_a_value_quoted_amiss_that_polars_refuses_is_read_with_a_warning_naming_it(value, read_as):
    data = f"id,name\n1,Ada\n2,{value}\n".encode()

    assert fast_rows(data) is None
    parsed = parse_csv(data, "users.csv")
    assert parsed.rows.rows() == [("1", "Ada", 2), ("2", read_as, 3)]
    assert issues_of(parsed.issues) == [(3, "name", value, "value.quote", "warning")]
    assert parsed.issues["message"][0] == (
        f"the quote that closes this value is followed by more of it, read as {read_as!r}: "
        'a quote inside a value is doubled ("") and the whole value quoted'
    )


def test_a_value_quoted_amiss_in_a_ragged_record_is_named_beside_it():
    data = b'id,name\n1,"a"b,c\n2,Ada\n'
    parsed = parse_csv(data, "users.csv")
    assert parsed.rows.rows() == [("2", "Ada", 3)]
    assert [(i[0], i[3]) for i in issues_of(parsed.issues)] == [
        (2, "file.ragged"),
        (2, "value.quote"),
    ]


def test_a_quote_left_open_after_a_value_quoted_amiss_is_still_named_where_it_opens():
    parsed = parse_csv(b'id,name\n1,"a"b\n2,"Ada\n3,Al\n', "users.csv")
    assert [(i[0], i[1], i[3]) for i in issues_of(parsed.issues)] == [
        (2, "name", "value.quote"),
        (3, "name", "file.quote"),
    ]


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_records_spanning_lines_quoted_well_take_the_fast_path(line_end):
    # the look at the records Polars reads across lines passes those quoted as they should be
    text = 'a,b\n1,"x\ny"\n2,z\n3,"p, ""q""\n\nr"\n4,"s"\n5,"t\n"\n'.replace("\n", line_end)
    data = text.encode()

    rows = fast_rows(data)
    assert rows is not None
    assert rows["__line"].to_list() == [2, 4, 5, 8, 9]
    assert_frame_equal(rows, exact(data)[0])


@pytest.mark.parametrize(
    "data",
    [
        b'h1,h2,h3\n,,a\n,""","a"\n""",\n',  # found by the property below
        b'a,b\n1,"a"b"c\nd"\n2,x\n',  # Polars: ("1", "abc\nd"); the csv module: ("1", 'ab"c')
        b'a,b\r\n1,"x\r\ny"\r\n2,"p" "q\r\nr"\r\n3,s\r\n',
    ],
)
def test_a_value_quoted_amiss_that_polars_takes_across_lines_reads_as_the_exact_path_reads_it(
    data,
):
    # Polars took the value on across the line end after it (an even number of quotes left
    # open), the csv module ended the record there: the counts proved Polars' records
    assert fast_rows(data) is None
    rows, issues = exact(data)
    parsed = parse_csv(data, "x.csv")
    assert_frame_equal(parsed.rows, rows)
    assert_frame_equal(parsed.issues, issues)


def test_a_quote_the_csv_module_leaves_open_and_polars_closes_reads_as_polars_reads_it():
    # `","a","`: the csv module closes the value at its second quote and takes the last one to
    # open a value running to the end of the file; Polars, counting quotes, reads `,a,`
    data = b'h1,h2,h3\n,,","a","\n'
    rows, issues = exact(data)
    assert rows.rows() == [(None, None, ",a,", 2)]
    assert issues.height == 0
    assert_frame_equal(fast_rows(data), rows)


def test_records_quoted_amiss_on_the_exact_path_are_read_by_polars_in_one_parse(monkeypatch):
    # an export that quotes a column twice in every record, and a ragged record: one parse of
    # them all, not one a record (a second each at 10,000 records)
    records = [f'{i},""n{i}""' for i in range(3000)]
    data = "\n".join(["id,name", *records, "3000", ""]).encode()
    parses = []
    values = csvfile._polars_values
    monkeypatch.setattr(csvfile, "_polars_values", lambda *a: parses.append(1) or values(*a))

    parsed = parse_csv(data, "users.csv")

    assert parses == [1]
    assert parsed.rows["name"].to_list() == [f"n{i}" for i in range(3000)]
    assert issues_of(parsed.issues) == [(3002, None, "3000", "file.ragged", "error")]


def test_records_quoted_amiss_that_polars_refuses_are_named_in_the_order_of_their_lines():
    data = b'id,name\n1,"a"b,c\n2,""x""\n3\n4,"d"e\n5,"f" \n'
    parsed = parse_csv(data, "users.csv")
    assert parsed.rows.rows() == [("2", "x", 3), ("4", "de", 5), ("5", "f ", 6)]
    assert [(i[0], i[3]) for i in issues_of(parsed.issues)] == [
        (2, "file.ragged"),
        (4, "file.ragged"),
        (2, "value.quote"),
        (5, "value.quote"),
        (6, "value.quote"),
    ]


def test_a_value_longer_than_128_kib_reads_alike_on_both_paths():
    # the csv module refuses a value of more than 131,072 characters, which Polars reads: the
    # exact path refused such a file (exit 2) that the fast path read whole
    huge = "é" * 140_000  # characters, as the csv module counts them
    proven = f'id,note\n1,"{huge}\nmore"\n2,b\n'.encode()
    ragged = proven + b"3\n"

    assert fast_rows(proven) is not None and fast_rows(ragged) is None
    fast, slow = parse_csv(proven, "x.csv"), parse_csv(ragged, "x.csv")
    assert_frame_equal(fast.rows, slow.rows)
    assert fast.rows["note"][0] == huge + "\nmore"
    assert fast.rows["__line"].to_list() == [2, 4]


def test_a_header_name_longer_than_128_kib_is_still_no_header():
    with pytest.raises(UnreadableFile, match=r"x.csv line 1: not a CSV header line \(field larger"):
        parse_csv(b"id," + b"x" * 140_000 + b"\n1,2\n", "x.csv")


def test_a_quote_left_open_in_a_file_over_128_kib_is_an_error_on_its_line():
    # it took in the lines after it until its value passed 128 KiB, and the file was refused;
    # read to the end as the value it opens, it is the error `file.quote` on its line
    records = [f"u{i},Name {i}" for i in range(12_000)]
    records[5] = 'u5,"Name 5'
    parsed = parse_csv("\n".join(["id,name", *records, ""]).encode(), "users.csv")
    assert parsed.rows["id"].to_list() == ["u0", "u1", "u2", "u3", "u4", "u5"]
    assert parsed.rows["name"][5].startswith("Name 5\nu6,Name 6\n")
    assert issues_of(parsed.issues) == [(7, "name", '"Name 5', "file.quote", "error")]


# --- any small file: whatever the fast path proves reads as the exact path reads it ----------

_TEXT = st.text(alphabet='ab ",\n', max_size=4)
_QUOTED = _TEXT.map(lambda text: '"' + text.replace('"', '""') + '"')
# a quoted value and what may follow its closing quote: most often nothing
_AMISS = st.tuples(_QUOTED, st.sampled_from(["", "", "", "a", '"', ' "b"', 'a"'])).map("".join)
_FIELD = st.one_of(_TEXT, _QUOTED, _AMISS)


@settings(max_examples=250, deadline=None)
@given(
    st.lists(st.lists(_FIELD, min_size=1, max_size=3), max_size=5),
    st.sampled_from(["\n", "\r\n"]),
)
@example([['""a""']], "\n")
@example([['"a" "b"', '"x\n"']], "\n")
@example([["x"], ['"a"b', '"c"d"']], "\r\n")
def test_every_file_the_fast_path_proves_reads_as_the_exact_path_reads_it(records, line_end):
    """Fields of every kind: unquoted ones with any quotes and line breaks in them, quoted
    ones, and quoted ones followed by more text after their closing quote."""
    lines = ["h1,h2,h3", *(",".join(fields) for fields in records)]
    data = (line_end.join(lines) + line_end).encode()
    rows, issues = exact(data)
    if fast_rows(data) is not None:
        parsed = parse_csv(data, "x.csv")
        assert_frame_equal(parsed.rows, rows)
        assert_frame_equal(parsed.issues, issues)


# --- a file whose lines are each a record: read line by line, as the exact path reads it -------


def by_lines(data: bytes) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    return csvfile._line_parse(data, csvfile._header(data), "x.csv", csvfile._byte_counts(data))


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.lists(_FIELD, min_size=1, max_size=4), max_size=6),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
    st.sampled_from(["h1,h2,h3", '"h1","h2","h3"', "h1"]),
)
@example([["a", "b", "c"], ["a", "b"]], "\n", True, "h1,h2,h3")  # one ragged record
@example([["a"], ['""'], [""], ['"x,y"', "b", '""']], "\r\n", False, "h1,h2,h3")
@example([['"a""b"', "c"], ['"', "x"]], "\n", True, "h1,h2,h3")  # a quote left open
@example([['"a"b', "c", "d"], ["x"], ['"p\nq"', "r", "s"]], "\r\n", True, "h1,h2,h3")
def test_a_file_read_line_by_line_reads_as_the_exact_path_reads_it(
    records, line_end, ended, header
):
    """Whatever `_line_parse` reads (lines each a record or blank, ragged or not, the last
    line ended or not; the lines of values quoted amiss or spanning lines read by the csv
    module from where they start) reads as the csv module reads the whole file; a file each
    of whose lines is one record it always reads."""
    read_by_lines_as_whole(records, line_end, ended, header)


# control characters (NUL, a vertical tab, a file separator, and the byte `_line_parse` splits
# lines on, which sends a file to the exact path)
_CONTROLLED = st.text(alphabet='ab",\n\x00\x0b\x1c\x01', max_size=4)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.one_of(_CONTROLLED, _FIELD), min_size=1, max_size=4), max_size=5),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
@example([["\x01"]], "\n", False)  # (Polars drops the empty parts it splits that line into)
@example([["a\x00", '"\x0b"', "c"], ["x", "y"]], "\r\n", True)
def test_a_file_with_control_characters_read_line_by_line_reads_as_the_exact_path_reads_it(
    records, line_end, ended
):
    read_by_lines_as_whole(records, line_end, ended, "h1,h2,h3")


def read_by_lines_as_whole(records, line_end, ended, header) -> None:
    lines = [header, *(",".join(fields) for fields in records)]
    data = (line_end.join(lines) + (line_end if ended else "")).encode()
    rows, issues = exact(data)
    read = by_lines(data)
    physical = [line.removesuffix("\r") for line in data.decode().removesuffix("\n").split("\n")]
    if "\x01" not in data.decode() and all(
        '"' not in line or re.fullmatch(csvfile._WELL_QUOTED_RECORD, line) for line in physical
    ):
        assert read is not None
    if read is not None:
        assert_frame_equal(read[0], rows)
        assert_frame_equal(read[1], issues)


def test_a_large_file_with_a_ragged_record_is_not_read_by_the_csv_module(monkeypatch):
    # the whole file through the module: a 200k-student enrollments.csv with one ragged
    # record took seconds and a GiB and a half more than its parse
    rows = [f'{n},"name, {n}",x' for n in range(2_000)]
    rows[700] += ",extra"
    data = ("id,name,note\n" + "\n".join(rows) + "\n").encode()
    monkeypatch.setattr(csvfile, "_exact_parse", lambda *_: pytest.fail("read whole"))

    parsed = parse_csv(data, "x.csv")

    assert parsed.rows.height == 1_999
    assert parsed.rows.filter(pl.col("__line") == 703)["name"].to_list() == ["name, 701"]
    assert issues_of(parsed.issues) == [
        (702, None, "700,name, 700,x,extra", "file.ragged", "error")
    ]


@pytest.mark.parametrize(
    ("spanning", "read_on"),
    [
        ('"' + "\n".join(f"line {n}" for n in range(40)) + '"', False),
        # past the longest span tried: read on to the end of the file, as a quote left open is
        ('"' + "\n".join(f"line {n}" for n in range(100)) + '"', True),
        ('"a"b', False),  # quoted amiss: the csv module reads its line alone
        ('"left open', True),
    ],
    ids=["a value over 40 lines", "over 100 lines", "a value quoted amiss", "a quote left open"],
)
def test_the_csv_module_reads_only_from_the_lines_that_need_it(spanning, read_on, monkeypatch):
    rows = [f"{n},x{n},y" for n in range(300)]
    rows[20] = f"20,{spanning},y"
    rows[250] += ",extra"  # ragged, after the value
    data = ("id,name,note\n" + "\n".join(rows) + "\n").encode()
    whole = exact(data)
    read = []
    module = csvfile._exact_read
    monkeypatch.setattr(
        csvfile, "_exact_read", lambda data, *a: read.append(len(data)) or module(data, *a)
    )

    rows_read, issues = by_lines(data)

    assert_frame_equal(rows_read, whole[0])
    assert_frame_equal(issues, whole[1])
    assert (sum(read) > len(data) / 2) == read_on


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(_FIELD, min_size=1, max_size=4), max_size=8),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.booleans(),
    st.integers(1, 3),
)
def test_the_csv_module_s_records_held_a_few_at_a_time_read_as_all_at_once(
    records, line_end, ended, held
):
    """The exact path settles its records into a frame every `_RECORDS_HELD` of them (a file
    of millions held as Python strings at once took 10 GB): any number reads alike."""
    lines = ["h1,h2,h3", *(",".join(fields) for fields in records)]
    data = (line_end.join(lines) + (line_end if ended else "")).encode()
    bare_crs = data.count(b"\r") - data.count(b"\r\n")
    whole = csvfile._exact_read(data, csvfile._header(data), "x.csv", bare_crs)

    previous = csvfile._RECORDS_HELD
    csvfile._RECORDS_HELD = held
    try:
        in_parts = csvfile._exact_read(data, csvfile._header(data), "x.csv", bare_crs)
    finally:
        csvfile._RECORDS_HELD = previous

    assert_frame_equal(in_parts[0], whole[0])
    assert in_parts[1:] == whole[1:]
