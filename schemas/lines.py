"""A feed's files as lines: how a run knows, before it parses anything, that every file holds
exactly the lines the last run's did, in another order (a nightly export of an unchanged
district, sorted otherwise), and where each line it needs went.

Each physical line of a file is hashed (64 bits, as a record's `row_hash` is; a CR before the
LF is no part of the line, a CR alone that ends the file is). A file's **summary** is its line count, its header line's hash, and
two wrapping sums over its lines: of the hashes, and of a second hash of each. Equal summaries
mean the same lines in any order: a different multiset of lines would have to hit both sums
exactly (about one chance in 2**128 for lines that are not built to collide).

The same lines are the same records only when each line of the last run's file was one record
(no value spanning lines, no blank line: `ParsedCsv.one_line_records` proves it as the file is
parsed): each line then starts and ends a record wherever it stands. A run keeps, beside the
summaries, the lines it will have to find again (`marks`): those its issues stand on, and the
teacher enrollments whose file order decides a class's primary teacher. The next run finds
each by its hash, which is unique in its file (a line twice would be a sourcedId twice, an
error). A run of the same lines in another order then has the last run's issues on the lines
they moved to, and the same course hierarchy when the marked order is kept.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import NamedTuple

import polars as pl

from rosterflow.schemas.csvfile import ParsedCsv

SEED = 0x0E_1173  # the line hash's seed (fixed: hashes are compared across runs)
SECOND_SEED = 0x5EC0_2D
KEY_SEED = 0x1_1E_CE7
# a stored record's line key: its line's hash under its file's header (`line_keys`); null
# when the run that stored it raised an issue on the line
LINE_KEY = "line_key"
# the files whose stored records keep their line keys: the bulk of any district, which a
# run with a warehouse reads by lines (`schemas.validate.validate_by_lines`)
KEYED_FILES = ("users", "enrollments")
# every run keeps the summaries of its files, and the lines it must find again
SUMMARY_SCHEMA = {
    "file": pl.String,
    "lines": pl.Int64,
    "header": pl.UInt64,
    "sum": pl.UInt64,
    "second_sum": pl.UInt64,
    # the file's size: one of another size cannot hold the same lines, which a run can tell
    # before it reads the file (null when it was not known)
    "bytes": pl.Int64,
}
MARK_SCHEMA = {"file": pl.String, "line": pl.Int64, "hash": pl.UInt64, "ordered": pl.Boolean}
# issues that follow from what a run changed in lms, not from its records: the same records
# again change nothing, adopt nobody, create no one and delete no one, so raise none of them
PLAN_RULES = (
    "identity.login_changed",
    "identity.adopt_ambiguous",
    "identity.adopt_role_conflict",
    "identity.login_taken",
    "user.delete_leaves_hand_made",
    "course.delete_leaves_hand_made",
    "resource.delete_leaves_hand_made",
    "domain.delete_leaves_rows",
)
# warnings the plan raises from the records and settings alone: the same records raise them
# again, so a recalled run keeps them (in any order of the lines), but validation cannot raise
# them, and `validate --warehouse` answering from the last run's issues leaves them out
PLAN_STATE_RULES = ("course_resource.no_org_base",)
# issues that a run's records do not determine whatever their order: those that name another
# line or the first of several in file order, and the plan's
ORDER_OR_PLAN_RULES = ("teacher.same_title", "manifest.duplicate", *PLAN_RULES)


class LineSummary(NamedTuple):
    lines: int
    header: int  # the first line's hash
    sum: int
    second_sum: int


def line_texts(data: bytes) -> pl.Series | None:
    """Each physical line's text, in file order, without its line end (LF or CRLF; a CR alone
    that ends the file stays in the last line's text); None when the bytes cannot be split
    into text lines (not UTF-8, or a line holding the unit separator 0x1f)."""
    if not data:
        return pl.Series("line", [], pl.String)
    try:
        # one column of whole lines: no quote is special, the separator is a byte no
        # OneRoster text holds (a line with one has two fields, which Polars refuses)
        texts = pl.read_csv(
            data,
            has_header=False,
            separator="\x1f",
            quote_char=None,
            schema={"line": pl.String},
        ).to_series()
    except pl.exceptions.PolarsError:
        return None
    if data.endswith(b"\r") and texts.len():
        # Polars drops a CR that ends the file as it drops one before an LF; alone, it ends a
        # line the parse warns about (`file.line_endings`), so it is part of the last line's
        # text: `a,1` then a CR is not the line `a,1` the last run validated without a word
        texts = texts.scatter(texts.len() - 1, f"{texts[-1] or ''}\r")
    return texts


def line_hashes(data: bytes) -> pl.Series | None:
    """Each physical line's hash, in file order (UInt64); None when the bytes cannot be split
    into text lines (see `line_texts`)."""
    texts = line_texts(data)
    return None if texts is None else line_hash(texts)


def line_hash(texts: pl.Series) -> pl.Series:
    """The hash of each of these lines (`line_texts`)."""
    return texts.hash(SEED).alias("hash")


def line_keys(hashes: pl.Series) -> pl.Series:
    """The key of each line after the header (line 2 on), given a file's line hashes: the
    line's hash under the header's, so that a key stands for the same fields only under the
    same header (a line of the same text under columns in another order is another record)."""
    header = hashes[0] if hashes.len() else 0
    return (
        pl.select(pl.lit(hashes.slice(1)).xor(pl.lit(header, pl.UInt64)).hash(KEY_SEED))
        .to_series()
        .alias(LINE_KEY)
    )


def lines_are_records(hashes: pl.Series | None, parsed: ParsedCsv) -> bool:
    """Whether a file of these line hashes, parsed as `parsed`, has a record on every line
    after its header (the lines can stand for its records, see the module's docstring)."""
    return hashes is not None and parsed.one_line_records and hashes.len() == parsed.rows.height + 1


def summary(hashes: pl.Series) -> LineSummary:
    """The summary of a file of these line hashes (see the module's docstring)."""
    sums = pl.select(
        *_wrapping_sum(pl.lit(hashes), "sum"),
        *_wrapping_sum(pl.lit(hashes).hash(SECOND_SEED), "second_sum"),
    ).row(0, named=True)
    header = hashes[0] if hashes.len() else 0
    return LineSummary(
        hashes.len(),
        header,
        _combined(sums["sum_low"], sums["sum_high"]),
        _combined(sums["second_sum_low"], sums["second_sum_high"]),
    )


def _wrapping_sum(values: pl.Expr, name: str) -> tuple[pl.Expr, pl.Expr]:
    """The sums of the low and the high 32 bits of `values` (UInt64): neither can overflow
    64 bits for fewer than 2**32 lines, so their total modulo 2**64 is exact."""
    return (
        (values % 2**32).sum().alias(f"{name}_low"),
        (values // 2**32).sum().alias(f"{name}_high"),
    )


def _combined(low: int | None, high: int | None) -> int:
    return ((low or 0) + ((high or 0) << 32)) % 2**64


def summaries_frame(
    summaries: Mapping[str, LineSummary], sizes: Mapping[str, int] | None = None
) -> pl.DataFrame:
    rows = [(file, *found, (sizes or {}).get(file)) for file, found in sorted(summaries.items())]
    return pl.DataFrame(rows, schema=SUMMARY_SCHEMA, orient="row")


def frame_summaries(frame: pl.DataFrame) -> dict[str, LineSummary]:
    named = frame.select("file", *LineSummary._fields)
    return {row[0]: LineSummary(*row[1:]) for row in named.iter_rows()}


def frame_sizes(frame: pl.DataFrame) -> dict[str, int]:
    """The size of each file whose size was kept (none in a summary kept before sizes were)."""
    if "bytes" not in frame.columns:
        return {}
    return dict(frame.select("file", "bytes").drop_nulls().iter_rows())


def marks_of(hashes: pl.Series, wanted: pl.DataFrame) -> pl.DataFrame | None:
    """The marks of a file: its `wanted` lines (`line`, 1-based and each once, `ordered`) with
    their hashes from the file's `hashes`; None when a line is not in the file or its hash is
    not unique in it (the next run could not tell where it went)."""
    if wanted.height == 0:
        return pl.DataFrame(schema={k: v for k, v in MARK_SCHEMA.items() if k != "file"})
    lines = wanted["line"]
    if lines.min() < 1 or lines.max() > hashes.len():
        return None
    marked = wanted.select(
        pl.col("line").cast(pl.Int64),
        hashes.gather(lines - 1).alias("hash"),
        pl.col("ordered"),
    )
    found = hashes.filter(hashes.is_in(marked["hash"].implode()))
    if found.len() != marked.height or marked["hash"].n_unique() != marked.height:
        return None
    return marked


def moved_lines(hashes: pl.Series, marks: pl.DataFrame) -> pl.DataFrame | None:
    """Where each of a file's `marks` (`line, hash, ordered`) stands in a file of the same lines
    in another order, given that file's `hashes`: the marks with `new_line`; None when a marked
    line is not there exactly once, or the `ordered` lines are in another order."""
    where = (
        pl.DataFrame({"hash": hashes})
        .with_row_index("new_line", offset=1)
        .filter(pl.col("hash").is_in(marks["hash"].implode()))
    )
    if where.height != marks.height or where["hash"].n_unique() != where.height:
        return None
    moved = marks.join(where.with_columns(pl.col("new_line").cast(pl.Int64)), on="hash")
    if moved.height != marks.height:
        return None
    ordered = moved.filter("ordered").sort("line")["new_line"]
    if not ordered.is_sorted() or ordered.n_unique() != ordered.len():
        return None
    return moved


def chunked_as(column: pl.Series, frame: pl.DataFrame) -> pl.Series:
    """`column` cut into the chunks of `frame`'s columns (a handful, one per parsing thread, or
    per row group read): a column of one chunk beside columns of several made the Parquet
    writer copy every column of the stored records (a first load of 200k students peaked at
    1.92 GiB instead of 1.65), and every filter of the frame align them again (three times
    the filter)."""
    if frame.width == 0 or frame.height == 0:
        return column
    lengths = [chunk.len() for chunk in frame.to_series(frame.width - 1).get_chunks()]
    starts = itertools.accumulate(lengths[:-1], initial=0)
    return pl.concat(
        [column.slice(start, length) for start, length in zip(starts, lengths, strict=True)],
        rechunk=False,
    )
