import codecs

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.schemas import csvfile
from rosterflow.schemas.csvfile import BOM, UnreadableFile, parse_csv
from rosterflow.schemas.issues import issue_frame


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


def test_comma_in_an_identifier_column_is_read_exactly():
    data = b'a,b\n"x,y",1\nz,"2,3"\n'
    parsed = parse_csv(data, "x.csv")
    assert parsed.rows.rows() == [("x,y", "1", 2), ("z", "2,3", 3)]
    assert parsed.issues.height == 0


def test_short_row_is_caught():
    parsed = parse_csv(b"a,b,c\n1,2,3\n4,5\n", "x.csv")
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
    rows, problems = csvfile._exact_parse(data, csvfile._header(data), "x.csv")
    parsed = parse_csv(data, "x.csv")
    assert_frame_equal(parsed.rows, rows)
    assert_frame_equal(parsed.issues, issue_frame(problems))


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
    others = sum(data.count(bytes([code])) for code in range(32) if code not in b"\n\r")
    counts = csvfile._byte_counts(data)
    assert counts == (
        data.count(b","),
        data.count(b"\n"),
        others,
        data.count(b'"'),
        data.count(b"\r"),
        sum(byte >= 0x80 for byte in data),
    )
    assert csvfile._bare_crs(data, counts) == data.count(b"\r") - data.count(b"\r\n")


_UNQUOTED = st.text(alphabet="ab ,", max_size=3)
_QUOTED = st.text(alphabet='ab ,\n"', max_size=3).map(
    lambda text: '"' + text.replace('"', '""') + '"'
)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.lists(st.one_of(_UNQUOTED, _QUOTED), min_size=1, max_size=4), max_size=8),
    st.booleans(),
)
def test_every_file_reads_as_the_csv_module_reads_it(records, line_end):
    """Whatever the fast path's counts accept reads as the strict reader reads it, records,
    lines and issues alike: short, long and blank lines among quoted commas, quotes and line
    breaks (a file without a double quote is proven from its byte counts alone)."""
    data = "\n".join(["h1,h2,h3", *(",".join(fields) for fields in records)]).encode()
    data += b"\n" if line_end else b""
    rows, problems = csvfile._exact_parse(data, csvfile._header(data), "x.csv")
    parsed = parse_csv(data, "x.csv")
    assert_frame_equal(parsed.rows, rows)
    assert_frame_equal(parsed.issues, issue_frame(problems))


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"h1,h2,h3\n,\n,a\n", [2, 3]),  # a short line of bare commas beside a short record
        (b"h1,h2,h3\n,a\n,a,,", [2, 3]),  # a short record, and a long last line without an end
        (b"h1,h2,h3\n1,2,3\n4,5,6,", [3]),
    ],
)
def test_ragged_records_whose_commas_balance_are_still_ragged(data, lines):
    parsed = parse_csv(data, "x.csv")
    assert [(issue[1], issue[4]) for issue in issues_of(parsed)] == [
        (line, "file.ragged") for line in lines
    ]


def test_rows_are_one_chunk_per_column():
    data = b"a,b\n" + b"".join(b"%d,x\n" % i for i in range(200_000))
    rows = parse_csv(data, "x.csv").rows
    assert rows.n_chunks("all") == [1] * rows.width


def test_commas_in_values_are_counted_alike_in_files_too_big_to_join(monkeypatch):
    data = b'a,b,c\n1,"x,y",z\n2,"p,q,r",\n3,,"s,t"\n'
    header, counts = csvfile._header(data), csvfile._byte_counts(data)
    joined = csvfile._fast_parse(data, header, counts)
    monkeypatch.setattr(csvfile, "_JOINABLE_BYTES", 0)
    per_value = csvfile._fast_parse(data, header, counts)
    assert joined is not None and per_value is not None  # the fast path's proof holds in both
    assert_frame_equal(per_value, joined)
    assert_frame_equal(joined, parse_csv(data, "x.csv").rows)


# --- what a strict reader chokes on or lets through (issue 30) -------------------------------


def issues_of(parsed) -> list[tuple]:
    return parsed.issues.select("file", "line", "field", "value", "rule", "severity").rows()


