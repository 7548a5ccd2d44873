"""What a run keeps of its files' lines for the next run (`schemas.lines`): each file's line
summary, and the lines the next run must find again if it has the same lines in another order
(those its issues stand on; the teacher enrollments whose file order decides a primary
teacher). Pure: the feed's line hashes, its records and issues in, two frames out.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from rosterflow.schemas.csvfile import ParsedCsv
from rosterflow.schemas.lines import (
    KEYED_FILES,
    LINE_KEY,
    MARK_SCHEMA,
    SUMMARY_SCHEMA,
    chunked_as,
    line_keys,
    lines_are_records,
    marks_of,
    summaries_frame,
    summary,
)
from rosterflow.transforms.hierarchy import order_deciding_teachers

NO_LINES = (pl.DataFrame(schema=SUMMARY_SCHEMA), pl.DataFrame(schema=MARK_SCHEMA))


def kept_lines(
    lines: Mapping[str, pl.Series] | None,
    parsed: Mapping[str, ParsedCsv],
    modes: Mapping[str, str],
    version: str,
    issues: pl.DataFrame,
    records: Mapping[str, pl.DataFrame],
    sizes: Mapping[str, int] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The line summaries and marks a run keeps (`schemas.lines`): `lines` are the feed's line
    hashes by file name (`Feed.lines`), `parsed` the files as parsed, by file name, `issues`
    the run's, `records` the SIS's records after it (`line` in file order), `sizes` the
    files' sizes by file name, as far as known. None of either (`NO_LINES`) when the next run
    could not stand on them: a file whose lines are not its records, a file sent other than in
    bulk (a delta's records mix with earlier ones, whose lines are gone), a 1.2 feed (a user's
    record is read from two files), or an issue on a line no file has."""
    if not _lines_are_the_records(lines, parsed, modes, version):
        return NO_LINES
    wanted = [issues.select("file", "line", pl.lit(False).alias("ordered")).drop_nulls("line")]
    if "enrollments.csv" in lines:
        wanted.append(
            order_deciding_teachers(records["enrollments"].lazy())
            .select(pl.lit("enrollments.csv").alias("file"), "line", pl.lit(True).alias("ordered"))
            .collect()
        )
    by_file = (
        pl.concat(wanted)
        .group_by("file", "line")
        .agg(pl.col("ordered").any())
        .partition_by("file", as_dict=True)
    )
    marks = []
    for (file,), wanted_lines in by_file.items():
        if file not in lines:
            return NO_LINES
        found = marks_of(lines[file], wanted_lines.drop("file"))
        if found is None:
            return NO_LINES
        marks.append(found.select(pl.lit(file).alias("file"), *found.columns))
    summaries = summaries_frame({file: summary(hashes) for file, hashes in lines.items()}, sizes)
    return summaries, pl.concat([NO_LINES[1], *marks]).sort("file", "line")


def _lines_are_the_records(
    lines: Mapping[str, pl.Series] | None,
    parsed: Mapping[str, ParsedCsv],
    modes: Mapping[str, str],
    version: str,
) -> bool:
    """Whether the next run can stand on this run's lines: `kept_lines`' conditions."""
    return (
        lines is not None
        and version == "1.1"
        and all(mode in ("bulk", "absent") for mode in modes.values())
        and all(lines_are_records(lines.get(file), found) for file, found in parsed.items())
    )


def with_line_keys(
    records: Mapping[str, pl.DataFrame],
    lines: Mapping[str, pl.Series] | None,
    parsed: Mapping[str, ParsedCsv],
    modes: Mapping[str, str],
    version: str,
    issues: pl.DataFrame,
    file_names: Mapping[str, str],
) -> dict[str, pl.DataFrame]:
    """`records` (per entity, each with its `line` in the file: all of a file's records, or
    those a run writes as a patch), those of `KEYED_FILES` with each record's
    `line_key` (`schemas.lines.line_keys`) when the next run can stand on this run's lines
    (`kept_lines`' conditions): null on a line an issue of this run stands on, so that the
    next run reads and checks such a line again whatever it holds. A record whose key is
    stored is one the next run need not parse while its line is unchanged, under the same
    header and settings (`schemas.validate.validate_by_lines`). `file_names` maps an entity
    to its file's name."""
    if not _lines_are_the_records(lines, parsed, modes, version):
        return dict(records)
    keyed = dict(records)
    for name in KEYED_FILES:
        file_name = file_names.get(name)
        if name not in records or file_name not in lines or file_name not in parsed:
            continue
        # the keys of the records' own lines alone: a run that writes a patch keys the few
        # records it changed, not every line of the file
        hashes = lines[file_name]
        keys = line_keys(pl.concat([hashes.head(1), hashes.gather(records[name]["line"] - 1)]))
        flagged = (
            issues.filter(pl.col("file") == file_name)
            .get_column("line")
            .drop_nulls()
            .unique()
            .implode()
        )
        found = records[name].select(
            pl.when(pl.col("line").is_in(flagged).not_()).then(pl.lit(keys)).alias(LINE_KEY)
        )
        keyed[name] = records[name].with_columns(chunked_as(found[LINE_KEY], records[name]))
    return keyed
