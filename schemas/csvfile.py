"""Parse one CSV file exactly: every value as text, every record with the line it starts on.

The fast path is one Polars parse. Two cheap whole-file counts prove it read the file as a
strict RFC 4180 reader would: the newlines in the bytes account for the records plus the
newlines inside quoted values (so each record's start line is exact), and the commas in the
bytes account for every record having the header's width plus the commas inside values. If
Polars refuses the file or either count disagrees (a ragged row, a stray quote, a blank line
with commas), the file is parsed again with Python's `csv` module, which is slow but
reports every malformed record by line. Only broken files pay for that.

What a strict reader would choke on or let through is settled on the way, each at the cost of a
whole-buffer operation or a vectorized one, so that a good file pays next to nothing for it: a
file in another encoding is transcoded to UTF-8 first (`[feed] encoding`; a newline stays a
newline, so every line number holds), a CR alone outside quotes ends a line (with a
warning), a file separated by tabs or semicolons is one error rather than a column per line, a
header line repeated inside the file (two exports joined) is one error on its line rather than
a record, a control character in a value is an error naming its line and field, a quote
left open at the end of the file is an error naming the line it opens on, and so is one of the
header line that only a later line closes. A file starting with the byte-order mark of another
encoding than the named one is refused, and UTF-16 or UTF-32 without a mark is read in the
byte order its first character shows.

A CR alone is read as a line end wherever it stands outside quotes, as the csv module reads
it, and the file gets the warning `file.line_endings`: in a file whose every line ends so
(classic Mac OS) as one pass that turns them into LFs, then the fast path; in a file that
also has LFs only the csv module tells a line-ending CR from one inside a quoted value, so
such a file takes the exact path (a stray CR inside an unquoted value splits its record, which
is then ragged). A file without a CR, or with CRs only before LFs, pays nothing for this.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from typing import NamedTuple

import polars as pl
import pyarrow as pa

from rosterflow.schemas.issues import ISSUE_SCHEMA, issue_frame, issue_row
from rosterflow.schemas.printable import printable

BOM = b"\xef\xbb\xbf"
LINE = "__line"
UTF8 = "utf-8"
_JOINABLE_BYTES = 2**31  # a file smaller than this joins any column into one Polars string
# the C0 control characters no value may hold: all but tab, and CR and LF (which only a quoted
# value holds: elsewhere they end the line)
CONTROL_CHARACTERS = tuple(chr(code) for code in range(32) if chr(code) not in "\t\n\r")
_CONTROL_PATTERN = "[\x00-\x08\x0b\x0c\x0e-\x1f]"
# a control character in an issue's value, as a person can read it (and copy it to a search):
# as every printed text shows it
_CONTROL_SHOWN = tuple(map(printable, CONTROL_CHARACTERS))
# what else an export may be separated by, as an issue shows it and as its message names it
_SEPARATORS = {"\t": ("\\t", "tabs"), ";": (";", "semicolons"), "|": ("|", "vertical bars")}
# a line the exact path reads after the file's: a record of its own, unless the file ends inside
# a quoted value, which takes the line in (a reader that is not strict ends such a value at the
# end of the file without a word). A lone surrogate is in no text decoded from UTF-8; CRLF, not
# LF, so that a value ending in a CR holds as many CRs alone with the probe as without it
_EOF_MARK = "\udc00"
_EOF_PROBE = "\r\n" + _EOF_MARK
# the byte-order marks a file may start with, each with the encoding it marks: UTF-32 LE's first,
# as it starts as UTF-16 LE's does
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (BOM, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# the codecs that read either byte order, by their mark: without one, Python reads little-endian
_EITHER_ORDER = {"utf-16": 2, "utf-32": 4}
# a run of double quotes of odd length: the last one of a file ending inside a quoted value opens
# that value (inside it, quotes come in pairs: a quote alone would close it)
_ODD_QUOTES = re.compile(r'(?<!")(?:"")*"(?!")')


class UnreadableFile(Exception):
    """The bytes cannot be read as a CSV in the file's encoding at all."""