@pytest.mark.parametrize(
    "lf",
    [
        b"a,b\n1,2\n3,4\n",
        b'a,b\n1,"two\nlines"\n3,4\n',  # a quoted value's line break is a CR too
        b"a,b\n1,2\n\n3,4",  # a blank line, no line end at the end
        b"a,b\n",  # the header alone
    ],
)
def test_cr_only_line_endings_read_like_lf_with_a_warning(lf):
    plain = parse_csv(lf, "x.csv")
    mac = parse_csv(lf.replace(b"\n", b"\r"), "x.csv")
    assert mac.header == plain.header
    assert_frame_equal(mac.rows, plain.rows)
    assert issues_of(mac) == [("x.csv", None, None, None, "file.line_endings", "warning")]
    assert plain.issues.height == 0


def test_cr_only_lines_keep_their_numbers_on_the_exact_path():
    parsed = parse_csv(b"a,b\r1,2\r3\r4,5\r", "x.csv")  # line 3 is ragged
    assert parsed.rows.rows() == [("1", "2", 2), ("4", "5", 4)]
    assert [(i[1], i[4]) for i in issues_of(parsed)] == [
        (None, "file.line_endings"),
        (3, "file.ragged"),
    ]


LINE_ENDS_ALONE = ("file.line_endings", "warning")


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
def test_a_cr_alone_in_an_unquoted_value_ends_its_line_with_a_warning(line_end):
    # never kept in the value, which reached lms: its record is cut in two, each ragged
    data = b"id,name,note\n1,Sa\rmuel,x\n2,Bo,y\n".replace(b"\n", line_end)
    parsed = parse_csv(data, "users.csv")
    assert parsed.rows.rows() == [("2", "Bo", "y", 4)]
    assert [(i[1], i[4]) for i in issues_of(parsed)] == [
        (None, "file.line_endings"),
        (2, "file.ragged"),
        (3, "file.ragged"),
    ]
    assert parsed.issues["message"][0].startswith("1 line of the file ends in a carriage return")


@pytest.mark.parametrize(
    "data",
    [
        b"a,b\r\n1,2\n3,4\r5,6\r\n7,8\n",  # CRLF, LF and a CR alone, mixed
        b"a,b\n1,2\n3,4\r5,6\n7,8\n",  # a single CR alone after the first line
        b"a,b\r1,2\n3,4\n5,6\n7,8",  # the first line's alone
        b"a,b\n1,2\n3,4\n5,6\n7,8\r",  # the last line's alone
    ],
)
def test_a_cr_alone_ending_any_line_is_a_line_end_with_a_warning(data):
    parsed = parse_csv(data, "x.csv")
    assert parsed.rows.rows() == [("1", "2", 2), ("3", "4", 3), ("5", "6", 4), ("7", "8", 5)]
    assert [i[4:] for i in issues_of(parsed)] == [LINE_ENDS_ALONE]


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
def test_a_cr_alone_inside_quotes_is_part_of_the_value_without_a_word(line_end):
    data = b'a,b\n1,"x\ry"\n2,z\n'.replace(b"\n", line_end)
    parsed = parse_csv(data, "x.csv")
    # a line break within the value, as an LF in it is: the next record starts a line later
    assert parsed.rows.rows() == [("1", "x\ry", 2), ("2", "z", 4)]
    assert parsed.issues.height == 0


_CR_UNQUOTED = st.text(alphabet="a,\r", max_size=3)
_CR_QUOTED = st.text(alphabet='a,\r\n"', max_size=3).map(
    lambda text: '"' + text.replace('"', '""') + '"'
)


def _cr_alone_outside_quotes(data: bytes) -> bool:
    """Whether a CR that no LF follows stands outside quotes, read as the csv module reads a
    file (a quote at the start of a field opens a value, one alone in it closes the value)."""
    text, quoted, field_start, at = data.decode(), False, True, 0
    while at < len(text):
        character = text[at]
        if quoted and character == '"':
            doubled = text[at + 1 : at + 2] == '"'
            at, quoted = at + doubled, doubled
        elif not quoted:
            if character == '"' and field_start:
                quoted = True
            elif character == "\r" and text[at + 1 : at + 2] != "\n":
                return True
        field_start = not quoted and character in ",\r\n"
        at += 1
    return False


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.one_of(_CR_UNQUOTED, _CR_QUOTED), min_size=2, max_size=2), max_size=6),
    st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=7, max_size=7),
)
def test_a_cr_alone_is_a_line_end_with_a_warning_or_inside_quotes_never_in_between(
    records, line_ends
):
    """Whatever the CRs, the file reads as the csv module reads it (a CR alone, LF or CRLF
    ends a line; inside quotes, a value's line), and it has the warning exactly when a CR
    alone stands outside quotes: never kept in an unquoted value, never a silent line end."""
    lines = ["h1,h2", *(",".join(fields) for fields in records)]
    data = "".join(line + end for line, end in zip(lines, line_ends, strict=False)).encode()
    parsed = parse_csv(data, "x.csv")
    # with no LF at all, every CR is read as one (a quoted value's too)
    rows, _ = csvfile._exact_parse(data if b"\n" in data else data.replace(b"\r", b"\n"), ("h1", "h2"), "x.csv")  # fmt: skip
    assert_frame_equal(parsed.rows, rows)
    warned = LINE_ENDS_ALONE in [i[4:] for i in issues_of(parsed)]
    assert warned == _cr_alone_outside_quotes(data)


