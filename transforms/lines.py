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
    MARK_SCHEMA,
    SUMMARY_SCHEMA,
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
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The line summaries and marks a run keeps (`schemas.lines`): `lines` are the feed's line
    hashes by file name (`Feed.lines`), `parsed` the files as parsed, by file name, `issues`
    the run's, `records` the SIS's records after it
    (`line` in file order). None of either (`NO_LINES`) when the next run could not stand on
    them: a file whose lines are not its records, a file sent other than in bulk (a delta's
    records mix with earlier ones, whose lines are gone), a 1.2 feed (a user's record is read
    from two files), or an issue on a line no file has."""
    if (
        lines is None
        or version != "1.1"
        or any(mode not in ("bulk", "absent") for mode in modes.values())
        or not all(lines_are_records(lines.get(file), found) for file, found in parsed.items())
    ):
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
    summaries = summaries_frame({file: summary(hashes) for file, hashes in lines.items()})
    return summaries, pl.concat([NO_LINES[1], *marks]).sort("file", "line")
