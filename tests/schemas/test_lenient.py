"""schemas.lenient: each rule's rewrite, its warning, and what it leaves for pandera."""

import pandera.polars as pa
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.csvfile import LINE
from rosterflow.schemas.issues import ISSUE_SCHEMA
from rosterflow.schemas.lenient import normalize
from rosterflow.schemas.spec import MODELS_BY_VERSION, SPECS_BY_VERSION

CASE = "read as '{}'"
INACTIVE = "the OneRoster 1.0 status inactive: the record is kept, inactive"
DATETIME = "accepted; the spec's form is YYYY-MM-DDTHH:MM:SS.sssZ"
GRADE = "not a CEDS grade code (KG, 01 ... 12, PK, Other, ...); kept as given"


def rows(name: str, version: str = "1.1", **columns: list[str | None]) -> pl.DataFrame:
    """A file's rows (lines 2, 3, ...): the columns given, every other one null."""
    spec = SPECS_BY_VERSION[version][name]
    height = len(next(iter(columns.values())))
    return pl.DataFrame(
        {c: columns.get(c, [None] * height) for c in spec.header}
        | {LINE: list(range(2, height + 2))},
        schema=dict.fromkeys(spec.header, pl.String) | {LINE: pl.Int64},
    )


def warnings(file: str, *rows: tuple) -> pl.DataFrame:
    """Warnings as `(line, field, value, rule, message)`."""
    return pl.DataFrame(
        [
            (file, line, field, value, rule, "warning", message)
            for line, field, value, rule, message in rows
        ],
        schema=ISSUE_SCHEMA,
        orient="row",
    )


def pandera_rejects(name: str, column: str, values: list[str | None], version="1.1") -> list[bool]:
    """For each value, whether the file's model rejects it in that column."""
    schema = MODELS_BY_VERSION[version][name].to_schema().columns[column]
    try:
        schema.validate(pl.DataFrame({column: values}, schema={column: pl.String}), lazy=True)
    except pa.errors.SchemaErrors as errors:
        rejected = set(errors.failure_cases["index"].drop_nulls().to_list())
        return [index in rejected for index in range(len(values))]
    return [False] * len(values)


def check(
    given: pl.DataFrame,
    name: str,
    expected_rows: pl.DataFrame,
    expected: pl.DataFrame,
    version="1.1",
):
    normalized, found = normalize(given, SPECS_BY_VERSION[version][name])
    assert_frame_equal(normalized, expected_rows)
    # the rules' warnings come in the order of the columns, not of the lines
    assert_frame_equal(found.collect(), expected, check_row_order=False)


def test_booleans_in_another_case_are_read_with_a_warning():
    given = rows("users", enabledUser=["TRUE", "true", "False", "yes", " true"])
    check(
        given,
        "users",
        rows("users", enabledUser=["true", "true", "false", "yes", " true"]),
        warnings(
            "users.csv",
            (2, "enabledUser", "TRUE", "boolean.case", CASE.format("true")),
            (4, "enabledUser", "False", "boolean.case", CASE.format("false")),
        ),
    )
    # not a boolean in any case: left as it is, for pandera to reject
    assert pandera_rejects("users", "enabledUser", ["yes", " true"]) == [True, True]


def test_enumerations_in_another_case_are_read_with_a_warning():
    given = rows("classes", classType=["Scheduled", "HOMEROOM", "scheduled", "lecture", "sched"])
    check(
        given,
        "classes",
        rows("classes", classType=["scheduled", "homeroom", "scheduled", "lecture", "sched"]),
        warnings(
            "classes.csv",
            (2, "classType", "Scheduled", "enum.case", CASE.format("scheduled")),
            (3, "classType", "HOMEROOM", "enum.case", CASE.format("homeroom")),
        ),
    )
    assert pandera_rejects("classes", "classType", ["lecture", "sched"]) == [True, True]