@dataclass(frozen=True)
class ParsedCsv:
    header: tuple[str, ...]
    rows: pl.DataFrame  # the header's columns as String (empty -> null), plus `__line` (Int64)
    issues: pl.DataFrame
    fingerprint: str = ""  # identifies the file's bytes (set by schemas.feed)
    # False when the file's lines cannot be read as records at all (it is separated by tabs,
    # say): its issues say why, and its header and rows are not checked
    readable: bool = True
    # True when every line after the header is one record, proven by the fast path's counts
    # (no value spans lines, no line is blank): the file's lines can stand for its records
    # (`schemas.lines`)
    one_line_records: bool = False


def is_utf8(encoding: str) -> bool:
    """Whether `encoding` names UTF-8 in any spelling ("UTF8", "utf_8"): such a file's bytes
    are parsed as they are, without a transcoded copy."""
    return codecs.lookup(encoding).name == UTF8


def parse_csv(data: bytes, file_name: str, encoding: str = UTF8) -> ParsedCsv:
    """Parse `data`; `encoding` is the one the file was saved in (a codec name; UTF-8 is read
    as it is)."""
    notes: list[dict] = []
    if not is_utf8(encoding):
        utf8 = _utf8_beyond_ascii(data, file_name, encoding)
        notes += [utf8] if utf8 is not None else []
        data = _transcoded(data, file_name, encoding)
    counts = _byte_counts(data)
    bare_crs = _bare_crs(data, counts)  # 0 at no cost in a file without a CR
    if bare_crs and not counts.newlines:
        # a bare CR ends every line (classic Mac OS), a quoted value's too: as LF, the counts
        # below hold and the fast path reads the file
        data = data.replace(b"\r", b"\n")
        counts, bare_crs = counts._replace(newlines=counts.crs, crs=0), 0
        notes.append(_line_endings_issue(file_name, None))
    # the fast path reads `data` as it is (a byte-order mark sits in the header line, which
    # Polars skips, and holds no comma or newline): no copy of the whole file without it
    bom = len(BOM) if data.startswith(BOM) else 0
    try:
        header = _header(data, bom, file_name)
    except UnicodeDecodeError:
        _check_utf8(data[bom:], file_name)
    if "\x00" in "".join(header):
        _refuse_utf16(data, file_name)  # what UTF-16 of ASCII text read as UTF-8 looks like
    if not header:
        # a file of bytes that are no text is refused as such, whatever its first line is
        _check_utf8(data[bom:], file_name)
        blank = _blank_first_line(data, bom, file_name)
        return ParsedCsv((), _empty_rows(()), issue_frame([*notes, *blank]), readable=not blank)
    separator = _separator_issue(header, file_name)
    if separator is not None:
        _check_utf8(data[bom:], file_name)
        return ParsedCsv(header, _empty_rows(()), issue_frame([*notes, separator]), readable=False)
    try:
        # a CR alone among LFs: only the csv module tells which ones end lines
        rows = None if bare_crs else _fast_parse(data, header, counts)
    except pl.exceptions.PolarsError:  # Polars refuses invalid UTF-8, and an unclosed quote
        rows = None
    problems: list[dict] = []
    one_line_records = False
    if rows is None:
        data = data[bom:]
        _check_utf8(data, file_name)
        rows, problems = _exact_parse(data, header, file_name, bare_crs)
    else:  # proven: one record per line exactly when the lines are the records and a header
        lines = counts.newlines + (not data.endswith(b"\n"))
        one_line_records = lines == 1 + rows.height
    rows, repeated = _without_repeated_header(rows, header, file_name)
    found = [issue_frame([*notes, *problems, *repeated])]
    if counts.others and _has_control(data):
        found.append(_control_issues(rows, header, file_name))
    return ParsedCsv(header, rows, pl.concat(found), one_line_records=one_line_records)


def _transcoded(data: bytes, file_name: str, encoding: str) -> bytes:
    """`data`, saved in `encoding`, as UTF-8. Every character stays one character, so a line
    of the file is a line of the result and every line number holds."""
    _refuse_foreign_mark(data, file_name, encoding)
    codec = _byte_order(data, encoding)
    try:
        return data.decode(codec).encode(UTF8)
    except UnicodeError as error:  # a byte the encoding has no character for
        start = getattr(error, "start", 0)
        if isinstance(error, UnicodeEncodeError):  # a character UTF-8 cannot hold (a surrogate)
            text = error.object
            line = _line_at(text, start)
            where = f"U+{ord(text[start]):04X} at character {start}"
        else:
            prefix = data[:start].decode(codec, "replace")
            line = _line_at(data.decode(codec, "replace"), len(prefix))
            where = f"byte 0x{data[start]:02x} at offset {start}" if start < len(data) else "end"
        # the settings named this encoding: the file was saved in another one
        raise UnreadableFile(
            f"{file_name} line {line}: not {encoding} ({where}); the file is not valid "
            f"{encoding}: check [feed] encoding, which must name the encoding the SIS saved it in"
        ) from None


