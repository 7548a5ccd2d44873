"""Parse one CSV file exactly: every value as text, every record with the line it starts on.

The fast path is one Polars parse. Two cheap whole-file counts prove it read the file as a
strict RFC 4180 reader would: the newlines in the bytes account for the records plus the
newlines inside quoted values (so each record's start line is exact), and the commas in the
bytes account for every record having the header's width plus the commas inside values. If
Polars refuses the file or either count disagrees (a ragged row, a stray quote, a blank line
with commas), the file is read again by its lines: a line whose values are unquoted or quoted
well is one record, found ragged or blank by counting its commas outside quotes, the others
read by one Polars parse; Python's `csv` module, which is slow but reports every malformed
record by line, reads only from the lines that need it (a value quoted amiss, or one spanning
lines) as far as their records end with a line, or the whole file when many lines do. Only
broken files pay for that, and most pay little more than a good file.

What a strict reader would choke on or let through is settled on the way, each at the cost of a
whole-buffer operation or a vectorized one, so that a good file pays next to nothing for it: a
file in another encoding is transcoded to UTF-8 first (`[feed] encoding`; a newline stays a
newline, so every line number holds), a CR alone outside quotes ends a line (with a
warning), a file separated by tabs or semicolons is one error rather than a column per line, a
header line repeated inside the file (two exports joined) is one error on its line rather than
a record, a control character in a value is an error naming its line and field, a quote
left open at the end of the file is an error naming the line it opens on, and so is one of the
header line that only a later line closes. A DOS end-of-file mark (Ctrl-Z) as the file's
last byte ends the file, with a warning on its line, before either path reads it (a look at
the last byte; anywhere else it is a control character). A file starting with the byte-order
mark of another encoding than the named one is refused, and UTF-16 or UTF-32 without a mark is
read in the byte order its first character shows. A file of compressed bytes (gzip, zlib, zstd), which
Polars would inflate without a word, is refused as the compressed file it is.

A CR alone is read as a line end wherever it stands outside quotes, as the csv module reads
it, and the file gets the warning `file.line_endings`: in a file whose every line ends so
(classic Mac OS) as one pass that turns them into LFs, then the fast path; in a file that
also has LFs only the csv module tells a line-ending CR from one inside a quoted value, so
such a file takes the exact path (a stray CR inside an unquoted value splits its record, which
is then ragged). A file without a CR, or with CRs only before LFs, pays nothing for this.

A value quoted amiss, its closing quote followed by more of it (`""a""`, `"Robert "Bob" Smith"`,
`"a"b`), reads the same on both paths: as Polars reads it (each quote of it that is not doubled
dropped: `a`, `Robert Bob Smith`) when Polars reads it, else (the file then never takes the fast
path) as the csv module does (`ab`) with the warning `value.quote`. Polars takes such a value on
across a line end where the csv module ends the record: a file whose values span lines has its
records that do checked for it, and takes the exact path if one is quoted amiss. A value longer
than 128 KiB reads on both paths (the csv module's limit is raised).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

import polars as pl
import pyarrow as pa

from rosterflow.schemas.issues import ISSUE_SCHEMA, issue_frame, issue_row
from rosterflow.schemas.printable import printable

BOM = b"\xef\xbb\xbf"
# a DOS end-of-file mark (Ctrl-Z, 0x1A), which old Windows exporters write as a file's last byte
DOS_END_OF_FILE = b"\x1a"
LINE = "__line"
UTF8 = "utf-8"
_JOINABLE_BYTES = 2**31  # a file smaller than this joins any column into one Polars string
# the byte `_spanning_records_read_alike` separates a file's lines' fields with (it reads each
# line whole), absent from a file without control characters
_SPLITTING_BYTE = "\x01"
# a record whose values are each quoted with their quotes doubled, or hold no quote at all: the
# csv module and Polars read it alike, across lines as well
_WELL_QUOTED_VALUE = r'"(?:[^"]|"")*"'  # (`_line_parse` counts the commas outside these)
_WELL_QUOTED_FIELD = rf'(?:{_WELL_QUOTED_VALUE}|[^",\n]*)'
_WELL_QUOTED_RECORD = rf"^{_WELL_QUOTED_FIELD}(?:,{_WELL_QUOTED_FIELD})*$"
# the C0 control characters no value may hold: all but tab, and CR and LF (which only a quoted
# value holds: elsewhere they end the line)
CONTROL_CHARACTERS = tuple(chr(code) for code in range(32) if chr(code) not in "\t\n\r")
_CONTROL_PATTERN = "[\x00-\x08\x0b\x0c\x0e-\x1f]"
# a control character in an issue's value, as a person can read it (and copy it to a search):
# as every printed text shows it
_CONTROL_SHOWN = tuple(map(printable, CONTROL_CHARACTERS))
_CONTROL_TABLE = {
    ord(c): shown for c, shown in zip(CONTROL_CHARACTERS, _CONTROL_SHOWN, strict=True)
}
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
# the codecs of two or four bytes a character, in either order or one: text in them of a header
# line, ASCII, has a NUL beside each letter
_WIDE_CODECS = frozenset(f"{name}{order}" for name in _EITHER_ORDER for order in ("", "-le", "-be"))
# how far into a file a NUL is looked for: a UTF-16 file without one there holds no comma, line
# end or ASCII letter in its first 32 characters, which no CSV file does
_WIDE_PROBE_BYTES = 64
# a value that starts with a quote, as a strict reader takes it: up to the first quote alone.
# Possessive: a quote left open in a big file is one pass to its end (with `(?:[^"]|"")*`,
# 4.5 s for 50 MB, a branch a character and a step back for each when no quote closes it)
_QUOTED = re.compile(r'"[^"]*+(?:""[^"]*+)*+"(?!")')
# the values (and their commas) up to one that starts with a quote or the record's end: the
# quotes of a value that does not start with one are read as they are
_UNQUOTED_VALUES = re.compile(r'(?:[^",\r\n][^,\r\n]*+)?(?:,(?:[^",\r\n][^,\r\n]*+)?)*+')
# a value that starts with a quote closed (`_QUOTED`), and what follows its closing quote
_QUOTED_VALUE = re.compile(rf"{_QUOTED.pattern}([^,\r\n]*+)")
# the csv module refuses a value longer than 128 KiB (131,072 characters), which Polars reads:
# the exact path reads values as long as a file (of less than 2 GiB) holds. The limit is the
# whole process's, which no other reader in it needs lower
_FIELD_LIMIT = 2**31 - 1
# the value `_polars_readings` puts after a record's last, to tell how many it has: a Unicode
# noncharacter (any text would do: only where Polars reads it counts)
_RECORD_MARK = "\ufdd0"
csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
# the longest header name: a first line with a longer one is no header (as the csv module's
# default limit refused it)
_HEADER_NAME_LIMIT = 131_072
# a run of double quotes of odd length: the last one of a file ending inside a quoted value opens
# that value (inside it, quotes come in pairs: a quote alone would close it)
_ODD_QUOTES = re.compile(r'(?<!")(?:"")*"(?!")')


# the magic numbers of the compressed bytes Polars' read_csv inflates without a word (gzip,
# zstd, zlib): a file that starts so is no CSV text, whatever Polars would read from it
_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    *((bytes([0x78, level]), "zlib") for level in (0x01, 0x5E, 0x9C, 0xDA)),
)
_COMPRESSED_FIRST_BYTES = frozenset(magic[0] for magic, _ in _COMPRESSED)


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
    # True when every byte of the file (as UTF-8) is ASCII: no value holds a character a
    # screen does not show, every one of which is beyond ASCII (`schemas.identity`)
    ascii: bool = False
    # True when the one whitespace character a value can hold is the space: the file is ASCII,
    # with no tab, control character or CR, and no value spans lines (told by the counts the
    # parse takes anyway: a search for spaces around a value looks at its two ends alone)
    spaces_only: bool = False


def is_utf8(encoding: str) -> bool:
    """Whether `encoding` names UTF-8 in any spelling ("UTF8", "utf_8"), or UTF-8 with a
    byte-order mark ("utf-8-sig", Excel's "CSV UTF-8": the mark is read as in UTF-8): such a
    file's bytes are parsed as they are, without a transcoded copy."""
    return codecs.lookup(encoding).name in (UTF8, "utf-8-sig")


def parse_csv(data: bytes, file_name: str, encoding: str = UTF8) -> ParsedCsv:
    """Parse `data`; `encoding` is the one the file was saved in (a codec name; UTF-8 is read
    as it is)."""
    _refuse_compressed(data, file_name)
    notes: list[dict] = []
    if not is_utf8(encoding):
        utf8 = _utf8_beyond_ascii(data, file_name, encoding)
        notes += [utf8] if utf8 is not None else []
        data = _transcoded(data, file_name, encoding)
    # the mark an old Windows exporter writes after the file's last line, or at its end: the
    # end of the file, which both paths read without it (a control character anywhere else is
    # a value's, an error)
    dos_end = data.endswith(DOS_END_OF_FILE)
    if dos_end:
        data = data[: -len(DOS_END_OF_FILE)]
    counts = _byte_counts(data)
    bare_crs = _bare_crs(data, counts)  # 0 at no cost in a file without a CR
    if bare_crs and not counts.newlines:
        # a bare CR ends every line (classic Mac OS), a quoted value's too: as LF, the counts
        # below hold and the fast path reads the file
        data = data.replace(b"\r", b"\n")
        counts, bare_crs = counts._replace(newlines=counts.crs, crs=0), 0
        notes.append(_line_endings_issue(file_name, None))
    if dos_end:  # on the line it stands on: the line after the last line end
        notes.append(_dos_end_issue(file_name, counts.newlines + bare_crs + 1))
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
    problems = issue_frame([])
    one_line_records = False
    if rows is None:
        data = data[bom:]
        _check_utf8(data, file_name)
        by_lines = None if bare_crs else _line_parse(data, header, file_name, counts)
        if by_lines is None:
            rows, found_problems = _exact_parse(data, header, file_name, bare_crs)
            problems = issue_frame(found_problems)
        else:
            rows, problems = by_lines
    else:  # proven: one record per line exactly when the lines are the records and a header
        lines = counts.newlines + (not data.endswith(b"\n"))
        one_line_records = lines == 1 + rows.height
    rows, repeated = _without_repeated_header(rows, header, file_name)
    found = [issue_frame(notes), problems, issue_frame(repeated)]
    if counts.others and _has_control(data):
        found.append(_control_issues(rows, header, file_name))
    return ParsedCsv(
        header,
        rows,
        pl.concat(found),
        one_line_records=one_line_records,
        ascii=counts.beyond_ascii == bom,  # (a byte-order mark's bytes are beyond ASCII)
        spaces_only=(
            counts.beyond_ascii == bom and not counts.others and not counts.crs and one_line_records
        ),
    )


def compressed_as(data: bytes) -> str | None:
    """The compression `data` starts as ("gzip", "zstd", "zlib"), which Polars' read_csv
    inflates without a word (the lines of a `users.csv` that is `users.csv.gz` renamed read as
    the export's own), or None."""
    if not data or data[0] not in _COMPRESSED_FIRST_BYTES:
        return None
    return next((name for magic, name in _COMPRESSED if data.startswith(magic)), None)


def _refuse_compressed(data: bytes, file_name: str) -> None:
    """Refuse a compressed file as the compressed file it is, in every encoding, where the
    UTF-8 check would name a byte of it ("not UTF-8 (byte 0x8b ...)")."""
    compression = compressed_as(data)
    if compression is not None:
        raise UnreadableFile(
            f"{file_name} line 1: not a CSV file but a {compression}-compressed one (it starts "
            f"with bytes {data[:2].hex(' ').upper()}); give the feed the file uncompressed"
        )


def _transcoded(data: bytes, file_name: str, encoding: str) -> bytes:
    """`data`, saved in `encoding`, as UTF-8. Every character stays one character, so a line
    of the file is a line of the result and every line number holds."""
    _refuse_foreign_mark(data, file_name, encoding)
    _refuse_narrow_text(data, file_name, encoding)
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


def _refuse_narrow_text(data: bytes, file_name: str, encoding: str) -> None:
    """Refuse a file the settings say is UTF-16 or UTF-32 (without a byte-order mark) whose
    first bytes hold no NUL: it is text of one byte a letter, UTF-8 or ASCII (a SIS that turned
    to UTF-8 since `[feed] encoding` was set), which UTF-16 reads two bytes at a time as letters
    of other scripts (`pr` as `牰`): every header name wrong, or the last byte of a file of an
    odd size refused at the end of its one line."""
    if (
        not data
        or codecs.lookup(encoding).name not in _WIDE_CODECS
        or _marked_encoding(data) is not None  # (the named encoding's own: read past)
        or b"\x00" in data[:_WIDE_PROBE_BYTES]
    ):
        return
    try:
        data.decode(UTF8)
        said = "its bytes are UTF-8: take the setting out"
    except UnicodeDecodeError:
        said = "it is text of one byte a character"
    raise UnreadableFile(
        f"{file_name} line 1: not {encoding} (no NUL among its first bytes, where "
        f"{encoding.upper()} text has one beside each ASCII letter); the file is not valid "
        f"{encoding}: check [feed] encoding, which must name the encoding the SIS saved it in "
        f"({said})"
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


def _dos_end_issue(file_name: str, line: int) -> dict:
    """The warning of a file whose last byte is a DOS end-of-file mark, on the `line` it
    stands on (alone, or at the end of the last record)."""
    return issue_row(
        file_name,
        line,
        None,
        printable(DOS_END_OF_FILE.decode()),
        "file.dos_end",
        "warning",
        "a DOS end-of-file mark (Ctrl-Z, 0x1A) ends the file, as old Windows exporters write "
        "it: read as the end of the file, and ignored",
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
    names = tuple(next(csv.reader([first_line])))
    if max(map(len, names)) > _HEADER_NAME_LIMIT:  # a "header" of a field longer than any name
        raise UnreadableFile(
            f"{file_name} line 1: not a CSV header line (field larger than field limit "
            f"({_HEADER_NAME_LIMIT}))"
        )
    return names


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
    beyond_ascii: int = 0  # bytes of 0x80 and above: the bytes of characters beyond ASCII


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
        (octets >= 0x80).sum().alias("beyond_ascii"),
    ).row(0, named=True)
    others = counts["below_space"] - counts["newlines"] - counts["crs"]
    return ByteCounts(
        counts["commas"],
        counts["newlines"],
        others,
        counts["quotes"],
        counts["crs"],
        counts["beyond_ascii"],
    )


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
        if not _spanning_records_read_alike(data, counts, line, inner):
            return None  # a value Polars takes on past a line that the csv module ends there
    rows = raw.with_columns(pl.col(with_empty).replace("", None), line.alias(LINE))
    # one chunk per column: the parser's per-thread chunks would tax every later expression
    # (left in them, a 1M-student resync took 11 s instead of 8). Copied here, the chunked
    # columns are freed at once; copied later, after the parse, the run held both (0.3 GiB
    # more at 200k) for no time saved
    return rows.rechunk()


def _spanning_records_read_alike(
    data: bytes, counts: ByteCounts, line: pl.Series, inner: pl.Series
) -> bool:
    """Whether each record of `data` (which ends in a line end) that Polars reads across lines,
    starting on `line` with `inner` line ends in its values, is one the csv module reads alike:
    fields each quoted with their quotes doubled, or without a quote at all. Polars takes a
    value whose quotes are not doubled on across a line that the csv module ends there (`"a"b`
    and a line after it), a record the csv module does not read, which the counts cannot tell;
    in one line, Polars reads such a value as the exact path does (see `_exact_parse`).

    The lines are the rows of one parse of `data` by Polars' reader with no quote at all (a
    pass as long as the parse itself, paid by the files with values spanning lines alone); the
    records spanning lines, few as a rule, are put back together from them and matched whole."""
    lines = _physical_lines(data, counts)
    # (none: a control character, an error of the file, which the exact path reads)
    if lines is None or lines.height != counts.newlines:  # (never seen: Polars keeps blanks)
        return False
    spanning = (
        pl.DataFrame({"start": line, "inner": inner})
        .filter(pl.col("inner") > 0)
        .with_row_index("record")
        .select("record", pl.int_ranges(pl.col("start") - 1, pl.col("start") + pl.col("inner")))
        .explode("start")
    )
    # (Polars takes a CR off the end of each line: the lines of CRLF files match as LF ones)
    records = (
        spanning.with_columns(lines["text"].gather(spanning["start"]).fill_null("").alias("text"))
        .group_by("record")
        .agg(pl.col("text").str.join("\n"))
    )
    return bool(records.select(pl.col("text").str.contains(_WELL_QUOTED_RECORD).all()).item())


def _physical_lines(data: bytes, counts: ByteCounts) -> pl.DataFrame | None:
    """Each line of `data` (whose byte counts are `counts`) as Polars' reader splits it with no
    quote at all (one column, `text`): without its LF or CRLF, a blank one null. None for a
    file holding `_SPLITTING_BYTE`, a control character Polars would split a line on (refused,
    or its empty parts dropped on a last line without a line end)."""
    if counts.others and _SPLITTING_BYTE.encode() in data:
        return None
    return pl.read_csv(
        data,
        has_header=False,
        separator=_SPLITTING_BYTE,
        quote_char=None,
        schema={"text": pl.String},
    )


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


def _line_parse(
    data: bytes, header: tuple[str, ...], file_name: str, counts: ByteCounts
) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """`_exact_parse` of a file the fast path's counts refused (a ragged record, a blank line),
    with the csv module reading only the lines that need it; None when too many do. Read whole
    by the module, a large file with one ragged record took seconds, its values held as Python
    strings.

    A line that holds no quote, or whose values are each quoted with their quotes doubled or
    hold none (`_WELL_QUOTED_RECORD`), the module reads from the start of a record as one
    record ending with the line; every other line (a value quoted amiss, or one spanning
    lines) the module reads from where it starts, with the lines after it until a record of
    it ends with a line (`_module_spans`). Every line outside those spans is then one record
    (or blank): its values are those its commas outside quotes separate, and one Polars parse
    of the lines, which reads such records as the module does, gives those of the header's
    width; the ragged ones are issues (`_ragged_lines`). `data` is UTF-8 without a byte-order
    mark and with no CR alone (the exact path reads those files)."""
    names = _unique_names(header)
    width = len(names)
    try:
        lines = _physical_lines(data, counts)
    except pl.exceptions.PolarsError:
        return None
    if lines is None or lines.height != counts.newlines + (not data.endswith(b"\n")):
        return None
    text = pl.col("text")
    fields = text.str.count_matches(",", literal=True) + 1
    to_module = pl.lit(False)
    if counts.quotes:
        has_quote = text.str.contains('"', literal=True)
        to_module = (has_quote & ~text.str.contains(_WELL_QUOTED_RECORD)).fill_null(False)
        unquoted = pl.when(has_quote).then(text.str.replace_all(_WELL_QUOTED_VALUE, ""))
        fields = unquoted.otherwise(text).str.count_matches(",", literal=True) + 1
    # what the module reads as no record: an empty line, or one of a quoted empty value
    blank = text.is_null() | text.is_in(["", '""'])
    lines = lines.with_row_index("at").with_columns(to_module.alias("to_module"))
    starts = lines.filter("to_module").get_column("at")
    if starts.len() > _MOST_SPANS or (starts.len() and starts[0] == 0):
        return None  # (or the header is such a line: a quote of it may take in more lines)
    bounds = _line_bounds(data, lines.height) if starts.len() else None
    spans = _module_spans(data, header, file_name, bounds, starts) if bounds is not None else []
    spanned = pl.DataFrame(
        [(span.first, span.after) for span in spans],
        schema={"first": pl.Int64, "after": pl.Int64},
        orient="row",
    ).select(pl.int_ranges("first", "after").explode().drop_nulls())
    in_spans = pl.zeros(lines.height, pl.Boolean, eager=True).scatter(spanned.to_series(), True)
    # per line outside the spans: of the header's width, ragged, or (the header, a blank
    # line) neither
    full = (
        pl.when(blank | (pl.col("at") == 0) | pl.lit(in_spans))
        .then(pl.lit(None))
        .otherwise(fields == width)
    )
    lines = lines.select("at", "text", full.alias("full"), pl.lit(in_spans).alias("spanned"))
    ragged = _ragged_lines(lines.filter(~pl.col("full")), file_name, width)
    by_lines = lines.filter(~pl.col("spanned") & (pl.col("at") > 0))
    full = by_lines.get_column("full").fill_null(False)
    ats = by_lines.get_column("at")
    del lines, by_lines  # (the lines' text: as large as the file)
    # the lines outside the spans, by their bytes: the file and its header, when none is
    kept, header_lines = data, 1
    if bounds is not None:
        runs = (
            ats.to_frame()
            .group_by((pl.col("at").diff() != 1).fill_null(True).cum_sum(), maintain_order=True)
            .agg(pl.col("at").first().alias("first"), (pl.col("at").last() + 1).alias("after"))
        )
        ranges = zip(bounds.gather(runs["first"]), bounds.gather(runs["after"]), strict=True)
        kept, header_lines = b"".join(memoryview(data)[start:end] for start, end in ranges), 0
    values = _empty_rows(header).drop(LINE)
    if ats.len():
        try:
            # one row a line (a blank one too, of nulls): a ragged line's cut to the header's
            # width or padded, and left out below with the blank ones
            values = pl.read_csv(
                kept if kept.endswith(b"\n") else kept + b"\n",
                has_header=False,
                skip_rows=header_lines,
                schema={name: pl.String for name in names},
                missing_columns="insert",
                extra_columns="ignore",
                truncate_ragged_lines=True,
                quote_char='"',
            )
        except pl.exceptions.PolarsError:
            return None
    if values.height != ats.len():  # (each line quoted well is one row: none is seen)
        return None
    rows = values.filter(full).with_columns(
        pl.col(names).replace("", None), (ats.filter(full).cast(pl.Int64) + 1).alias(LINE)
    )
    if not spans:
        return rows.rechunk(), ragged
    rows = pl.concat([rows, *(span.rows for span in spans)]).sort(LINE)
    # in the exact path's order: the ragged records by line, then the values quoted amiss,
    # then a quote left open at the end of the file
    order = pl.col("rule").replace_strict(
        {"file.ragged": 0, "value.quote": 1}, default=2, return_dtype=pl.Int8
    )
    problems = pl.concat([ragged, *(span.issues for span in spans)])
    problems = problems.sort(order, "line", maintain_order=True)
    return rows.rechunk(), problems


def _line_bounds(data: bytes, lines: int) -> pl.Series:
    """Where each of the first `lines` lines of `data` starts, and then its length: line i
    runs from bounds[i] up to bounds[i + 1]."""
    bounds = pl.select(pl.arg_where(_octets(data) == ord("\n")) + 1).to_series()
    bounds = pl.concat([pl.Series([0], dtype=bounds.dtype), bounds]).head(lines)
    return bounds.append(pl.Series([len(data)], dtype=bounds.dtype))


# the most lines `_line_parse` has the csv module read from, each alone, before it lets it read
# the whole file (an export that quotes a column amiss on every line: one parse of them all)
_MOST_SPANS = 1_000
# the most lines a span takes in while the value its first line opens runs on, doubled at
# each try, before it runs to the end of the file (a quote left open)
_LONGEST_SPAN = 64


class _Span(NamedTuple):
    """Lines the csv module read for `_line_parse` (`_module_spans`), and what it read."""

    first: int  # the index of its first line in the file
    after: int  # the index of the line after its last
    rows: pl.DataFrame  # the module's records of it, on the file's lines
    issues: pl.DataFrame  # and its issues, on the file's lines


def _module_spans(
    data: bytes,
    header: tuple[str, ...],
    file_name: str,
    bounds: pl.Series,
    starts: pl.Series,
) -> list[_Span]:
    """The lines the csv module reads for `_line_parse`, from each of `starts` (the lines it
    must read, each at the start of a record) as far as a record of them ends with a line:
    per span its first line and the one after it, and the module's rows and issues of it, on
    the file's lines. A span whose records end with its last line is read as the whole file
    reads it (the module reads on from the start of a record after it), and so is the one
    that runs to the end of the file."""
    header_line = data[: bounds[1]]
    lines = bounds.len() - 1
    spans: list[_Span] = []
    read_to = 1
    for first in starts.to_list():
        if first < read_to:
            continue  # (read by the span before it)
        after = first + 1
        while True:
            rows, problems, ended = _exact_read(
                header_line + data[bounds[first] : bounds[after]], header, file_name
            )
            if ended or after == lines:
                break
            after = first + 2 * (after - first) if after - first < _LONGEST_SPAN else lines
            after = min(after, lines)
        shift = first - 1  # (the span's first line is line 2 of the file read)
        issues = issue_frame(problems).with_columns(pl.col("line") + shift)
        spans.append(_Span(first, after, rows.with_columns(pl.col(LINE) + shift), issues))
        read_to = after
    return spans


def _ragged_lines(ragged: pl.DataFrame, file_name: str, width: int) -> pl.DataFrame:
    """`_ragged_issue` of each of these lines (`at`: its index in the file, `text`), each one
    record: a line without a quote is its values and their commas, as the issue shows them
    (a file of records each with a comma too many is as many issues: no loop over them); the
    csv module reads a line with quotes.

    The lines come in one piece: filtered out of a file's lines, their `text` stays in the
    pieces Polars' reader split the file into (some empty), where `at` is one, and Polars 2.1
    panics formatting such a frame (`assertion failed: i < self.len()`, a traceback where the
    issues were due): two ragged lines far apart in a file of a few thousand lines did it."""
    ragged = ragged.rechunk()  # (a copy of the ragged lines alone)
    values = pl.col("text")
    fields = values.str.count_matches(",", literal=True) + 1
    plain = ragged.filter(~values.str.contains('"', literal=True)).select(
        pl.lit(file_name).alias("file"),
        (pl.col("at").cast(pl.Int64) + 1).alias("line"),
        pl.lit(None, pl.String).alias("field"),
        _shown(values.str.slice(0, 200)).alias("value"),
        pl.lit("file.ragged").alias("rule"),
        pl.lit("error").alias("severity"),
        pl.format(_RAGGED, fields, pl.lit(width)).alias("message"),
    )
    quoted = issue_frame(
        _ragged_issue(file_name, at + 1, next(csv.reader([line])), width)
        for at, line in ragged.filter(values.str.contains('"', literal=True))
        .select("at", "text")
        .iter_rows()
    )
    return pl.concat([plain.cast(ISSUE_SCHEMA), quoted]).sort("line")


def _exact_parse(
    data: bytes, header: tuple[str, ...], file_name: str, bare_crs: int = 0
) -> tuple[pl.DataFrame, list[dict]]:
    """`_exact_read`'s rows and issues of the whole of `data`."""
    rows, problems, _ = _exact_read(data, header, file_name, bare_crs)
    return rows, problems


def _exact_read(
    data: bytes, header: tuple[str, ...], file_name: str, bare_crs: int = 0
) -> tuple[pl.DataFrame, list[dict], bool]:
    """The csv module's reading of `data`: its records, and an error for each ragged one and
    for a quote left open at the end; with `bare_crs` (CRs alone in `data`), the warning
    `file.line_endings` when any of them ended a line rather than stood in a quoted value.

    A record with a value quoted amiss (`""a""`, `"a"b`: its closing quote is followed by more
    of it) is read as Polars reads it when Polars reads it, so that the file reads as the fast
    path reads it whichever path reads it (Polars drops each quote of the value that is not
    doubled: `a`); else as the csv module does, with the warning `value.quote`. So does the
    last record when a quote the csv module takes to open a value running to the end of the file
    is one Polars takes to close one (`","a","`, read `,a,`). A file with CRs alone never takes
    the fast path: its records read as the csv module reads them.

    And whether the module's last record ended where `data` ends (no quote of it left open):
    then `data` followed by more would be read the same up to its end (`_line_parse`)."""
    names = _unique_names(header)
    width = len(names)
    text = data.decode(UTF8)
    records: list[list[str]] = []
    lines: list[int] = []
    problems = []
    quoting = []  # the warnings of values quoted amiss, in the order of their records
    ragged_crs = 0  # the CRs alone in the values of ragged records, which are no rows
    read = _records(text + _EOF_PROBE, file_name)
    first, _, header_end, _ = next(read)  # past line 1 when a quote of the header takes in more
    record = first
    # the records with values quoted amiss that Polars may read, held in `records` as the csv
    # module reads them until Polars reads them all at once, below (a file of such records
    # takes one parse, not one a record); never the last record, which holds the probe. By
    # their index in `records`, line and text: no object a record that lives to the end (each
    # one made the collector's passes over them all more frequent: 4 of 9 s for 50 MB)
    pending = _Pending([], [], [])
    closed_by_polars = False  # the last record, left open for the csv module, read by Polars
    held: list[pl.DataFrame] = []  # the records read so far, but those in `records`
    for record, start, _, amiss in read:
        if len(records) == _RECORDS_HELD:  # (never the last record: it is read after this)
            settled = _settled(records, lines, pending, header, file_name)
            held.append(settled.rows)
            quoting += settled.quoting
            problems += settled.problems
            records, lines, pending = [], [], _Pending([], [], [])
        if amiss is not None and not bare_crs and _polars_may_read(amiss):
            if _EOF_MARK not in amiss.record:
                pending.at.append(len(records))
                pending.lines.append(start)
                pending.texts.append(amiss.record)
                records.append(record)
                lines.append(start)
                continue
            # a quote the csv module takes to open a value running to the end of the file,
            # which Polars, taking the quote before it to close none, takes to close one
            rest = amiss.record.removesuffix(_EOF_PROBE)
            (as_polars,) = _polars_readings([rest if rest.endswith("\n") else rest + "\n"], width)
            if as_polars is not None:
                record, amiss, closed_by_polars = list(as_polars), None, True
        if amiss is not None:
            quoting += [
                _quoted_amiss_issue(file_name, start, header, record, v) for v in amiss.values
            ]
        if not record or record == [""]:
            pass  # a blank line: not a record
        elif len(record) != width:
            problems.append(_ragged_issue(file_name, start, record, width))
            ragged_crs += _bare_crs_in(record) if bare_crs else 0
        else:
            records.append(record)
            lines.append(start)
    unclosed = []
    ended = record == [_EOF_MARK]
    # the probe's record, the last, went where a record of one field goes: taken back
    if ended:
        if width == 1:
            del records[-1], lines[-1]
        else:
            del problems[-1]
    elif closed_by_polars:
        pass  # (and the probe with the quote Polars takes to close the value)
    else:  # the probe is in the last value: the file ends inside a quoted value
        record[-1] = record[-1].removesuffix(_EOF_PROBE)
        if record is not first and len(record) != width:
            del problems[-1]  # ragged for the quote it lacks, which the error below names
        elif record is not first and record == [""]:  # (a file of one column)
            del records[-1], lines[-1]
        unclosed.append(_unclosed_quote_issue(text, header, record, file_name))
    settled = _settled(records, lines, pending, header, file_name)
    quoting += settled.quoting
    problems += settled.problems
    del records, lines, pending
    by_line = itemgetter("line")
    problems = [*sorted(problems, key=by_line), *sorted(quoting, key=by_line), *unclosed]
    if header_end > 1 and record is not first:  # (a header left open to the end: named above)
        problems.insert(0, _header_quote_issue(text, header_end, file_name))
    rows = pl.concat([*held, settled.rows]) if held else settled.rows
    if bare_crs:  # those not in a value ended lines
        in_rows = _bare_crs_in_rows(rows.select(names))
        line_ends = bare_crs - ragged_crs - _bare_crs_in(first) - in_rows
        if line_ends > 0:
            problems.insert(0, _line_endings_issue(file_name, line_ends))
    return rows.with_columns(pl.col(names).replace("", None)), problems, ended


# the records the exact path holds as Python lists before it settles them into a frame: a file
# of millions would hold every value as a Python string at once (and the frame made of them)
_RECORDS_HELD = 100_000


class _Pending(NamedTuple):
    """The records with values quoted amiss that Polars may read (`_exact_read`): their index
    among the records held, their line and their text."""

    at: list[int]
    lines: list[int]
    texts: list[str]


class _Settled(NamedTuple):
    rows: pl.DataFrame  # the records' values, and each one's line (`LINE`)
    quoting: list[dict]  # the warnings of values quoted amiss that Polars refuses
    problems: list[dict]  # those of them that are ragged too


def _settled(
    records: list[list[str]],
    lines: list[int],
    pending: _Pending,
    header: tuple[str, ...],
    file_name: str,
) -> _Settled:
    """The records `_exact_read` holds as a frame, on their lines: those it holds `pending`
    as Polars reads them, in one parse of them all, or when it refuses them as the csv module
    read them, with a warning for each value quoted amiss (an error, and no row, for a record
    of another width)."""
    names = _unique_names(header)
    width = len(names)
    quoting: list[dict] = []
    problems: list[dict] = []
    if pending.at:
        dropped = set()
        readings = _polars_readings(pending.texts, width)
        for at, start, raw, as_polars in zip(
            pending.at, pending.lines, pending.texts, readings, strict=True
        ):
            if as_polars is not None:
                records[at] = list(as_polars)
                continue
            held = records[at]
            quoting += [
                _quoted_amiss_issue(file_name, start, header, held, v) for v in _quoted_amiss(raw)
            ]
            if len(held) != width:
                problems.append(_ragged_issue(file_name, start, held, width))
                dropped.add(at)
        records = [kept for at, kept in enumerate(records) if at not in dropped]
        lines = [kept for at, kept in enumerate(lines) if at not in dropped]
    rows = pl.DataFrame(records, schema={name: pl.String for name in names}, orient="row")
    return _Settled(rows.with_columns(pl.Series(LINE, lines, pl.Int64)), quoting, problems)


class _Amiss(NamedTuple):
    """A record with values quoted amiss: its text in the file, and each such value's field
    (its index in the record) and text."""

    record: str
    values: list[tuple[int, str]]


def _records(text: str, file_name: str) -> Iterator[tuple[list[str], int, int, _Amiss | None]]:
    """Each record of `text` as the csv module reads it, with the lines it starts and ends on
    and, if it has values quoted amiss, its text and theirs.

    A value quoted amiss (`""a""`, `"a"b`) is read as the module reads it when not strict: the
    quote closes the value and what follows is more of it (`a""`, `ab`). The module says so
    only when strict, by refusing the record: each record is read strictly, and the few it
    refuses again from where they start, not strictly (a quote left open at the end of the
    file is refused so too, and named by the caller)."""
    # a CR alone, LF or CRLF ends a line (newline=""), outside quotes a record too
    source = io.StringIO(text, newline="")
    strict = csv.reader(source, strict=True)
    # both read on from where `source` is: one reader each, not one a refused record
    lenient = csv.reader(source, strict=False)
    line = 0  # the lines read before the record being read
    while True:
        offset, counted = source.tell(), strict.line_num
        try:
            record = next(strict)
            end, amiss = line + strict.line_num - counted, None
        except StopIteration:
            return
        except csv.Error as error:
            if "field limit" in str(error):
                ran_to = line + strict.line_num - counted
                raise UnreadableFile(_too_long(file_name, line + 1, ran_to, error)) from None
            source.seek(offset)
            counted = lenient.line_num
            try:
                record = next(lenient)
            except csv.Error as again:  # (a value longer than any file: see _FIELD_LIMIT)
                ran_to = line + lenient.line_num - counted
                raise UnreadableFile(_too_long(file_name, line + 1, ran_to, again)) from None
            end, raw = line + lenient.line_num - counted, text[offset : source.tell()]
            values = _quoted_amiss(raw)
            amiss = _Amiss(raw, values) if values else None
        yield record, line + 1, end, amiss
        line = end


def _polars_may_read(amiss: _Amiss) -> bool:
    """Whether Polars may read this record: not if a value quoted amiss ends at a comma or line
    end after an even number of quotes (where Polars ends it too) other than a quote, which
    Polars refuses (`"a"b`); what a value of an odd number does, Polars alone tells."""
    return all(text.endswith('"') or text.count('"') % 2 for _, text in amiss.values)


def _polars_readings(records: list[str], width: int) -> list[tuple[str, ...] | None]:
    """The values Polars reads in each of `records` (each a record's text, as in the file), ""
    for an empty one as the csv module reads it; None for one it refuses, or reads otherwise than
    as one record of `width` values (a quote it takes to open a value that runs past the line).

    A record of an odd number of quotes ends inside a quoted value as Polars reads it (each
    quote opens or closes one), which Polars refuses alone: it is not parsed. The others, each
    ending outside quotes, are read in one parse when Polars reads them all, else in halves
    until the ones it refuses stand alone: a few parses for a file of such records with a few
    that Polars refuses, where one parse a record took 11 s instead of 2.5 for a 50 MB file
    with every 10th record quoted amiss.

    Each record is parsed with a value of its own, `_RECORD_MARK`, after its last: Polars pads
    a short record after the first with nulls (`2,""c""` of three columns read as `2,c,`
    where the csv module reads it short, an error), which the mark then is not after."""
    readings: list[tuple[str, ...] | None] = [None] * len(records)
    # (each ends in its line end, outside quotes as Polars reads it: the last record, which
    # may not, holds the exact path's probe and is never read here)
    marked = [
        f"{record.removesuffix(end)},{_RECORD_MARK}{end}"
        for record in records
        for end in ["\r\n" if record.endswith("\r\n") else "\n"]
    ]
    parts = [[at for at, record in enumerate(records) if not record.count('"') % 2]]
    while parts:
        part = parts.pop()
        if not part:
            continue
        read = _polars_values("".join(marked[at] for at in part), width)
        if read is not None and len(read) == len(part):
            for at, values in zip(part, read, strict=True):
                readings[at] = values
        elif len(part) > 1:
            parts += [part[: len(part) // 2], part[len(part) // 2 :]]
    return readings


def _polars_values(text: str, width: int) -> list[tuple[str, ...]] | None:
    """Polars' records of `text`, each with `width` values ("" for an empty one) and then
    `_RECORD_MARK`, without the mark; None when it refuses it, or a record of it has another
    number of values (Polars refuses a longer one, and reads a shorter one's mark too early)."""
    try:
        read = pl.read_csv(
            text.encode(UTF8),
            has_header=False,
            schema={f"c{i}": pl.String for i in range(width + 1)},
            missing_columns="raise",
            quote_char='"',
        )
    except pl.exceptions.PolarsError:
        return None
    if not read.select(pl.last().eq(_RECORD_MARK).fill_null(False).all()).item():
        return None
    # (tuples of strings, which the collector leaves be)
    return read.drop(pl.last()).fill_null("").rows()


def _quoted_amiss(record: str) -> list[tuple[int, str]]:
    """The values of `record` (one record's text, as in the file) whose closing quote is
    followed by more of the value, as the csv module splits it: a value that starts with a
    quote is quoted (its quotes doubled) up to the first quote alone, and after that, as a value
    that does not, runs to the next comma or line end. A few records of a broken file, or each
    record of an export that quotes a column amiss: one match takes the values between two that
    start with a quote, their commas counted (a match a value took 10 of 12 s for 50 MB)."""
    found: list[tuple[int, str]] = []
    field = at = 0
    while True:
        end = _UNQUOTED_VALUES.match(record, at).end()
        field += record.count(",", at, end)
        quoted = _QUOTED_VALUE.match(record, end)
        if quoted is None:
            return found  # the record's end, or a quote left open to the end of the file
        if quoted.group(1):
            found.append((field, quoted.group()))
        at = quoted.end()
        if not record.startswith(",", at):
            return found
        field, at = field + 1, at + 1


def _too_long(file_name: str, start: int, line: int, error: csv.Error) -> str:
    """Why a file whose record on line `start` holds a value longer than the csv module takes
    (`_FIELD_LIMIT`, 2 GiB) is unreadable, the module reading line `line` as it gave up: named
    on the line the record starts on, where a quote left open (the usual cause: it takes in
    every line after it) opens the value, not on the line 2 GiB further on."""
    if "field limit" not in str(error):  # (none other is known: said as the module says it)
        return f"{file_name} line {line}: {error}"
    runs_on = f", running on to line {line}" if line > start else ""
    return (
        f"{file_name} line {start}: {error}: the record on this line holds a value of more "
        f"than {csv.field_size_limit():,} characters{runs_on}, which no OneRoster value is (a "
        "quote that opens a value and is never closed takes in the lines after it)"
    )


_RAGGED = "record has {} fields, the header has {}"  # (`_ragged_lines` writes it for many)


def _ragged_issue(file_name: str, line: int, record: list[str], width: int) -> dict:
    return issue_row(
        file_name,
        line,
        None,
        # (its control characters as a report shows them: `_control_issues`)
        ",".join(record)[:200].translate(_CONTROL_TABLE),
        "file.ragged",
        "error",
        _RAGGED.format(len(record), width),
    )


def _quoted_amiss_issue(
    file_name: str, line: int, header: tuple[str, ...], record: list[str], value: tuple[int, str]
) -> dict:
    """The warning of a value quoted amiss that Polars refuses (see `_exact_parse`), on the line
    its record starts on, with its text in the file and what it was read as."""
    field, text = value
    read_as = record[field] if field < len(record) else ""
    return issue_row(
        file_name,
        line,
        header[field] if field < len(header) else None,
        text[:200],
        "value.quote",
        "warning",
        f"the quote that closes this value is followed by more of it, read as {read_as[:200]!r}: "
        'a quote inside a value is doubled ("") and the whole value quoted',
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
    # the value runs from its quote to the end of `text`, each quote in it doubled there: its
    # quote is that far from the end (a scan of the whole file for the last run of an odd
    # number of quotes, see _ODD_QUOTES, took 2.4 s of a 50 MB file with a quote open on line 2)
    opening = len(text) - len(record[-1]) - record[-1].count('"') - 1
    if opening < 0 or not text.startswith('"', opening):  # (never seen: the scan, then)
        opening = 0
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


def _shown(value: pl.Expr) -> pl.Expr:
    """Each control character of these texts as a report shows it (as `printable` prints it)."""
    return value.str.replace_many(CONTROL_CHARACTERS, _CONTROL_SHOWN)


def _control_issues(rows: pl.DataFrame, header: tuple[str, ...], file_name: str) -> pl.DataFrame:
    """An error for every value, and header name, that holds a control character, the
    character shown as \\xNN, in the value and, under a header name that holds one, in the
    field as well (as a report shows a value: never the raw character). Only a file with a
    control byte somewhere is looked at."""
    message = (
        "holds a control character (shown as \\xNN), which no OneRoster value may: "
        "remove it in the SIS"
    )

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
            .pipe(_shown)
            .alias("field"),
            _shown(pl.col(value)).alias("value"),
            pl.lit("value.control").alias("rule"),
            pl.lit("error").alias("severity"),
            pl.lit(f"the value {message}").alias("message"),
        )
        .collect()
    )
    return pl.concat(
        [issue_frame(named).with_columns(_shown(pl.col("value"))), in_values.cast(ISSUE_SCHEMA)]
    )
