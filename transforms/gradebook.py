"""The platform's gradebook as OneRoster gradebook records, and what is not sent and why.

From the tenant's `lms.line_items` and `lms.scores`, its sections, users and enrollments, and
the SIS's classes and academic sessions as stored (`warehouse.records`):

- a line item is sent when its course is a managed section (`or--<sourcedId>`) whose class is
  among the SIS's records, its status is active and its min_score and points_possible are
  finite (a double column of the platform may hold NaN or infinity, which no OneRoster number
  says: the CSV binding's number is a decimal, and JSON has none) and in order (min_score not
  above points_possible), its due and assign dates are days OneRoster can say (YYYY-MM-DD: a
  year of four digits, where a date field of the platform takes a typo's 20270), and its
  title, description and category hold no control character
  (`schemas.csvfile.CONTROL_CHARACTERS`: text pasted from a word processor may, and no
  OneRoster value may: the feed would fail its own validation, `value.control`).
  classSourcedId is the section's sourcedId; gradingPeriodSourcedId (1.2:
  academicSessionSourcedId) is, of the class's termSourcedIds, the first whose dates hold the
  due date, else the first; 1.2's schoolSourcedId is the class's school. assignDate is the
  assign date, else the due date; resultValueMin and resultValueMax are min_score and
  points_possible.
- a score is sent when its line item is, its student (a managed user) is actively enrolled as a
  student in the section by the SIS (a managed enrollment, status active), the score is
  finite and lies within the line item's range, its graded day is one OneRoster can say, and
  its comment and text score hold no control character; scoreStatus is the score's status,
  scoreDate its graded date. A score of a user not so enrolled (a teacher's try of a quiz,
  say) is not sent, and its message names the user's role (lms.users).
- categorySourcedId: one category per platform category of the line items sent (their title),
  or the default category for those without one.

The sourcedIds are stable across exports (`schemas.gradebook`); a result's names its student by
`result_user_id` when the users frame has it: the first user_id the tenant's user of that
sourcedId had (`warehouse.gradebook.gradebook_inputs`), so that a student a sync deleted and made
again under a new user_id keeps the SIS's one result per line item. Every record is text, as the
feed writer wants it; the frames hold the columns of OneRoster 1.1 and 1.2 (`gradebook_files`
picks one version's, in its binding's order).
"""

from __future__ import annotations

import polars as pl

from rosterflow.schemas.csvfile import CONTROL_CHARACTERS
from rosterflow.schemas.gradebook import (
    CATEGORY_PREFIX,
    DEFAULT_CATEGORY,
    DEFAULT_CATEGORY_TITLE,
    EXCLUSION_SCHEMA,
    LINE_ITEM_PREFIX,
    RESULT_PREFIX,
    Gradebook,
)
from rosterflow.schemas.lms import MANAGED_PREFIX
from rosterflow.schemas.models import DATE_PATTERN
from rosterflow.schemas.printable import CONTROL_CHARACTERS as SHOWN_CHARACTERS
from rosterflow.schemas.printable import CONTROL_SHOWN
from rosterflow.schemas.spec import SPECS_BY_VERSION
from rosterflow.transforms.desired import MANAGED

# what the export reads of a user beyond USER_SCHEMA, when the frame has it: the role, and the
# user_id a result names the student by (`result_sourced_id`); a frame without them (a test's
# literal users) reads as null
OPTIONAL_USER_COLUMNS: dict[str, pl.DataType] = {"role": pl.String(), "result_user_id": pl.Int64()}


def sourced_id(external_id: pl.Expr) -> pl.Expr:
    """A managed row's sourcedId: `or--<sourcedId>` -> `<sourcedId>`."""
    return external_id.str.strip_prefix(MANAGED)


def number_text(value: pl.Expr) -> pl.Expr:
    """A number as OneRoster text: 10.0 as `10`, 9.5 as `9.5`, -0.0 as `0`."""
    # -0.0 (a platform's 0 * -1) equals 0.0 and is written `-0.0`: a score of `-0` would reach
    # the SIS's CSV and JSON (and Polars drops an added 0.0 as a no-op, so it is chosen here)
    unsigned = pl.when(value == 0.0).then(pl.lit(0.0)).otherwise(value)
    return unsigned.cast(pl.String).str.replace(r"\.0$", "")