def _utf8_beyond_ascii(data: bytes, file_name: str, encoding: str) -> dict | None:
    """The warning of a file the settings say is in `encoding` whose bytes are UTF-8 with
    characters beyond ASCII (a SIS that turned to UTF-8 since `[feed] encoding` was set): read
    in `encoding`, each such character is other letters (`é` as `Ã©` in cp1252), in every name
    that has one. A file in a one-byte encoding seldom is valid UTF-8 once it has a letter with
    an accent (é alone, 0xE9, is no UTF-8); None for the others, and for ASCII (the same in
    both). On the first such character's line."""
    beyond = re.search(rb"[\x80-\xff]", data)
    if beyond is None or _marked_encoding(data) not in (None, (BOM, UTF8)):
        return None
    try:
        text = data.decode(UTF8)
    except UnicodeDecodeError:
        return None
    at = beyond.start()  # (every byte before it is ASCII: one character each)
    character = text[at]
    misread = character.encode(UTF8).decode(encoding, "replace")
    return issue_row(
        file_name,
        _line_at(text, at),
        None,
        character,
        "file.encoding",
        "warning",
        f"the file is UTF-8 (its bytes are valid UTF-8 beyond ASCII), and [feed] encoding = "
        f"{encoding!r} reads it as other letters ({character!r} as {misread!r}): if the SIS "
        "saves it as UTF-8, take the setting out",
    )


def _line_at(text: str, end: int) -> int:
    """The line `text[end]` is on as the UTF-8 path numbers it: lines end in an LF, or in a
    file without one in a CR (classic Mac OS, whose CRs the reader reads as LFs; counting LFs
    there named line 1 for a character on any line)."""
    return 1 + text.count("\n" if "\n" in text else "\r", 0, end)


def _marked_encoding(data: bytes) -> tuple[bytes, str] | None:
    """The byte-order mark `data` starts with and the encoding it marks, if any."""
    return next(((mark, name) for mark, name in _BYTE_ORDER_MARKS if data.startswith(mark)), None)


def _refuse_foreign_mark(data: bytes, file_name: str, encoding: str) -> None:
    """Refuse a file that starts with the byte-order mark of another encoding than the named
    one: `encoding` would read the mark as letters (UTF-8's as "ï»¿" in cp1252) or the whole
    file as other characters (UTF-8 read as UTF-16), and no header line starts so."""
    marked = _marked_encoding(data)
    if marked is None:
        return
    mark, name = marked
    # the named encoding's own mark reads as nothing (utf-16) or as the mark itself (utf-16-le)
    if data[: len(mark)].decode(encoding, "replace") in ("", "\ufeff"):
        return
    raise UnreadableFile(
        f"{file_name} line 1: not {encoding} (it starts with the byte-order mark of "
        f"{name.upper()}, bytes {mark.hex(' ').upper()}); the file is not valid {encoding}: "
        f"check [feed] encoding, which must name the encoding the SIS saved it in (the mark "
        f'says "{name}")'
    )


def _byte_order(data: bytes, encoding: str) -> str:
    """The codec reading `data` in `encoding`: for UTF-16 or UTF-32 without a byte-order mark,
    in the order of the file's first character (which a header line has in ASCII: NULs before
    its byte in big-endian order), where Python would read little-endian whatever the file."""
    name = codecs.lookup(encoding).name
    width = _EITHER_ORDER.get(name)
    if width is None or _marked_encoding(data) is not None:
        return encoding
    first = data[:width]
    if len(first) == width and first[-1] and not any(first[:-1]):
        return f"{name}-be"
    return encoding