@pytest.mark.parametrize("control", [0x00, 0x01, 0x08, 0x0B, 0x0C, 0x1B, 0x1F])
def test_a_control_character_in_a_value_is_an_error_naming_line_and_field(control):
    data = b"id,name,note\n1,Ada,x\n2,A%cda,y\n3,Bo,z\n" % control
    parsed = parse_csv(data, "users.csv")
    assert issues_of(parsed) == [
        ("users.csv", 3, "name", f"A\\x{control:02x}da", "value.control", "error")
    ]
    assert "control character" in parsed.issues["message"][0]
    assert parsed.rows.height == 3  # the record is read; the error rejects the feed


def test_every_control_character_of_a_file_is_reported_on_both_paths():
    fast = b'id,name\n1,"a\x00b"\n2,ok\n3,c\x07\n'
    exact = fast + b"4\n"  # a ragged line sends the file to the csv module
    for data in (fast, exact):
        found = [i for i in issues_of(parse_csv(data, "x.csv")) if i[4] == "value.control"]
        assert found == [
            ("x.csv", 2, "name", "a\\x00b", "value.control", "error"),
            ("x.csv", 4, "name", "c\\x07", "value.control", "error"),
        ]


def test_tabs_and_quoted_line_breaks_are_no_control_characters():
    data = b'id,name\n1,"tab\there"\n2,"cr\r\nlf"\n3,plain\n'
    parsed = parse_csv(data, "x.csv")
    assert parsed.issues.height == 0
    assert parsed.rows["name"].to_list() == ["tab\there", "cr\r\nlf", "plain"]


def test_a_control_character_beside_tabs_is_still_found():
    # tabs make the first count ambiguous: the second pass tells them apart
    parsed = parse_csv(b"id,name\n1,a\tb\n2,c\x00d\n", "x.csv")
    assert [i[1:5] for i in issues_of(parsed)] == [(3, "name", "c\\x00d", "value.control")]


def test_a_control_character_in_the_header_is_an_error_on_line_1():
    parsed = parse_csv(b"id,na\x00me\n1,a\n", "x.csv")
    assert issues_of(parsed) == [("x.csv", 1, None, "na\\x00me", "value.control", "error")]


@pytest.mark.parametrize("marked", [b"", csvfile.BOM], ids=["plain", "with its own BOM"])
@pytest.mark.parametrize("ragged", [b"", b"9\n"], ids=["fast path", "exact path"])
def test_a_repeated_header_line_is_one_error_on_its_line_and_no_record(marked, ragged):
    first = b"id,status,name\n1,active,Ada\n2,,Bo\n"
    second = b"id,status,name\n3,active,Cy\n"
    parsed = parse_csv(first + marked + second + ragged, "users.csv")
    assert parsed.rows.rows() == [("1", "active", "Ada", 2), ("2", None, "Bo", 3), ("3", "active", "Cy", 5)]  # fmt: skip
    repeated = [i for i in issues_of(parsed) if i[4] == "header.repeated"]
    assert repeated == [("users.csv", 4, None, "id,status,name", "header.repeated", "error")]


def test_a_record_that_only_starts_like_the_header_is_a_record():
    parsed = parse_csv(b"id,name\nid,Ada\n", "x.csv")
    assert parsed.rows.rows() == [("id", "Ada", 2)]
    assert parsed.issues.height == 0


@pytest.mark.parametrize(
    ("separator", "shown", "named"),
    [(b"\t", "\\t", "tabs"), (b";", ";", "semicolons"), (b"|", "|", "vertical bars")],
)
def test_a_file_separated_otherwise_is_one_error_naming_the_separator(separator, shown, named):
    data = b"id,status,name\n1,active,Ada\n2,,Bo\n".replace(b",", separator)
    parsed = parse_csv(data, "users.csv")
    assert issues_of(parsed) == [("users.csv", 1, None, shown, "file.separator", "error")]
    assert f"separated by {named} ('{shown}'" in parsed.issues["message"][0]
    assert not parsed.readable
    assert parsed.rows.height == 0