def date_text(value: pl.Expr) -> pl.Expr:
    return value.dt.strftime("%Y-%m-%d")


def flag_text(value: pl.Expr) -> pl.Expr:
    """A boolean as OneRoster text (`true`, `false`); null stays empty."""
    return pl.when(value).then(pl.lit("true")).when(value.not_()).then(pl.lit("false"))


def category_title() -> pl.Expr:
    """The line item's category, trimmed; null when it has none."""
    title = pl.col("category").str.strip_chars()
    return pl.when(title != "").then(title)


def category_id(title: pl.Expr) -> pl.Expr:
    """`cat-<the title's UTF-8 bytes in hex>`, or the default category's id."""
    return (
        pl.when(title.is_null())
        .then(pl.lit(DEFAULT_CATEGORY))
        .otherwise(pl.lit(CATEGORY_PREFIX) + title.str.encode("hex"))
    )


def _with_control(columns: dict[str, pl.Expr]) -> pl.Expr:
    """`<name> '<value>'` of each text sent (`columns`: name -> value) that holds a control
    character, the character shown as `value.control` issues show it; null when none does."""
    found = pl.concat_str(
        [
            pl.when(value.str.contains_any(list(CONTROL_CHARACTERS))).then(
                pl.format(
                    "{} '{}'",
                    pl.lit(name),
                    value.str.replace_many(list(SHOWN_CHARACTERS), list(CONTROL_SHOWN)),
                )
            )
            for name, value in columns.items()
        ],
        separator=", ",
        ignore_nulls=True,
    )
    # concat_str of nulls alone, ignored, is empty rather than null
    return pl.when(found != "").then(found)


def _not_dates(names: tuple[str, ...]) -> pl.Expr:
    """`<name> <day>` of each date column in `names` whose day is no OneRoster date
    (YYYY-MM-DD: a year beyond 9999 is written `+20270-02-01`); null when none is."""
    found = pl.concat_str(
        [
            pl.when(~date_text(pl.col(name)).str.contains(DATE_PATTERN)).then(
                pl.format("{} {}", pl.lit(name), date_text(pl.col(name)))
            )
            for name in names
        ],
        separator=", ",
        ignore_nulls=True,
    )
    return pl.when(found != "").then(found)


def _not_date_message(what: pl.Expr) -> pl.Expr:
    return pl.format(
        "{} is no OneRoster date (YYYY-MM-DD, a year of four digits): {}",
        what,
        pl.col("not_dates"),
    )


def _control_message(what: pl.Expr) -> pl.Expr:
    return pl.format(
        "{} holds a control character (shown as \\xNN), which no OneRoster value may: {}",
        what,
        pl.col("with_control"),
    )


def _line_item_texts() -> dict[str, pl.Expr]:
    """The line item's texts as sent: the category trimmed, as its category record has it."""
    return {
        "title": pl.col("title"),
        "description": pl.col("description"),
        "category": category_title(),
    }


def _score_texts() -> dict[str, pl.Expr]:
    return {"comment": pl.col("comment"), "text_score": pl.col("text_score")}


# --- line items ------------------------------------------------------------------------------


def _line_item_reason() -> pl.Expr:
    course = pl.col("course_external_id")
    return (
        pl.when(pl.col("course_found").is_null())
        .then(pl.lit("line_item.unknown_course"))
        .when(course.is_null() | ~course.str.starts_with(MANAGED_PREFIX))
        .then(pl.lit("line_item.hand_made_course"))
        .when(pl.col("classSourcedId").is_null())
        .then(pl.lit("line_item.not_a_section"))
        .when(pl.col("class_found").is_null())
        .then(pl.lit("line_item.class_not_in_sis"))
        .when(pl.col("status") != "active")
        .then(pl.lit("line_item.inactive"))
        # a required field of lineItems.csv: sent empty, the export fails its own validation
        # and a SIS refuses the column
        .when(pl.col("title").str.strip_chars().fill_null("") == "")
        .then(pl.lit("line_item.no_title"))
        .when(~pl.col("min_score").is_finite() | ~pl.col("points_possible").is_finite())
        .then(pl.lit("line_item.not_a_number"))
        # no score lies in a reversed range, and a SIS would refuse the column itself
        .when(pl.col("min_score") > pl.col("points_possible"))
        .then(pl.lit("line_item.range_order"))
        # the feed would fail its own validation (date), and a SIS refuses the column
        .when(pl.col("not_dates").is_not_null())
        .then(pl.lit("line_item.not_a_date"))
        # the feed would fail its own validation (value.control), and the SIS's import too
        .when(pl.col("with_control").is_not_null())
        .then(pl.lit("line_item.control_character"))
    )