def _line_endings_issue(file_name: str, count: int | None) -> dict:
    """The warning of a file with lines ending in a CR alone: every line (`count` None), or
    `count` of them among lines ending in LF."""
    if count is None:
        said = "lines end in a carriage return alone (as classic Mac OS wrote them)"
    else:
        said = (
            f"{count} line{'s' if count > 1 else ''} of the file end{'' if count > 1 else 's'} "
            "in a carriage return alone, the others in LF or CRLF (a CR inside an unquoted "
            "value splits its record)"
        )
    return issue_row(
        file_name, None, None, None, "file.line_endings", "warning", f"{said}; read as line ends"
    )


def _bare_crs(data: bytes, counts: ByteCounts) -> int:
    """How many CRs in `data` are not followed by an LF: one vectorized pass, taken only by a
    file with both CRs and LFs (an LF file pays nothing, a CRLF one about a tenth of its parse:
    0.01 s for users.csv of 200k students)."""
    if not counts.crs:
        return 0
    if not counts.newlines:
        return counts.crs
    # each byte beside the next: two views of the same bytes
    crlf = (_octets(data, 0, len(data) - 1) == ord("\r")) & (_octets(data, 1) == ord("\n"))
    return counts.crs - int(pl.select(crlf.sum()).item())


def _blank_first_line(data: bytes, bom: int, file_name: str) -> list[dict]:
    """The error of a file whose first line is blank but that holds more: none for an empty
    file, which the header check reports as empty."""
    if data[bom:].isspace() or len(data) == bom:
        return []
    return [
        issue_row(
            file_name,
            1,
            None,
            None,
            "header.missing",
            "error",
            "the first line is blank: a file must start with its header line",
        )
    ]


def _separator_issue(header: tuple[str, ...], file_name: str) -> dict | None:
    """The error of a file separated by something else than commas: its header line is one
    field that holds another separator (no OneRoster file has a single column)."""
    if len(header) != 1:
        return None
    found = max(_SEPARATORS, key=header[0].count)
    if found not in header[0]:
        return None
    shown, named = _SEPARATORS[found]
    return issue_row(
        file_name,
        1,
        None,
        shown,
        "file.separator",
        "error",
        f"the file is separated by {named} ('{shown}' in its header line), not by commas: "
        "OneRoster CSV files are comma-separated; export it again with commas",
    )


def _check_utf8(data: bytes, file_name: str) -> None:
    try:
        # decoding is the cheapest complete check; Polars' own error does not say where
        data.decode(UTF8)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        # what Windows calls "Unicode" starts with UTF-16's byte-order mark (UTF-32's starts
        # alike, and is told apart); without one, its Latin text has every other byte NUL
        marked = _marked_encoding(data)
        marked_as = marked[1] if marked and marked[1] != UTF8 else None  # (UTF-8's twice)
        other = marked_as or _utf16_order(data)
        if marked_as:
            looks = f"; it starts as {marked_as.upper()} does"
        elif other:
            looks = f"; it looks like {other.upper()}, every other byte NUL"
        else:
            looks = ""
        fix = f'= "{other}"' if other else "to the encoding it was saved in"
        raise UnreadableFile(
            f"{file_name} line {line}: not UTF-8 (byte 0x{data[error.start]:02x} at offset "
            f"{error.start}{looks}); export the file as UTF-8, or set [feed] encoding {fix}"
        ) from None


def _utf16_order(data: bytes) -> str | None:
    """The codec of `data` when it starts as text in UTF-16 without a byte-order mark does,
    Latin text with every other byte NUL ("utf-16-le" or "utf-16-be"); else None."""
    start = data[:64]
    if len(start) < 4 or start.count(0) * 2 < len(start) - 1:
        return None
    if not any(start[1::2]) and all(start[0::2]):
        return "utf-16-le"
    if not any(start[0::2]) and all(start[1::2]):
        return "utf-16-be"
    return None


def _refuse_utf16(data: bytes, file_name: str) -> None:
    """Refuse a file that is UTF-16 of ASCII text without a byte-order mark: it reads as UTF-8
    with a NUL before or after every character, a control character in each value."""
    order = _utf16_order(data)
    if order is not None:
        raise UnreadableFile(
            f"{file_name} line 1: not UTF-8 (it looks like {order.upper()} without a byte-order "
            "mark, every other byte NUL); export the file as UTF-8, or set [feed] encoding = "
            f'"{order}"'
        )