def test_a_comma_separated_file_with_tabs_and_semicolons_in_values_is_read():
    parsed = parse_csv(b"id,name\n1,a;b\n2,c\td\n", "x.csv")
    assert parsed.readable and parsed.issues.height == 0


# a value on several lines, then a character each encoding writes its own way
ENCODED = 'id,name\n1,"Zoë\non two lines"\n2,Łukasz\n3,Renée\n'


@pytest.mark.parametrize("encoding", ["cp1250", "utf-16", "utf-16-le", "utf-16-be", "iso8859-2"])
def test_a_named_encoding_is_transcoded_and_reads_as_utf8_does(encoding):
    expected = parse_csv(ENCODED.encode(), "x.csv")
    parsed = parse_csv(ENCODED.encode(encoding), "x.csv", encoding=encoding)
    assert_frame_equal(parsed.rows, expected.rows)
    assert parsed.rows["__line"].to_list() == [2, 4, 5]


def test_utf16_with_its_byte_order_mark_and_crlf_reads_as_windows_writes_it():
    data = ENCODED.replace("\n", "\r\n").encode("utf-16")  # Excel's "Unicode Text", with commas
    assert data.startswith(b"\xff\xfe")
    parsed = parse_csv(data, "x.csv", encoding="utf-16")
    assert parsed.rows["name"].to_list() == ["Zoë\r\non two lines", "Łukasz", "Renée"]
    assert parsed.issues.height == 0


@pytest.mark.parametrize("bom", [b"", BOM], ids=["without a mark", "with a mark"])
def test_utf8_with_a_byte_order_mark_named_utf_8_sig_reads_as_utf8_with_no_warning(bom):
    """Python's name for UTF-8 with a byte-order mark (Excel's "CSV UTF-8") is UTF-8: no
    warning that the file is UTF-8 read as something else."""
    expected = parse_csv(ENCODED.encode(), "x.csv")
    parsed = parse_csv(bom + ENCODED.encode(), "x.csv", encoding="utf-8-sig")
    assert_frame_equal(parsed.rows, expected.rows)
    assert parsed.issues.height == 0