def _not_finite(name: str) -> pl.Expr:
    """`<name> <value>` when the column's value is NaN or infinite, else null."""
    value = pl.col(name)
    return pl.when(~value.is_finite()).then(pl.lit(f"{name} ") + number_text(value))


def _line_item_message() -> pl.Expr:
    reason = pl.col("reason")
    course = pl.format(
        "course {} ({})", pl.col("course_id"), pl.col("course_title").fill_null("untitled")
    )
    return (
        pl.when(reason == "line_item.unknown_course")
        # a line item outlives its section: a sync under `[policy] courses = "delete"` removes
        # the row the SIS no longer sends and leaves the platform's line items on it
        .then(
            pl.format(
                "course {} is none of the tenant's courses in lms.courses (deleted by a sync, "
                "or never one of them)",
                pl.col("course_id"),
            )
        )
        .when(reason == "line_item.hand_made_course")
        .then(pl.format("{} was made by hand in the platform: the SIS does not know it", course))
        .when(reason == "line_item.not_a_section")
        .then(
            pl.format(
                "{} is a base course ({}), not a class's section",
                course,
                pl.col("course_kind").fill_null("no kind"),
            )
        )
        .when(reason == "line_item.class_not_in_sis")
        .then(
            pl.format(
                "class {} of {} is no longer among the SIS's records",
                pl.col("classSourcedId"),
                course,
            )
        )
        .when(reason == "line_item.inactive")
        .then(pl.format("line item {} is inactive", pl.col("line_item_id")))
        .when(reason == "line_item.no_title")
        .then(
            pl.format(
                "line item {} has an empty title, which OneRoster requires", pl.col("line_item_id")
            )
        )
        .when(reason == "line_item.not_a_number")
        .then(
            pl.format(
                "the range of line item {} is not finite: {}",
                pl.col("line_item_id"),
                pl.concat_str(
                    _not_finite("min_score"),
                    _not_finite("points_possible"),
                    separator=", ",
                    ignore_nulls=True,
                ),
            )
        )
        .when(reason == "line_item.range_order")
        .then(
            pl.format(
                "the range of line item {} is reversed: min_score {} is above points_possible {}",
                pl.col("line_item_id"),
                number_text(pl.col("min_score")),
                number_text(pl.col("points_possible")),
            )
        )
        .when(reason == "line_item.not_a_date")
        .then(_not_date_message(pl.format("a day of line item {}", pl.col("line_item_id"))))
        .when(reason == "line_item.control_character")
        .then(_control_message(pl.format("line item {}", pl.col("line_item_id"))))
    )


def placed_line_items(
    line_items: pl.LazyFrame, courses: pl.LazyFrame, classes: pl.LazyFrame
) -> pl.LazyFrame:
    """Every line item with its section's class, and `reason` why it is not sent (null: it is
    sent) with its `message`."""
    course = pl.col("course_external_id")
    is_section = (pl.col("course_kind") == "section") & course.str.starts_with(MANAGED)
    return (
        line_items.join(
            courses.select(
                "course_id",
                pl.col("external_id").alias("course_external_id"),
                pl.col("kind").alias("course_kind"),
                pl.col("title").alias("course_title"),
                pl.lit(True).alias("course_found"),
            ),
            on="course_id",
            how="left",
        )
        .with_columns(pl.when(is_section).then(sourced_id(course)).alias("classSourcedId"))
        .join(
            classes.select(
                pl.col("sourcedId").alias("classSourcedId"),
                "termSourcedIds",
                "schoolSourcedId",
                pl.lit(True).alias("class_found"),
            ),
            on="classSourcedId",
            how="left",
        )
        .with_columns(
            _with_control(_line_item_texts()).alias("with_control"),
            _not_dates(("due_date", "assign_date")).alias("not_dates"),
        )
        .with_columns(_line_item_reason().alias("reason"))
        .with_columns(_line_item_message().alias("message"))
        .drop("with_control", "not_dates")
    )