def _header(data: bytes, start: int = 0, file_name: str = "") -> tuple[str, ...]:
    end = data.find(b"\n", start)
    end = len(data) if end < 0 else end
    cr = data.find(b"\r", start, end)  # a CR ends the line too: CRLF's, or one alone
    first_line = data[start : end if cr < 0 else cr].decode(UTF8)
    if not first_line.strip():
        return ()
    try:
        return tuple(next(csv.reader([first_line])))
    except csv.Error as error:  # a "header" of one field longer than the csv module takes
        raise UnreadableFile(f"{file_name} line 1: not a CSV header line ({error})") from None


def _empty_rows(header: tuple[str, ...]) -> pl.DataFrame:
    schema = {name: pl.String for name in _unique_names(header)} | {LINE: pl.Int64}
    return pl.DataFrame(schema=schema)


def _unique_names(header: tuple[str, ...]) -> list[str]:
    """Column names for a frame: a name taken already (a repeated header name, or the line
    column's) gets a suffix; the header check reports the header."""
    names: list[str] = []
    taken = {LINE, f"{LINE}_column", f"{LINE}_value"}
    for i, name in enumerate(header):
        while name in taken:
            name = f"{name}__{i}"
        names.append(name)
        taken.add(name)
    return names


class ByteCounts(NamedTuple):
    commas: int
    newlines: int
    others: int  # bytes below 0x20 that are no newline (LF) or CR: tabs and control characters
    quotes: int
    crs: int = 0


class _ArrowStream:
    """An Arrow array handed to Polars through the Arrow C stream interface. `pl.from_arrow`
    would take it without a copy too, but its first call imports `pyarrow.compute`
    (0.03-0.06 s of every command's start, for a cast it never makes here)."""

    def __init__(self, array: pa.Array) -> None:
        self._chunks = pa.chunked_array([array])

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self._chunks.__arrow_c_stream__(requested_schema)


def _octets(data: bytes, start: int = 0, end: int | None = None) -> pl.Expr:
    """`data[start:end]` as a UInt8 column, without a copy."""
    array = pa.Array.from_buffers(pa.uint8(), len(data), [None, pa.py_buffer(data)])
    octets = pl.Series(_ArrowStream(array))
    return pl.lit(octets.slice(start, (len(data) if end is None else end) - start))


def _byte_counts(data: bytes) -> ByteCounts:
    """The commas, newlines, other bytes below 0x20 and double quotes in `data`: one vectorized
    pass each over the bytes seen as a UInt8 column (6x faster than `bytes.count`, and without
    the GIL). Tabs are told from control characters only in a file that has either (most have
    neither): this pass adds a tenth to the time of a parse's counts, one telling them apart
    would add a half."""
    octets = _octets(data)
    counts = pl.select(
        (octets == ord(",")).sum().alias("commas"),
        (octets == ord("\n")).sum().alias("newlines"),
        (octets < 0x20).sum().alias("below_space"),
        (octets == ord("\r")).sum().alias("crs"),
        (octets == ord('"')).sum().alias("quotes"),
    ).row(0, named=True)
    others = counts["below_space"] - counts["newlines"] - counts["crs"]
    return ByteCounts(counts["commas"], counts["newlines"], others, counts["quotes"], counts["crs"])


def _has_control(data: bytes) -> bool:
    """Whether `data` holds a control character (a byte below 0x20 but tab, LF and CR)."""
    octets = _octets(data)
    control = (octets < 0x20) & (octets != ord("\t")) & (octets != ord("\n"))
    return bool(pl.select((control & (octets != ord("\r"))).any()).item())