# (bytes, their encoding, the start of the refusal)
NOT_VALID_IN_THEIR_ENCODING = {
    # cp1252 has no character for 0x81, 0x8d, 0x8f, 0x90 and 0x9d
    "cp1252": (b'id,name\n1,"a\nb"\n2,x\x81\n', "cp1252", "x.csv line 4: not cp1252 (byte 0x81 at offset 19)"),
    # a lone surrogate: half a character
    "utf-16 surrogate": ("id,name\n1,a\n2,".encode("utf-16-le") + b"\x00\xd8" + "x\n".encode("utf-16-le"), "utf-16-le", "x.csv line 3: not utf-16-le (byte 0x00 at offset 28)"),
    # an odd number of bytes: the last character cut in half
    "utf-16 cut": ("id,name\n1,a\n".encode("utf-16") + b"\x41", "utf-16", "x.csv line 3: not utf-16 (byte 0x41 at offset 26)"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("data", "encoding", "message"),
    NOT_VALID_IN_THEIR_ENCODING.values(),
    ids=NOT_VALID_IN_THEIR_ENCODING.keys(),
)
def test_a_file_not_valid_in_its_named_encoding_is_refused_naming_the_line(data, encoding, message):
    with pytest.raises(UnreadableFile) as refused:
        parse_csv(data, "x.csv", encoding=encoding)
    assert str(refused.value).startswith(message), str(refused.value)
    # the settings name this encoding already: exporting the file in it is no advice
    assert str(refused.value).endswith(
        f"; the file is not valid {encoding}: check [feed] encoding, which must name the "
        "encoding the SIS saved it in"
    )


def test_utf16_read_as_utf8_is_refused_with_the_setting_that_reads_it():
    with pytest.raises(UnreadableFile) as refused:
        parse_csv("id,name\n1,a\n".encode("utf-16"), "x.csv")
    assert str(refused.value) == (
        "x.csv line 1: not UTF-8 (byte 0xff at offset 0; it starts as UTF-16 does); export the "
        'file as UTF-8, or set [feed] encoding = "utf-16"'
    )


def test_utf8_spelled_otherwise_reads_the_bytes_as_they_are():
    data = "id,name\n1,Zoë\n".encode()
    assert_frame_equal(
        parse_csv(data, "x.csv", encoding="UTF8").rows, parse_csv(data, "x.csv").rows
    )
    with pytest.raises(UnreadableFile, match="not UTF-8"):
        parse_csv(b"id,name\n1,\xff\n", "x.csv", encoding="utf_8")


def test_a_value_longer_than_the_csv_module_took_reads_and_a_header_that_long_is_none():
    huge = b"x" * 200_000
    with pytest.raises(UnreadableFile, match=r"x.csv line 1: not a CSV header line \(field larger"):
        parse_csv(huge + b"\n", "x.csv")
    # a ragged record sends the file to the csv module, which reads the long value too
    parsed = parse_csv(b"a,b\n1\n2," + huge + b"\n", "x.csv")
    assert parsed.rows.rows() == [("2", huge.decode(), 3)]
    assert parsed.issues.select("line", "rule").rows() == [(2, "file.ragged")]


def test_a_control_character_is_found_whatever_the_columns_are_called():
    # the manifest's own header: found by the fuzzed reader, which put a NUL before it
    parsed = parse_csv(b"\x00propertyName,value\nfile.users,bu\x01lk\n", "manifest.csv")
    assert [i[1:5] for i in issues_of(parsed)] == [
        (1, None, "\\x00propertyName", "value.control"),
        (2, "value", "bu\\x01lk", "value.control"),
    ]


@pytest.mark.parametrize(
    ("header", "record"),
    [(b"__line,a", b"1,2"), (b"a,a,a__1", b"1,2,3"), (b"__line_value,__line_column", b"1,2")],
)
def test_header_names_like_the_frames_own_columns_are_read_as_any_other(header, record):
    parsed = parse_csv(header + b"\n" + record + b"\n", "x.csv")
    assert parsed.header == tuple(header.decode().split(","))
    assert parsed.rows["__line"].to_list() == [2]
    assert len(set(parsed.rows.columns)) == parsed.rows.width


# (the file, the records read, the line the quote opens on, its field, the value shown)
UNCLOSED_QUOTES = {
    "a quote alone after the last line": (b'a,b\n1,2\n"', [("1", "2", 2)], 3, "a", '"'),
    "the last value's": (b'a,b\n1,2\n3,"x\n', [("1", "2", 2), ("3", "x\n", 3)], 3, "b", '"x'),
    "one taking in the lines after it": (b'a,b\n1,"x\n2,y\n3,z\n', [("1", "x\n2,y\n3,z\n", 2)], 2, "b", '"x'),
    "one opening on its record's second line": (b'a,b,c\n1,"x\ny","z\n', [("1", "x\ny", "z\n", 2)], 3, "c", '"z'),
    "after doubled quotes": (b'a,b\n1,"""x""\n', [("1", '"x"\n', 2)], 2, "b", '"""x""'),
    "in the header": (b'a,"b\n1,2\n', [], 1, "b", '"b'),
    "with CRLF": (b'a,b\r\n1,2\r\n3,"x\r\n', [("1", "2", 2), ("3", "x\r\n", 3)], 3, "b", '"x'),
    "in a file of one column": (b'a\n1\n"', [("1", 2)], 3, "a", '"'),
}  # fmt: skip


@pytest.mark.parametrize(
    ("data", "rows", "line", "field", "value"),
    UNCLOSED_QUOTES.values(),
    ids=UNCLOSED_QUOTES.keys(),
)
def test_a_quote_left_open_at_the_end_is_an_error_on_the_line_it_opens(
    data, rows, line, field, value
):
    # read as before (the records a reader that is not strict reads), but no longer in silence
    parsed = parse_csv(data, "users.csv")
    assert parsed.rows.rows() == rows
    quote = [i for i in issues_of(parsed) if i[4] == "file.quote"]
    assert quote == [("users.csv", line, field, value, "file.quote", "error")]
    assert "never closed" in parsed.issues.filter(pl.col("rule") == "file.quote")["message"][0]


@pytest.mark.parametrize("data", [b'"sourcedId,name\n', b'"sourcedId,name', b'"'])
def test_a_quote_left_open_in_a_header_line_alone_is_named_too(data):
    # the header line alone reads fast: a quote its one line leaves open was taken in silence
    parsed = parse_csv(data, "users.csv")
    assert [(i[1], i[4]) for i in issues_of(parsed)] == [(1, "file.quote")]


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_a_quote_of_the_header_line_closed_on_a_later_line_is_an_error_on_line_1(line_end):
    # a quote left open in the header closes at the first quote of a value below: the lines
    # between are taken into the header, their records lost
    text = '"sourcedId,name\n1,Ada\n2,"Al\n3,Bo\n'.replace("\n", line_end)
    parsed = parse_csv(text.encode(), "users.csv")
    assert parsed.rows.height == 0
    found = [(i[1], i[4], i[3]) for i in issues_of(parsed) if i[4] != "file.line_endings"]
    assert found == [(1, "file.quote", '"sourcedId,name'), (4, "file.ragged", "3,Bo")]
    assert parsed.issues.filter(pl.col("rule") == "file.quote")["message"][0] == (
        "a quote opens a value in the header line and only closes on line 3, so lines 1 to 3 "
        "read as one header line (a closing quote is missing, or a quote in a name is not "
        "doubled)"
    )


def test_a_quoted_header_name_on_one_line_is_no_error():
    parsed = parse_csv(b'"sourcedId","na,me"\n1,Ada\n', "users.csv")
    assert parsed.header == ("sourcedId", "na,me")
    assert parsed.issues.height == 0


def test_a_quote_closed_at_the_very_end_is_no_error():
    for data in (b'a,b\n1,"x"', b'a,b\n1,"x\ny"\n', b'a,b\n1,""""\n2,"a,""b"""\n'):
        assert parse_csv(data, "x.csv").issues.height == 0, data


def test_a_blank_first_line_is_named_as_such_not_an_empty_file():
    parsed = parse_csv(b"   \nid,name\n1,Ada\n", "users.csv")
    assert issues_of(parsed) == [("users.csv", 1, None, None, "header.missing", "error")]
    assert parsed.issues["message"][0] == (
        "the first line is blank: a file must start with its header line"
    )
    assert not parsed.readable
    for empty in (b"", b"\n", b"  \r\n", csvfile.BOM):  # the header check calls these empty
        assert parse_csv(empty, "users.csv").issues.height == 0, empty


@pytest.mark.parametrize("order", ["utf-16-le", "utf-16-be"])
def test_utf16_without_its_byte_order_mark_is_refused_with_the_setting_that_reads_it(order):
    # ASCII text: valid UTF-8, a NUL beside every character
    with pytest.raises(UnreadableFile) as ascii_only:
        parse_csv("id,name\n1,Ada\n".encode(order), "x.csv")
    assert str(ascii_only.value) == (
        f"x.csv line 1: not UTF-8 (it looks like {order.upper()} without a byte-order mark, "
        f'every other byte NUL); export the file as UTF-8, or set [feed] encoding = "{order}"'
    )
    with pytest.raises(UnreadableFile) as accented:  # not UTF-8 at all
        parse_csv("id,prénom\n1,Zoë\n".encode(order), "x.csv")
    assert str(accented.value).endswith(
        f"; it looks like {order.upper()}, every other byte NUL); export the file as UTF-8, or "
        f'set [feed] encoding = "{order}"'
    )


def test_a_file_that_is_no_text_is_refused_as_not_utf8_before_its_separator_is_judged():
    # its first line (bytes 0-9) holds a tab: once read as "separated by tabs"
    with pytest.raises(UnreadableFile, match=r"manifest.csv line 2: not UTF-8 \(byte 0x80"):
        parse_csv(bytes(range(256)), "manifest.csv")
    with pytest.raises(UnreadableFile, match=r"x.csv line 2: not UTF-8"):
        parse_csv(b"   \n\xff\n", "x.csv")  # and before a blank first line is


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_utf16_and_utf32_without_a_byte_order_mark_are_read_in_either_order(encoding):
    # Python reads either without a mark as little-endian: a big-endian file read so was
    # letters of other scripts, with no line end, and no word about it
    expected = parse_csv(ENCODED.encode(), "x.csv")
    for order in ("le", "be"):
        data = ENCODED.encode(f"{encoding}-{order}")
        parsed = parse_csv(data, "x.csv", encoding=encoding)
        assert_frame_equal(parsed.rows, expected.rows)
        assert parsed.rows["__line"].to_list() == [2, 4, 5]


# (bytes, the encoding the settings name, the byte-order mark's encoding and bytes)
FOREIGN_BYTE_ORDER_MARKS = {
    # a SIS moved to UTF-8 with a mark, the settings still naming Windows-1252: "ï»¿id" and
    # every accented letter two others, once
    "utf-8 as cp1252": (csvfile.BOM + "id,name\n1,Zoë\n".encode(), "cp1252", "UTF-8", "EF BB BF"),
    "utf-8 as utf-16": (csvfile.BOM + b"id,name\n1,a\n", "utf-16", "UTF-8", "EF BB BF"),
    "utf-16 as latin-1": ("id,name\n1,a\n".encode("utf-16"), "latin-1", "UTF-16", "FF FE"),
    "utf-16-be as utf-16-le": (codecs.BOM_UTF16_BE + "id\n1\n".encode("utf-16-be"), "utf-16-le", "UTF-16", "FE FF"),
    "utf-32 as utf-16": ("id,name\n1,a\n".encode("utf-32"), "utf-16", "UTF-32", "FF FE 00 00"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("data", "encoding", "marked", "mark"),
    FOREIGN_BYTE_ORDER_MARKS.values(),
    ids=FOREIGN_BYTE_ORDER_MARKS.keys(),
)
def test_a_byte_order_mark_of_another_encoding_than_the_named_one_is_refused(
    data, encoding, marked, mark
):
    with pytest.raises(UnreadableFile) as refused:
        parse_csv(data, "x.csv", encoding=encoding)
    assert str(refused.value) == (
        f"x.csv line 1: not {encoding} (it starts with the byte-order mark of {marked}, bytes "
        f"{mark}); the file is not valid {encoding}: check [feed] encoding, which must name the "
        f'encoding the SIS saved it in (the mark says "{marked.lower()}")'
    )


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (b"\xef\xbb\xbfid\n1\n", "utf-8-sig"),
        (codecs.BOM_UTF16_LE + "id\n1\n".encode("utf-16-le"), "utf-16-le"),
        (codecs.BOM_UTF16_BE + "id\n1\n".encode("utf-16-be"), "utf-16"),
        ("id\n1\n".encode("utf-32"), "utf-32"),
    ],
)
def test_the_named_encodings_own_byte_order_mark_is_read_past(data, encoding):
    parsed = parse_csv(data, "x.csv", encoding=encoding)
    assert parsed.header == ("id",)
    assert parsed.rows["id"].to_list() == ["1"]


