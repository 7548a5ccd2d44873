"""Read a file of a district's bulk by its changed lines: parse only the lines that are not
those of the records the warehouse holds, and stand the stored records in for the others.

A stored record of users.csv or enrollments.csv keeps its line key (`schemas.lines.line_keys`:
its line's hash under its file's header), unless the run that stored it raised an issue on
that line. A line of the new file whose key is stored holds, under the same header, the very
text a run validated under the same settings without a word: the checks of a single row
(required fields, formats, vocabularies, lenient reads, the platform's row rules) can find
nothing in it, and every check across rows and files needs only a few of its fields, which
the stored record has (`KEPT_COLUMNS`). Every other line is parsed, as the header and those
lines alone: once each of them is proven one record, every line of the file is one (a
stored line was one), so each is read as the whole file's parse would read it.

The records of unchanged lines stand in with the columns the checks read and nulls for the
others, on lines numbered -1, -2, ... (`placed` puts the issues found on them on their lines),
so that their rows need not be gathered into file order. Whatever this cannot settle the
whole file's parse does: a stored record without a key is read from its line (a changed
line), and a key repeated in the file, a record of a changed line under a kept record's
sourcedId, or a changed line that is not one clean record gives no answer (`None`), and the
caller parses the file.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from rosterflow.schemas.csvfile import LINE, ParsedCsv, parse_csv
from rosterflow.schemas.identity import IDENTITY_KEYS
from rosterflow.schemas.lines import LINE_KEY, line_hash, line_keys
from rosterflow.schemas.records import ROW_HASH, RecordChanges, row_hashes
from rosterflow.schemas.references import stated
from rosterflow.schemas.spec import FileSpec

# what the checks across rows and files read of a record (`schemas.references`: a record's
# references and whether it is stated; the platform's warnings on teachers, their email and
# primary classes; `schemas.identity`: the login, added per `[identity] key`)
KEPT_COLUMNS = {
    "users": ("sourcedId", "status", "role", "email", "orgSourcedIds", "agentSourcedIds"),
    "enrollments": (
        "sourcedId",
        "status",
        "classSourcedId",
        "schoolSourcedId",
        "userSourcedId",
        "role",
        "primary",
    ),
}


def kept_fields(identity_key: str) -> dict[str, list[str]]:
    """Per keyed file, the stored fields a run by lines reads besides `sourcedId, row_hash`:
    `KEPT_COLUMNS`, the login `[identity] key` names, and the line key."""
    login = IDENTITY_KEYS[identity_key]
    return {
        name: [
            *dict.fromkeys(
                [*columns[1:], *([login] if name == "users" and login != "sourcedId" else [])]
            ),
            LINE_KEY,
        ]
        for name, columns in KEPT_COLUMNS.items()
    }


@dataclass(frozen=True)
class LineDelta:
    """A file read by lines: its changed lines parsed, and the stored records of the others."""

    parsed: ParsedCsv  # the header and the changed lines' records, on their lines
    stored: pl.DataFrame  # the stored records (`sourcedId, row_hash`, stored fields, line key)
    is_kept: pl.Series  # per stored record: its line is in the file (a kept record)
    gone: pl.DataFrame  # the other stored records (`sourcedId, row_hash`)
    keys: pl.Series  # the file's line keys, line 2 on

    @property
    def kept(self) -> int:
        return int(self.is_kept.sum())

    def compared(self, name: str, changed: pl.DataFrame) -> tuple[pl.DataFrame, RecordChanges]:
        """The changed lines' rows (normalized) with their row hashes, and how the file's
        records differ from the stored ones, as `schemas.records.record_changes` finds it."""
        hashed = changed.with_columns(row_hashes(name, changed))
        now = hashed.filter(stated())
        # a changed line's record may be as stored (its line in other quotes, say): it is a
        # record that went (`gone`) coming back unchanged
        changed_ids = now.filter(~pl.col(ROW_HASH).is_in(self.gone[ROW_HASH].implode()))
        changed_ids = changed_ids.get_column("sourcedId")
        restated = now.get_column("sourcedId").implode()
        removed = self.gone.filter(~pl.col("sourcedId").is_in(restated)).get_column("sourcedId")
        added = changed_ids.filter(~changed_ids.is_in(self.gone["sourcedId"].implode()))
        return hashed, RecordChanges(changed_ids, removed, added)

    def with_kept(self, spec: FileSpec, changed: pl.DataFrame) -> pl.DataFrame:
        """The file's table for the checks across rows and files: the changed lines' rows
        (`compared`), then the kept records with nulls in the fields they do not keep, each
        on line -1 - its place among the stored records (one copy of the kept fields)."""
        kept = (
            self.stored.lazy()
            .with_columns((-1 - pl.int_range(pl.len(), dtype=pl.Int64)).alias(LINE))
            .filter(pl.lit(self.is_kept))
            .select(
                *(
                    pl.col(column)
                    if column in self.stored.columns
                    else pl.lit(None, pl.String).alias(column)
                    for column in spec.header
                ),
                LINE,
                ROW_HASH,
            )
        )
        return pl.concat(
            [changed.lazy().select(kept.collect_schema().names()), kept], how="vertical_relaxed"
        ).collect()

    def placed(self, issues: pl.DataFrame, file_name: str) -> pl.DataFrame:
        """`issues` with those on kept records (lines -1, -2, ...) on the lines they stand on."""
        on_kept = (pl.col("file") == file_name) & (pl.col("line") < 0)
        found = issues.filter(on_kept)
        if found.height == 0:
            return issues
        at = found.select((-1 - pl.col("line")).unique().alias("at"))
        flagged = at.with_columns(
            self.stored.get_column(LINE_KEY).gather(at["at"]).alias(LINE_KEY),
            (-1 - pl.col("at")).alias("line"),
        )
        where = (
            self.keys.to_frame(LINE_KEY)
            .with_row_index("placed", offset=2)
            .filter(pl.col(LINE_KEY).is_in(flagged[LINE_KEY].implode()))
            .with_columns(pl.col("placed").cast(pl.Int64))
        )
        moved = (
            found.join(flagged.join(where, on=LINE_KEY).select("line", "placed"), on="line")
            .with_columns(pl.col("placed").alias("line"))
            .select(issues.columns)
        )
        return pl.concat([issues.filter(~on_kept), moved])


def read_by_lines(
    spec: FileSpec,
    texts: pl.Series | None,
    stored: pl.DataFrame,
    plain_columns: frozenset[str] = frozenset(),
) -> LineDelta | None:
    """A UTF-8 file of these lines (`schemas.lines.line_texts`) read by lines against the
    `stored` records (`sourcedId, row_hash`, stored fields, `line_key`); None when this cannot
    be settled without the whole file's parse (see the module's docstring)."""
    if texts is None or texts.len() == 0:
        return None
    keys = line_keys(line_hash(texts))
    stored_keys = stored.get_column(LINE_KEY)
    known = keys.is_in(stored_keys.drop_nulls().implode())
    is_kept = stored_keys.is_in(keys.implode()).fill_null(False)
    if is_kept.sum() != known.sum():  # a kept line repeated: the whole parse finds the copies
        return None
    changed_lines = known.not_().arg_true().cast(pl.Int64) + 2  # (the header is line 1)
    parsed = _changed_records(spec, texts, changed_lines, plain_columns)
    if parsed is None:
        return None
    changed_ids = parsed.rows.get_column("sourcedId").drop_nulls().implode()
    if stored.select((pl.lit(is_kept) & pl.col("sourcedId").is_in(changed_ids)).any()).item():
        return None  # a sourcedId twice: the whole parse reports every copy
    gone = stored.filter(~is_kept).select("sourcedId", ROW_HASH)
    return LineDelta(parsed, stored, is_kept, gone, keys)


def _changed_records(
    spec: FileSpec, texts: pl.Series, lines: pl.Series, plain_columns: frozenset[str]
) -> ParsedCsv | None:
    """The header and `lines` of a file of these `texts` parsed as a file of their own, the
    records on their lines; None unless each is one record, read without an issue."""
    wanted = pl.concat([texts.slice(0, 1), texts.gather(lines - 1)])
    mini = (wanted.str.join("\n").item() + "\n").encode()
    parsed = parse_csv(mini, spec.file_name, plain_columns)
    if (
        parsed.header != spec.header  # (a header the checks refuse, or extension columns)
        or not parsed.one_line_records
        or parsed.rows.height != lines.len()
        or parsed.issues.height
    ):
        return None
    return ParsedCsv(
        parsed.header,
        parsed.rows.with_columns(lines.alias(LINE)),
        parsed.issues,
        one_line_records=True,
    )