def _fast_parse(data: bytes, header: tuple[str, ...], counts: ByteCounts) -> pl.DataFrame | None:
    """One Polars parse, proven exact by byte counts; None when the proof fails.

    The commas inside values are counted in every column (`_quoted_content`).
    """
    names = _unique_names(header)
    width = len(names)
    if not data.endswith(b"\n"):
        # on a last line without a line end Polars drops empty fields beyond the header's width
        # (a long record read as a full one, which a short one's commas could balance in the
        # count below); ended, the line is refused as any other long record is
        data += b"\n"
        counts = counts._replace(newlines=counts.newlines + 1)
    raw = pl.read_csv(
        data,
        has_header=False,
        skip_rows=1,
        schema={f"c{i}": pl.String for i in range(width)},
        missing_columns="insert",
        quote_char='"',
    )
    raw.columns = names
    records = raw.height
    if records == 0:
        # the header line alone, proven by its one line end: a quote the header leaves open
        # takes in every line after it, which Polars then skips with the header; and on that
        # line alone, an odd count of quotes (one left open at the end of the file) is named
        # by the exact path
        if counts.newlines != 1 or counts.quotes % 2:
            return None
        return raw.with_columns(pl.lit(None, pl.Int64).alias(LINE))
    value_commas, with_empty = _quoted_content(raw, names, len(data), counts)
    # a line of bare commas, or of one quoted empty value, reads as all nulls and ""s (none
    # does when the first column has neither): how many commas such a line held, which the
    # count below must account for, is not in the frame, so such a file takes the exact path.
    # Counted as a record without commas, a short line of bare commas hid a short record
    if raw[names[0]].null_count() or names[0] in with_empty:
        blank = pl.all_horizontal(pl.col(names).is_null() | (pl.col(names) == ""))
        if raw.select(blank.any()).item():
            return None
    commas, newlines = counts.commas, counts.newlines
    header_commas = data.count(b",", 0, data.find(b"\n"))  # `data` ends in a line end
    expected_commas = records * (width - 1) + value_commas
    if commas - header_commas != expected_commas:
        return None  # a ragged record, or a comma where none was expected
    physical_lines = newlines  # each ends in a line end
    line = pl.int_range(2, records + 2, dtype=pl.Int64, eager=True)
    if physical_lines != 1 + records:  # some values span lines: count them per record
        if not counts.quotes:
            return None  # no value spans lines unquoted: a blank line, or the like
        inner = raw.select(
            pl.sum_horizontal(pl.col(names).str.count_matches("\n", literal=True).fill_null(0))
        ).to_series()
        if physical_lines != 1 + records + int(inner.sum()):
            return None
        line = line + inner.cum_sum().shift(1, fill_value=0).cast(pl.Int64)
    rows = raw.with_columns(pl.col(with_empty).replace("", None), line.alias(LINE))
    # one chunk per column: the parser's per-thread chunks would tax every later expression
    # (left in them, a 1M-student resync took 11 s instead of 8). Copied here, the chunked
    # columns are freed at once; copied later, after the parse, the run held both (0.3 GiB
    # more at 200k) for no time saved
    return rows.rechunk()


def _quoted_content(
    raw: pl.DataFrame, names: list[str], size: int, counts: ByteCounts
) -> tuple[int, list[str]]:
    """The commas inside the values of `raw`, and the columns holding an empty string. Only a
    quoted value holds either (a comma, or a quoted "" that Polars reads as "" where an unquoted
    empty field is null): a file without a double quote has neither, and pays no pass over its
    values (enrollments.csv, the largest file of a district, as a rule has none)."""
    if not counts.quotes:
        return 0, []
    # every column, those of identifiers and codes too: left out of the count, a quoted comma
    # in one balanced the comma a short record lacks, and the count passed that record padded
    # with nulls (`"e1,x",...` beside a record missing its endDate). Counted in each column
    # joined into one string (no value is longer than the file, and a string may hold 4 GiB),
    # which is twice as fast as per value; with the short columns of identifiers in the same
    # select, 0.002 s more for users.csv at 200k students
    texts = pl.col(names)
    texts = texts.str.join("") if size < _JOINABLE_BYTES else texts
    commas = raw.select(
        pl.sum_horizontal(pl.lit(0), texts.str.count_matches(",", literal=True).sum())
    ).item()
    # apart from the commas' select: one select of both took half as long again (0.042 s
    # against 0.028 for users.csv at 200k students)
    empty = raw.select((pl.col(name) == "").any() for name in names).row(0)
    return int(commas or 0), [name for name, found in zip(names, empty, strict=True) if found]


