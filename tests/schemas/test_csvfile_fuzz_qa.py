"""The exact path's reading of values quoted amiss, held to its cost: a file with many such
records, or a quote left open near the start of a big file, is read in a few passes, never in
one Polars parse or one scan of the file per record, and reads as a parse of each record alone
would read it."""

import re

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rosterflow.schemas import csvfile
from rosterflow.schemas.csvfile import parse_csv


def issues_of(frame) -> list[tuple]:
    return frame.select("line", "field", "value", "rule", "severity").rows()


@pytest.fixture
def polars_parses(monkeypatch) -> list[str]:
    """The texts the exact path hands Polars, one a parse."""
    texts: list[str] = []
    values = csvfile._polars_values

    def counted(text: str, width: int):
        texts.append(text)
        return values(text, width)

    monkeypatch.setattr(csvfile, "_polars_values", counted)
    return texts


def test_a_record_polars_refuses_among_many_quoted_amiss_costs_no_parse_a_record(polars_parses):
    # an export that quotes a column twice in every record, one record with a quote alone after
    # a closing one (which Polars refuses) and a ragged record: the one refused record made
    # Polars read each of the others alone, 36,000 parses (11 s instead of 2.5 for 50 MB)
    records = [f'{i},""n{i}""' for i in range(3000)]
    records[1500] = '1500,"a"b"'
    data = "\n".join(["id,name", *records, "3000", ""]).encode()

    parsed = parse_csv(data, "users.csv")

    assert len(polars_parses) == 1
    names = [f"n{i}" for i in range(3000)]
    names[1500] = 'ab"'
    assert parsed.rows["name"].to_list() == names
    assert issues_of(parsed.issues) == [
        (3002, None, "3000", "file.ragged", "error"),
        (1502, "name", '"a"b"', "value.quote", "warning"),
    ]


def test_records_polars_refuses_are_found_in_halves_not_one_parse_each(polars_parses, monkeypatch):
    # records of an even number of quotes that Polars refuses (none known: here, those naming
    # `zz`) are found by halving the records until they stand alone
    refused = {17, 900, 901, 2999}
    texts = [f'{i},""{"zz" if i in refused else "n"}{i}""\n' for i in range(3000)]
    values = csvfile._polars_values
    monkeypatch.setattr(
        csvfile, "_polars_values", lambda text, width: None if "zz" in text else values(text, width)
    )

    readings = csvfile._polars_readings(texts, 2)

    assert readings == [None if i in refused else (str(i), f"n{i}") for i in range(3000)]
    assert len(polars_parses) < 100  # (a parse a record: 3,001)


_RECORD_TEXT = st.text(alphabet='ab ",\n', min_size=1, max_size=10).map(lambda t: t + "\n")


def _alone(text: str, width: int) -> tuple[str, ...] | None:
    """Polars' reading of one record alone: one record of `width` values, else None."""
    try:
        read = pl.read_csv(
            text.encode(),
            has_header=False,
            schema={f"c{i}": pl.String for i in range(width)},
            missing_columns="raise",
        )
    except pl.exceptions.PolarsError:
        return None
    return read.fill_null("").row(0) if read.height == 1 else None


@settings(max_examples=120, deadline=None)
@given(st.lists(_RECORD_TEXT, max_size=8), st.integers(1, 3))
@example(['1,"a"b"\n', '2,""x""\n'], 2)
@example(['"\n', '"\n'], 1)
@example([",\n", "a\n"], 2)  # Polars padded the second, short, read after the first
def test_polars_reads_records_together_as_it_reads_each_alone(texts, width):
    assert csvfile._polars_readings(texts, width) == [_alone(text, width) for text in texts]


# a short record whose value is quoted amiss, in three files, and the issues of each
SHORT_RECORDS = {
    "after another": (
        b'id,name,x\n1,""a"",b\n2,""c""\n3\n',
        [(3, "file.ragged"), (4, "file.ragged"), (3, "value.quote")],
    ),
    "first": (
        b'id,name,x\n2,""c""\n1,""a"",b\n3\n',
        [(2, "file.ragged"), (4, "file.ragged"), (2, "value.quote")],
    ),
    "alone in error": (
        b'id,name,x\n1,""a"",b\n2,""c""\n',
        [(3, "file.ragged"), (3, "value.quote")],
    ),
}


@pytest.mark.parametrize(("data", "issues"), SHORT_RECORDS.values(), ids=SHORT_RECORDS.keys())
def test_a_short_record_quoted_amiss_is_ragged_wherever_it_stands(data, issues):
    # read with the records quoted amiss before it, Polars padded it with a null (`2,c,`): a
    # row with its last value missing and no error, where the same record first was an error
    parsed = parse_csv(data, "users.csv")
    assert parsed.rows.select("id", "name", "x").rows() == [("1", "a", "b")]
    assert [(line, rule) for line, _, _, rule, _ in issues_of(parsed.issues)] == issues


def _last_odd_run(text: str) -> int:
    """Where the last run of an odd number of quotes starts: the quote that opens a value
    running to the end of the file."""
    runs = [run for run in re.finditer('"+', text) if len(run.group()) % 2]
    return runs[-1].start() if runs else 0


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet='ab",\n\r', max_size=24))
@example('1,"a""\n2,b\n')
@example('1,"\r\n2,""\r3')
def test_a_quote_left_open_is_named_on_the_line_of_the_quote_that_opens_it(body):
    text = "h1,h2\n" + body
    data = text.encode()
    _, problems = csvfile._exact_parse(data, csvfile._header(data), "x.csv")
    unclosed = [p for p in problems if "never closed" in p["message"]]
    if unclosed:
        opening = _last_odd_run(text)
        line = 1 + len(re.findall(r"\r\n|\r|\n", text[:opening]))
        assert (unclosed[-1]["line"], unclosed[-1]["value"]) == (
            line,
            re.split(r"[\r\n]", text[opening : opening + 200], maxsplit=1)[0],
        )


class _NoScan:
    """Stands for `_ODD_QUOTES`, whose scan of the whole file is what the test rules out."""

    def finditer(self, text: str):
        raise AssertionError(f"a scan of {len(text):,} characters for the opening quote")


@pytest.mark.parametrize("quotes_after", [False, True], ids=["no quote after", "pairs after"])
def test_a_quote_open_near_the_start_of_a_big_file_is_named_without_a_scan_a_character(
    quotes_after, monkeypatch
):
    # a quote left open on line 2 of 12 MB: the quoted value's pattern stepped back a character
    # at a time (4.5 s for 50 MB), and the search for the quote that opens it tried every
    # character of the file (2.4 s); now one pass each
    record = '1,"",3\n' if quotes_after else "1,2,3\n"
    rest = '1,2,"x\n' + record * 2_000_000
    monkeypatch.setattr(csvfile, "_ODD_QUOTES", _NoScan())

    parsed = parse_csv(("h1,h2,h3\n" + rest).encode(), "x.csv")

    assert issues_of(parsed.issues) == [(2, "h3", '"x', "file.quote", "error")]
    assert parsed.rows.height == 1
    # (how long it takes is bench's to say, not a test's: 0.01 s now, 1 s and more before)
    assert csvfile._quoted_amiss(rest) == []