def grading_periods(sent: pl.LazyFrame, sessions: pl.LazyFrame) -> pl.LazyFrame:
    """`line_item_id, gradingPeriodSourcedId` of each line item sent: of its class's terms, the
    first (in termSourcedIds' order) whose start and end dates hold the due date, else the
    first."""
    due = pl.col("due")
    return (
        sent.select(
            "line_item_id",
            date_text(pl.col("due_date")).alias("due"),
            pl.col("termSourcedIds").str.split(",").alias("term"),
        )
        .with_columns(pl.int_ranges(0, pl.col("term").list.len()).alias("position"))
        .explode("term", "position")
        .with_columns(pl.col("term").str.strip_chars())
        .join(
            sessions.select(pl.col("sourcedId").alias("term"), "startDate", "endDate"),
            on="term",
            how="left",
        )
        .with_columns(
            ((pl.col("startDate") <= due) & (due <= pl.col("endDate")))
            .fill_null(False)
            .alias("holds_due")
        )
        .group_by("line_item_id")
        .agg(
            pl.col("term")
            .sort_by(pl.col("holds_due").not_(), "position")
            .first()
            .alias("gradingPeriodSourcedId")
        )
    )


def line_item_records(sent: pl.LazyFrame, sessions: pl.LazyFrame) -> pl.LazyFrame:
    """lineItems records (both versions' columns, and `line_item_id`) of the line items sent."""
    return (
        sent.join(grading_periods(sent, sessions), on="line_item_id", how="left")
        .select(
            "line_item_id",
            pl.format("{}{}", pl.lit(LINE_ITEM_PREFIX), "line_item_id").alias("sourcedId"),
            pl.col("title"),
            pl.col("description"),
            date_text(pl.coalesce("assign_date", "due_date")).alias("assignDate"),
            date_text(pl.col("due_date")).alias("dueDate"),
            pl.col("classSourcedId"),
            category_id(category_title()).alias("categorySourcedId"),
            pl.col("gradingPeriodSourcedId"),
            pl.col("gradingPeriodSourcedId").alias("academicSessionSourcedId"),
            number_text(pl.col("min_score")).alias("resultValueMin"),
            number_text(pl.col("points_possible")).alias("resultValueMax"),
            pl.col("schoolSourcedId"),
        )
        .sort("line_item_id")
    )


def category_records(sent: pl.LazyFrame) -> pl.LazyFrame:
    """categories records: one per category of the line items sent."""
    title = category_title()
    return (
        sent.select(
            category_id(title).alias("sourcedId"),
            title.fill_null(DEFAULT_CATEGORY_TITLE).alias("title"),
        )
        .unique()
        .sort("sourcedId")
    )


# --- scores ----------------------------------------------------------------------------------


def studies(enrollments: pl.LazyFrame) -> pl.LazyFrame:
    """`user_id, course_id, enrollment_status` of every student enrollment the SIS made (a
    managed one): `active` when any of the pair's is."""
    return (
        enrollments.filter(
            (pl.col("role") == "student") & pl.col("external_id").str.starts_with(MANAGED_PREFIX)
        )
        .group_by("user_id", "course_id")
        .agg(
            pl.col("status")
            .sort_by(pl.col("status") != "active", "status")
            .first()
            .alias("enrollment_status")
        )
    )


def result_sourced_id() -> pl.Expr:
    """`res-<line_item_id>-<user_id>`, the user_id being the student's first (`result_user_id`)
    when known: one result per line item and student, whatever user_id the platform holds the
    student under now."""
    return pl.format(
        "{}{}-{}",
        pl.lit(RESULT_PREFIX),
        "line_item_id",
        pl.coalesce("result_user_id", "user_id"),
    )


def _with_optional_user_columns(users: pl.LazyFrame) -> pl.LazyFrame:
    present = users.collect_schema().names()
    return users.with_columns(
        pl.lit(None, dtype).alias(name)
        for name, dtype in OPTIONAL_USER_COLUMNS.items()
        if name not in present
    )