def _exact_parse(
    data: bytes, header: tuple[str, ...], file_name: str, bare_crs: int = 0
) -> tuple[pl.DataFrame, list[dict]]:
    """The csv module's reading of `data`: its records, and an error for each ragged one and
    for a quote left open at the end; with `bare_crs` (CRs alone in `data`), the warning
    `file.line_endings` when any of them ended a line rather than stood in a quoted value."""
    names = _unique_names(header)
    width = len(names)
    text = data.decode(UTF8)
    # a CR alone, LF or CRLF ends a line (newline=""), outside quotes a record too
    reader = csv.reader(io.StringIO(text + _EOF_PROBE, newline=""), strict=False)
    records: list[list[str]] = []
    lines: list[int] = []
    problems = []
    ragged_crs = 0  # the CRs alone in the values of ragged records, which are no rows
    start = 1  # the line the record being read starts on
    try:
        first = record = next(reader)
        header_end = reader.line_num  # past 1 when a quote of the header line takes in more
        start = header_end + 1
        for record in reader:
            if not record or record == [""]:
                pass  # a blank line: not a record
            elif len(record) != width:
                problems.append(_ragged_issue(file_name, start, record, width))
                ragged_crs += _bare_crs_in(record) if bare_crs else 0
            else:
                records.append(record)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as error:  # a value longer than the csv module takes (128 KiB)
        raise UnreadableFile(_too_long(file_name, start, reader.line_num, error)) from None
    # the probe's record, the last, went where a record of one field goes: taken back
    if record == [_EOF_MARK]:
        if width == 1:
            del records[-1], lines[-1]
        else:
            del problems[-1]
    else:  # the probe is in the last value: the file ends inside a quoted value
        record[-1] = record[-1].removesuffix(_EOF_PROBE)
        if record is not first and len(record) != width:
            del problems[-1]  # ragged for the quote it lacks, which the error below names
        elif record is not first and record == [""]:  # (a file of one column)
            del records[-1], lines[-1]
        problems.append(_unclosed_quote_issue(text, header, record, file_name))
    if header_end > 1 and record is not first:  # (a header left open to the end: named above)
        problems.insert(0, _header_quote_issue(text, header_end, file_name))
    rows = pl.DataFrame(records, schema={name: pl.String for name in names}, orient="row")
    if bare_crs:  # those not in a value ended lines
        line_ends = bare_crs - ragged_crs - _bare_crs_in(first) - _bare_crs_in_rows(rows)
        if line_ends > 0:
            problems.insert(0, _line_endings_issue(file_name, line_ends))
    rows = rows.with_columns(pl.col(names).replace("", None), pl.Series(LINE, lines, pl.Int64))
    return rows, problems


def _too_long(file_name: str, start: int, line: int, error: csv.Error) -> str:
    """Why a file whose record on line `start` holds a value longer than the csv module takes
    is unreadable, the module reading line `line` as it gave up: named on the line the record
    starts on, where a quote left open (the usual cause: it takes in every line after it, and
    in a file of more than 128 KiB, this) opens the value, not on the line 128 KiB further on."""
    if "field limit" not in str(error):  # (none other is known: said as the module says it)
        return f"{file_name} line {line}: {error}"
    runs_on = f", running on to line {line}" if line > start else ""
    return (
        f"{file_name} line {start}: {error}: the record on this line holds a value of more "
        f"than {csv.field_size_limit():,} characters{runs_on}, which no OneRoster value is (a "
        "quote that opens a value and is never closed takes in the lines after it)"
    )


def _ragged_issue(file_name: str, line: int, record: list[str], width: int) -> dict:
    return issue_row(
        file_name,
        line,
        None,
        ",".join(record)[:200],
        "file.ragged",
        "error",
        f"record has {len(record)} fields, the header has {width}",
    )


def _bare_crs_in(values: list[str]) -> int:
    """The CRs alone (not before an LF) in these values."""
    return sum(value.count("\r") - value.count("\r\n") for value in values)


def _bare_crs_in_rows(rows: pl.DataFrame) -> int:
    """The CRs alone in the values of `rows` (String columns): one pass over each column."""
    if rows.height == 0:
        return 0
    values = pl.col(rows.columns)
    crs = values.str.count_matches("\r", literal=True) - values.str.count_matches(
        "\r\n", literal=True
    )
    return int(rows.select(pl.sum_horizontal(crs.sum())).item() or 0)