def test_utf32_read_as_utf8_is_refused_with_the_setting_that_reads_it():
    # its mark starts as UTF-16's does: the setting that mark names would read NULs
    with pytest.raises(UnreadableFile) as refused:
        parse_csv("id,name\n1,a\n".encode("utf-32"), "x.csv")
    assert str(refused.value) == (
        "x.csv line 1: not UTF-8 (byte 0xff at offset 0; it starts as UTF-32 does); export the "
        'file as UTF-8, or set [feed] encoding = "utf-32"'
    )


# --- a file the settings name an encoding for that is UTF-8 after all ---------------------------


def test_a_utf8_file_read_as_cp1252_is_warned_of_on_the_first_letter_it_misreads():
    data = "sourcedId,givenName\nu1,Ann\nu2,Renée\nu3,Zoë\n".encode()
    parsed = parse_csv(data, "users.csv", "cp1252")
    assert issues_of(parsed) == [
        ("users.csv", 3, None, "é", "file.encoding", "warning"),
    ]
    assert "'é' as 'Ã©'" in parsed.issues["message"][0]
    assert parsed.rows["givenName"].to_list() == ["Ann", "RenÃ©e", "ZoÃ«"]  # read as told


@pytest.mark.parametrize(
    "data",
    [
        "sourcedId,givenName\nu1,Renée\n".encode("cp1252"),  # what the setting says
        b"sourcedId,givenName\nu1,Ann\n",  # ASCII: the same in both
    ],
)
def test_a_cp1252_or_ascii_file_read_as_cp1252_has_no_such_warning(data):
    assert parse_csv(data, "users.csv", "cp1252").issues.height == 0