def _result_reason() -> pl.Expr:
    # the enrollment decides, not the user's role: a teacher the SIS enrolls as a student of
    # a class (a staff member taking a course) has results of the SIS's like any student
    enrolled = (pl.col("enrollment_status") == "active").fill_null(False) & pl.col(
        "user_external_id"
    ).str.starts_with(MANAGED).fill_null(False)
    score = pl.col("score")
    return (
        pl.when(pl.col("line_item_reason").is_not_null() | pl.col("line_item_found").is_null())
        .then(pl.lit("result.line_item_not_sent"))
        .when(enrolled.not_())
        .then(pl.lit("result.not_enrolled"))
        # before the range: NaN is no score, whatever Polars' order of floats makes of it
        .when(~score.is_finite())
        .then(pl.lit("result.not_a_number"))
        .when((score < pl.col("min_score")) | (score > pl.col("points_possible")))
        .then(pl.lit("result.out_of_range"))
        .when(pl.col("not_dates").is_not_null())
        .then(pl.lit("result.not_a_date"))
        .when(pl.col("with_control").is_not_null())
        .then(pl.lit("result.control_character"))
    )


def _result_message() -> pl.Expr:
    reason = pl.col("reason")
    user = pl.col("user_external_id")
    return (
        pl.when(reason == "result.line_item_not_sent")
        .then(
            pl.format(
                "line item {} is not sent ({})",
                pl.col("line_item_id"),
                pl.col("line_item_reason").fill_null("it is not the tenant's"),
            )
        )
        # a score outlives its user: a sync under `[policy] users = "delete"` removes the row
        # and leaves the score, which is no hand-made user's
        .when((reason == "result.not_enrolled") & user.is_null())
        .then(
            pl.format(
                "user {} is none of the tenant's users in lms.users (deleted by a sync, or "
                "never one of them)",
                pl.col("user_id"),
            )
        )
        .when((reason == "result.not_enrolled") & ~user.str.starts_with(MANAGED))
        .then(
            pl.format(
                "user {} is not a student the SIS knows (made by hand in the platform)",
                pl.col("user_id"),
            )
        )
        # a teacher's try of a quiz, say: named by their role, not as a student
        .when(
            (reason == "result.not_enrolled") & (pl.col("user_role") != "student").fill_null(False)
        )
        .then(
            pl.format(
                "{} {} is not actively enrolled as a student in class {} ({})",
                pl.col("user_role"),
                sourced_id(user),
                pl.col("classSourcedId"),
                pl.format("enrollment {}", pl.col("enrollment_status")).fill_null(
                    "no student enrollment"
                ),
            )
        )
        .when(reason == "result.not_enrolled")
        .then(
            pl.format(
                "student {} is not actively enrolled in class {} ({})",
                sourced_id(user),
                pl.col("classSourcedId"),
                pl.format("enrollment {}", pl.col("enrollment_status")).fill_null(
                    "no student enrollment"
                ),
            )
        )
        .when(reason == "result.not_a_number")
        .then(pl.format("score {} is not a finite number", number_text(pl.col("score"))))
        .when(reason == "result.out_of_range")
        .then(
            pl.format(
                "score {} is outside {} to {}",
                number_text(pl.col("score")),
                number_text(pl.col("min_score")),
                number_text(pl.col("points_possible")),
            )
        )
        .when(reason == "result.not_a_date")
        .then(_not_date_message(pl.lit("the day the score was graded")))
        .when(reason == "result.control_character")
        .then(_control_message(pl.lit("the score")))
    )


def placed_scores(
    scores: pl.LazyFrame,
    line_items: pl.LazyFrame,
    users: pl.LazyFrame,
    enrollments: pl.LazyFrame,
) -> pl.LazyFrame:
    """Every score with its line item's section and range and the student's enrollment, and
    `reason` why it is not sent (null: it is sent) with its `message`. `line_items` are
    `placed_line_items`."""
    return (
        scores.join(
            line_items.select(
                "line_item_id",
                "course_id",
                "classSourcedId",
                "min_score",
                "points_possible",
                pl.col("reason").alias("line_item_reason"),
                pl.lit(True).alias("line_item_found"),
            ),
            on="line_item_id",
            how="left",
        )
        .join(
            _with_optional_user_columns(users).select(
                "user_id",
                pl.col("external_id").alias("user_external_id"),
                pl.col("role").alias("user_role"),
                "result_user_id",
            ),
            on="user_id",
            how="left",
        )
        .join(studies(enrollments), on=["user_id", "course_id"], how="left")
        .with_columns(
            _with_control(_score_texts()).alias("with_control"),
            _not_dates(("graded_at",)).alias("not_dates"),
        )
        .with_columns(_result_reason().alias("reason"))
        .with_columns(_result_message().alias("message"))
        .drop("with_control", "not_dates")
    )