def _unclosed_quote_issue(
    text: str, header: tuple[str, ...], record: list[str], file_name: str
) -> dict:
    """The error of a file ending inside a quoted value: on the line its quote opens on, in the
    field it opens (the last one of `record`, the record it is in)."""
    opening = 0
    # the last run opens it (see _ODD_QUOTES): a pass over the quotes of a broken file only
    for odd_run in _ODD_QUOTES.finditer(text):
        opening = odd_run.start()
    # as the csv module numbers lines: a CR alone, an LF or a CRLF ends one
    line = (
        1
        + sum(text.count(end, 0, opening) for end in ("\n", "\r"))
        - text.count("\r\n", 0, opening)
    )
    field = header[len(record) - 1] if len(record) <= len(header) else None
    shown = re.split(r"[\r\n]", text[opening : opening + 200], maxsplit=1)[0]
    return issue_row(
        file_name,
        line,
        field,
        shown,
        "file.quote",
        "error",
        "a quote opens a value here and is never closed: the file ends inside the value (a "
        "closing quote is missing, or a quote in the value is not doubled)",
    )


def _header_quote_issue(text: str, header_end: int, file_name: str) -> dict:
    """The error of a header line with a quote that a later line closes: no column's name
    holds a line break, so the lines up to `header_end` were taken into the header, and the
    records on them are lost (the header itself is the first line's, which the header check
    then finds wrong)."""
    return issue_row(
        file_name,
        1,
        None,
        re.split(r"[\r\n]", text[:200], maxsplit=1)[0],
        "file.quote",
        "error",
        f"a quote opens a value in the header line and only closes on line {header_end}, so "
        f"lines 1 to {header_end} read as one header line (a closing quote is missing, or a "
        "quote in a name is not doubled)",
    )


def _without_repeated_header(
    rows: pl.DataFrame, header: tuple[str, ...], file_name: str
) -> tuple[pl.DataFrame, list[dict]]:
    """The rows less any that repeat the header line (two exports joined into one file, each
    with its byte-order mark, perhaps), and an error for each. One comparison of the first
    column finds the candidates; a file without any pays for nothing else."""
    names = _unique_names(header)
    first = pl.col(names[0])
    candidate = (first == header[0]) | (first == BOM.decode() + header[0])
    if not header[0] or not rows.select(candidate.any()).item():
        return rows, []
    rest = [
        pl.col(name).fill_null("") == value
        for name, value in zip(names[1:], header[1:], strict=True)
    ]
    repeated = rows.select(candidate & pl.all_horizontal(pl.lit(True), *rest)).to_series()
    problems = [
        issue_row(
            file_name,
            line,
            None,
            ",".join(header)[:200],
            "header.repeated",
            "error",
            "the header line again (two files joined into one?); not read as a record",
        )
        for line in rows.filter(repeated)[LINE]  # a few lines: one per joined file
    ]
    return rows.filter(~repeated), problems


def _control_issues(rows: pl.DataFrame, header: tuple[str, ...], file_name: str) -> pl.DataFrame:
    """An error for every value, and header name, that holds a control character, the
    character shown as \\xNN. Only a file with a control byte somewhere is looked at."""
    message = (
        "holds a control character (shown as \\xNN), which no OneRoster value may: "
        "remove it in the SIS"
    )

    def shown(value: pl.Expr) -> pl.Expr:
        return value.str.replace_many(CONTROL_CHARACTERS, _CONTROL_SHOWN)

    named = [
        issue_row(file_name, 1, None, name, "value.control", "error", f"header name {message}")
        for name in header
        if any(character in name for character in CONTROL_CHARACTERS)
    ]
    names = _unique_names(header)
    controlled = pl.col(names).str.contains(_CONTROL_PATTERN).fill_null(False)
    # the unpivoted columns are named with the line's prefix: no header name is like them
    column, value = f"{LINE}_column", f"{LINE}_value"
    in_values = (
        rows.lazy()
        .filter(pl.any_horizontal(controlled))
        .unpivot(on=names, index=LINE, variable_name=column, value_name=value)
        .filter(pl.col(value).str.contains(_CONTROL_PATTERN))
        .select(
            pl.lit(file_name, pl.String).alias("file"),
            pl.col(LINE).alias("line"),
            pl.col(column)
            .replace_strict(dict(zip(names, header, strict=True)), return_dtype=pl.String)
            .alias("field"),
            shown(pl.col(value)).alias("value"),
            pl.lit("value.control").alias("rule"),
            pl.lit("error").alias("severity"),
            pl.lit(f"the value {message}").alias("message"),
        )
        .collect()
    )
    return pl.concat(
        [issue_frame(named).with_columns(shown(pl.col("value"))), in_values.cast(ISSUE_SCHEMA)]
    )
