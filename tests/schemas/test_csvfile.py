import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas import csvfile
from rosterflow.schemas.csvfile import UnreadableFile, parse_csv


def rows_of(data: bytes) -> list[tuple]:
    return parse_csv(data, "x.csv").rows.rows()


def test_values_stay_text_and_empty_is_null():
    parsed = parse_csv(b'a,b,c\n007,,""\n', "x.csv")
    assert parsed.header == ("a", "b", "c")
    assert parsed.rows.schema == {
        "a": pl.String,
        "b": pl.String,
        "c": pl.String,
        "__line": pl.Int64,
    }
    assert parsed.rows.rows() == [("007", None, None, 2)]


def test_bom_and_crlf_read_like_plain_lf():
    plain = parse_csv(b"a,b\n1,2\n3,4\n", "x.csv")
    exported = parse_csv(b"\xef\xbb\xbfa,b\r\n1,2\r\n3,4\r\n", "x.csv")
    assert exported.header == ("a", "b")
    assert_frame_equal(plain.rows, exported.rows)


def test_quoted_commas_quotes_and_line_breaks_keep_record_start_lines():
    data = b'a,b\r\n1,"x, ""y"""\r\n2,"two\r\nline\r\nvalue"\r\n3,z\r\n4,"w\nv"\n5,last'
    assert rows_of(data) == [
        ("1", 'x, "y"', 2),
        ("2", "two\r\nline\r\nvalue", 3),
        ("3", "z", 6),
        ("4", "w\nv", 7),
        ("5", "last", 9),
    ]


def test_blank_lines_are_not_records_and_do_not_shift_lines():
    assert rows_of(b"a,b\n1,2\n\n3,4\n\n") == [("1", "2", 2), ("3", "4", 4)]


@pytest.mark.parametrize(
    ("data", "line", "fields"),
    [
        (b"a,b,c\n1,2,3\n4,5\n6,7,8\n", 3, 2),  # short row
        (b"a,b,c\n1,2,3\n4,5,6,7\n6,7,8\n", 3, 4),  # long row
        (b'a,b,c\n1,"x\ny",3\n4\n6,7,8\n', 4, 1),  # after a multi-line value
    ],
)
def test_ragged_rows_are_reported_by_line_and_left_out(data, line, fields):
    parsed = parse_csv(data, "x.csv")
    assert parsed.issues.select("file", "line", "rule", "severity").rows() == [
        ("x.csv", line, "file.ragged", "error")
    ]
    assert f"{fields} fields" in parsed.issues["message"][0]
    assert line not in parsed.rows["__line"].to_list()
    assert parsed.rows.height == 2


def test_stray_quote_inside_a_value_is_read_literally():
    assert rows_of(b'a,b\n1,ab"c\n2,d\n') == [("1", 'ab"c', 2), ("2", "d", 3)]


def test_not_utf8_names_the_line():
    with pytest.raises(UnreadableFile, match=r"x.csv line 3: not UTF-8"):
        parse_csv(b"a,b\n1,2\n3,\xff\xfe\n", "x.csv")


def test_header_only_file_has_no_rows():
    parsed = parse_csv(b"a,b\r\n", "x.csv")
    assert parsed.header == ("a", "b")
    assert parsed.rows.height == 0


def test_comma_in_a_column_expected_plain_is_still_read_exactly():
    data = b'a,b\n"x,y",1\nz,"2,3"\n'
    parsed = parse_csv(data, "x.csv", plain_columns=frozenset({"a"}))
    assert parsed.rows.rows() == [("x,y", "1", 2), ("z", "2,3", 3)]
    assert parsed.issues.height == 0


def test_short_row_is_caught_even_when_its_columns_are_not_scanned():
    parsed = parse_csv(b"a,b,c\n1,2,3\n4,5\n", "x.csv", plain_columns=frozenset({"a", "b", "c"}))
    assert parsed.issues.select("line", "rule").rows() == [(3, "file.ragged")]


def test_quoted_empty_values_are_null_in_only_the_columns_that_have_them():
    data = b'a,b,c\n"1","","x"\n"2","y",""\n3,z,w\n'
    assert rows_of(data) == [("1", None, "x", 2), ("2", "y", None, 3), ("3", "z", "w", 4)]


@pytest.mark.parametrize(
    "data",
    [
        b'a,b\n,1\n"",2\n3,\n',  # the first column empty, unquoted and quoted
        b"a,b\n1,2\n,\n3,4\n",  # a line of bare commas
        b'a,b\n1,2\n""\n3,4\n',  # a line holding only a quoted empty value
    ],
)
def test_empty_first_column_and_blank_records_read_as_the_csv_module_reads_them(data):
    exact = csvfile._exact_parse(data, csvfile._header(data), "x.csv")
    parsed = parse_csv(data, "x.csv")
    assert_frame_equal(parsed.rows, exact.rows)
    assert_frame_equal(parsed.issues, exact.issues)


@pytest.mark.parametrize(
    "data",
    [
        b'a,b\r\n1,"x\r\ny"\r\n2,z\r\n',
        b"a,b\n1,2\n3\n",  # ragged: the exact path
        b'a,b\n1,"x,y"\n',
    ],
)
def test_a_byte_order_mark_changes_nothing(data):
    plain, marked = parse_csv(data, "x.csv"), parse_csv(csvfile.BOM + data, "x.csv")
    assert marked.header == plain.header
    assert_frame_equal(marked.rows, plain.rows)
    assert_frame_equal(marked.issues, plain.issues)


def test_not_utf8_after_a_byte_order_mark_names_the_same_line_and_offset():
    data = b"a,b\n1,2\n3,\xff\n"
    with pytest.raises(UnreadableFile) as plain:
        parse_csv(data, "x.csv")
    with pytest.raises(UnreadableFile) as marked:
        parse_csv(csvfile.BOM + data, "x.csv")
    assert str(marked.value) == str(plain.value)


@pytest.mark.parametrize("data", [b"", b"a", b",\n,,\n\n", bytes(range(256)) * 1000])
def test_byte_counts(data):
    assert csvfile._byte_counts(data) == (data.count(b","), data.count(b"\n"))


def test_rows_are_one_chunk_per_column():
    data = b"a,b\n" + b"".join(b"%d,x\n" % i for i in range(200_000))
    rows = parse_csv(data, "x.csv").rows
    assert rows.n_chunks("all") == [1] * rows.width


def test_commas_in_values_are_counted_alike_in_files_too_big_to_join(monkeypatch):
    data = b'a,b,c\n1,"x,y",z\n2,"p,q,r",\n3,,"s,t"\n'
    header, plain = csvfile._header(data), frozenset({"a"})
    joined = csvfile._fast_parse(data, header, plain)
    monkeypatch.setattr(csvfile, "_JOINABLE_BYTES", 0)
    per_value = csvfile._fast_parse(data, header, plain)
    assert joined is not None and per_value is not None  # the fast path's proof holds in both
    assert_frame_equal(per_value, joined)
    assert_frame_equal(joined, parse_csv(data, "x.csv", plain).rows)