def result_records(sent: pl.LazyFrame) -> pl.LazyFrame:
    """results records (both versions' columns, `line_item_id` and `user_id`) of the scores sent."""
    return sent.select(
        "line_item_id",
        "user_id",
        result_sourced_id().alias("sourcedId"),
        pl.format("{}{}", pl.lit(LINE_ITEM_PREFIX), "line_item_id").alias("lineItemSourcedId"),
        sourced_id(pl.col("user_external_id")).alias("studentSourcedId"),
        pl.col("status").alias("scoreStatus"),
        number_text(pl.col("score")).alias("score"),
        date_text(pl.col("graded_at")).alias("scoreDate"),
        pl.col("comment"),
        pl.col("text_score").alias("textScore"),
        pl.col("classSourcedId"),
        flag_text(pl.col("late")).alias("late"),
        flag_text(pl.col("missing")).alias("missing"),
    ).sort("line_item_id", "user_id")


# --- the gradebook ---------------------------------------------------------------------------


def exclusions(line_items: pl.LazyFrame, scores: pl.LazyFrame) -> pl.LazyFrame:
    """One row per line item and score not sent (`schemas.gradebook.EXCLUSION_SCHEMA`), line
    items first; `line_items` and `scores` as placed."""
    return pl.concat(
        [
            line_items.filter(pl.col("reason").is_not_null()).select(
                pl.lit("lineItem").alias("entity"),
                pl.format("{}{}", pl.lit(LINE_ITEM_PREFIX), "line_item_id").alias("sourcedId"),
                "line_item_id",
                pl.lit(None, pl.Int64).alias("user_id"),
                "reason",
                "message",
            ),
            scores.filter(pl.col("reason").is_not_null()).select(
                pl.lit("result").alias("entity"),
                result_sourced_id().alias("sourcedId"),
                "line_item_id",
                "user_id",
                "reason",
                "message",
            ),
        ]
    ).sort(pl.col("entity") != "lineItem", "line_item_id", "user_id", nulls_last=False)


def gradebook(
    line_items: pl.LazyFrame,
    scores: pl.LazyFrame,
    courses: pl.LazyFrame,
    users: pl.LazyFrame,
    enrollments: pl.LazyFrame,
    classes: pl.LazyFrame,
    sessions: pl.LazyFrame,
) -> Gradebook:
    """The tenant's gradebook as OneRoster records, and what is not sent (the module's
    docstring says how). Inputs: the tenant's lms.line_items and lms.scores of those line items
    (`schemas.gradebook` schemas), its lms.courses, users and enrollments, and the stored
    classes.csv and academicSessions.csv records."""
    placed_items = placed_line_items(line_items, courses, classes)
    sent_items = placed_items.filter(pl.col("reason").is_null())
    placed = placed_scores(scores, placed_items, users, enrollments)
    return Gradebook(
        categories=category_records(sent_items),
        line_items=line_item_records(sent_items, sessions),
        results=result_records(placed.filter(pl.col("reason").is_null())),
        exclusions=exclusions(placed_items, placed).cast(EXCLUSION_SCHEMA),
    )


def gradebook_files(book: Gradebook, version: str = "1.1") -> dict[str, pl.LazyFrame]:
    """The records to send as OneRoster `version`'s files: each file's columns in its
    binding's order, all text (a column the records lack, status or dateLastModified of a bulk
    file, is empty)."""
    specs = SPECS_BY_VERSION[version]
    found = {}
    for name, records in book.files().items():
        present = records.collect_schema().names()
        found[name] = records.select(
            pl.col(c) if c in present else pl.lit(None, pl.String).alias(c)
            for c in specs[name].header
        )
    return found