@pytest.mark.parametrize(
    ("data", "ascii"),
    [
        (b"sourcedId,name\ns1,North\n", True),
        (BOM + b"sourcedId,name\ns1,North\n", True),  # the mark is no value's
        (b"sourcedId,name\ns1,Zo\xc3\xab\n", False),
        (b"sourcedId,name\ns1,\xe2\x80\x8bs2\n", False),  # a zero-width space
        (BOM + BOM + b"sourcedId,name\ns1,North\n", False),  # a second mark is the header's
        (b'sourcedId,name\ns1,"North\n\xc3\xa9"\n', False),  # read by the exact parse
    ],
)
def test_a_file_is_ascii_when_every_byte_of_it_is(data, ascii):
    # validation skips the search for characters a screen does not show in such a file
    assert parse_csv(data, "orgs.csv").ascii is ascii


@pytest.mark.parametrize(
    ("data", "spaces_only"),
    [
        (b"sourcedId,name\ns1 ,North Side\n", True),
        (BOM + b"sourcedId,name\ns1,North\n", True),
        (b"sourcedId,name\ns1\t,North\n", False),  # a tab
        (b"sourcedId,name\r\ns1,North\r\n", False),  # CRs
        (b"sourcedId,name\ns1,North\x0b\n", False),  # a control character
        (b'sourcedId,name\n"s1\n",North\n', False),  # a value over two lines
        (b"sourcedId,name\ns1\xc2\xa0,North\n", False),  # a no-break space, beyond ASCII
    ],
)
def test_a_file_holds_spaces_alone_when_its_counts_say_no_other_whitespace(data, spaces_only):
    # the search for spaces around sourcedIds then looks at each value's ends for a space
    assert parse_csv(data, "orgs.csv").spaces_only is spaces_only