def test_the_1_0_status_inactive_is_kept_with_a_warning():
    given = rows("orgs", status=["inactive", "Active", "INACTIVE", "tobedeleted", "deleted", None])
    check(
        given,
        "orgs",
        rows("orgs", status=["inactive", "active", "inactive", "tobedeleted", "deleted", None]),
        warnings(
            "orgs.csv",
            (2, "status", "inactive", "status.inactive", INACTIVE),
            (4, "status", "INACTIVE", "status.inactive", INACTIVE),
            (3, "status", "Active", "status.case", CASE.format("active")),
            (4, "status", "INACTIVE", "status.case", CASE.format("inactive")),
        ),
    )
    # the model admits inactive, once read in lower case; not a status it never had
    assert pandera_rejects("orgs", "status", ["inactive", "deleted"]) == [False, True]


def test_iso_datetimes_other_than_the_spec_s_form_are_kept_with_a_warning():
    values = [
        "2023-02-28T10:00:00.000Z",  # the spec's form
        "2023-02-28T10:00:00Z",  # the fraction is optional
        "2023-02-28",
        "2023-02-28 10:00",
        "2023-02-28T10:00:00+01:00",
        "28/02/2023",  # not ISO 8601: no warning, pandera's error
        "2023-02-30T10:00:00Z",  # the spec's form, not a day: pandera's error
    ]
    given = rows("courses", dateLastModified=values)
    check(
        given,
        "courses",
        given,
        warnings(
            "courses.csv",
            (4, "dateLastModified", "2023-02-28", "datetime.format", DATETIME),
            (5, "dateLastModified", "2023-02-28 10:00", "datetime.format", DATETIME),
            (6, "dateLastModified", "2023-02-28T10:00:00+01:00", "datetime.format", DATETIME),
        ),
    )
    assert pandera_rejects("courses", "dateLastModified", values) == [False] * 5 + [True, True]


def test_an_iso_datetime_naming_no_real_day_is_not_accepted_with_a_warning():
    values = ["2023-02-30", "2023-02-30 10:00", "2023-13-01T10:00:00+01:00", "2024-02-29"]
    given = rows("courses", dateLastModified=values)
    # the first three are pandera's errors, and that is their one issue
    check(
        given,
        "courses",
        given,
        warnings("courses.csv", (5, "dateLastModified", "2024-02-29", "datetime.format", DATETIME)),
    )
    assert pandera_rejects("courses", "dateLastModified", values) == [True] * 3 + [False]


def test_grades_outside_ceds_are_kept_with_a_warning():
    values = ["09,10", "09, 10", "9", "KG,K", "Other", "PK"]
    given = rows("users", grades=values)
    check(
        given,
        "users",
        given,
        warnings(
            "users.csv",
            (4, "grades", "9", "grade", GRADE),
            (5, "grades", "KG,K", "grade", GRADE),
        ),
    )
    assert pandera_rejects("users", "grades", values) == [False] * 6  # well-formed lists


def test_a_1_2_enumeration_admits_ext_values_and_reads_other_cases():
    given = rows("roles", "1.2", role=["Teacher", "ext:Tutor", "Administrator", "EXT:Tutor"])
    check(
        given,
        "roles",
        rows("roles", "1.2", role=["teacher", "ext:Tutor", "administrator", "EXT:Tutor"]),
        warnings(
            "roles.csv",
            (2, "role", "Teacher", "enum.case", CASE.format("teacher")),
            # administrator, the 1.1 word accepted beside the enumeration (with its warning
            # from v12), is read in any letter case as the enumeration's words are
            (4, "role", "Administrator", "enum.case", CASE.format("administrator")),
        ),
        "1.2",
    )
    # the model itself admits the words as written only: the letter case is lenient's
    assert pandera_rejects("roles", "role", ["ext:Tutor", "Administrator", "EXT:Tutor"], "1.2") == [
        False,
        True,
        True,
    ]


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_clean_file_is_left_as_it_is_without_warnings(version):
    given = rows(
        "enrollments",
        version,
        status=["active", None],
        dateLastModified=["2023-02-28T10:00:00.000Z", None],
        role=["student", "teacher"],
        primary=["false", None],
    )
    check(given, "enrollments", given, pl.DataFrame(schema=ISSUE_SCHEMA), version)


def test_an_empty_file_gives_no_warning():
    given = rows("users", enabledUser=[])
    check(given, "users", given, pl.DataFrame(schema=ISSUE_SCHEMA))