@pytest.mark.parametrize("first, second", [(800, 900), (2, 5000), (5000, 5999)])
def test_ragged_lines_far_apart_in_a_long_file_are_an_issue_each(first, second):
    """Filtered out of a file's lines, the ragged ones kept the pieces Polars' reader split the
    file into, and Polars panicked formatting their issues: a traceback for two ragged lines
    of a few thousand (found by QA on a district's users.csv, a familyName of `, Jr`)."""
    header = "sourcedId,status,classSourcedId,userSourcedId,role"
    lines = [header] + [f"e{at},,c{at % 50},u{at},student" for at in range(2, 6001)]
    for at in (first, second):
        lines[at - 1] = lines[at - 1].replace(",", ",,", 1)

    parsed = parse_csv(("\n".join(lines) + "\n").encode(), "enrollments.csv")

    assert parsed.issues.select("line", "rule", "message").rows() == [
        (at, "file.ragged", "record has 6 fields, the header has 5") for at in (first, second)
    ]
    assert parsed.rows.height == 5999 - 2  # (records, the ragged ones read by no row)


# a damage to one line of a long file: what it does to the line, and whether the line is then a
# ragged record (an issue on its line) rather than one of the header's width
LINE_DAMAGES = {
    "comma more": (lambda line: line.replace(",", ",,", 1), True),
    "comma less": (lambda line: line.replace(",", "", 1), True),
    "quoted value": (lambda line: line.replace(",", ',"a, b",', 1), True),
    "quote alone": (lambda line: line.replace(",", ',"', 1), None),
    "blank": (lambda line: "", False),
    "tab": (lambda line: line.replace(",", ",\t", 1), False),
}


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(1500, 9000),
    damages=st.lists(
        st.tuples(st.floats(0, 1), st.sampled_from(sorted(LINE_DAMAGES))),
        min_size=1,
        max_size=4,
    ),
)
def test_a_long_file_damaged_anywhere_is_read_with_an_issue_per_ragged_line(length, damages):
    """Files long enough that Polars' reader splits them into pieces, damaged on lines
    anywhere: read without a traceback, each ragged record an issue on its line (two ragged
    lines far apart made Polars panic, `test_ragged_lines_far_apart_...`)."""
    header = "sourcedId,status,classSourcedId,userSourcedId,role"
    lines = [header] + [f"e{at},,c{at % 50},u{at},student" for at in range(2, length + 1)]
    damaged = {2 + int(where * (length - 2)): kind for where, kind in damages}  # (line numbers)
    ragged_lines = {at for at, kind in damaged.items() if LINE_DAMAGES[kind][1]}
    quote_alone = any(LINE_DAMAGES[kind][1] is None for kind in damaged.values())
    for at, kind in damaged.items():
        lines[at - 1] = LINE_DAMAGES[kind][0](lines[at - 1])

    parsed = parse_csv(("\n".join(lines) + "\n").encode(), "enrollments.csv")

    if not quote_alone:  # (a quote left open takes in the lines after it: other issues)
        flagged = parsed.issues.filter(pl.col("rule") == "file.ragged")
        assert sorted(flagged.get_column("line")) == sorted(ragged_lines)
