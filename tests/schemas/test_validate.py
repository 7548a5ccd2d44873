import random

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.settings import parse_settings
from rosterflow.schemas.validate import validate_feed
from rosterflow.schemas.writer import write_feed
from tests.feeds import feed_files, frame, tiny_district, with_cell, write_zip
from tests.feeds12 import as_v12, frame12


def validate(tmp_path, frames, name="feed.zip", modes=None, settings=None, known=None):
    feed = open_feed(write_feed(tmp_path / name, frames, modes=modes))
    return validate_feed(feed, settings, known)


def found(result) -> set[tuple]:
    return set(result.issues.select("file", "line", "field", "rule", "severity").iter_rows())


def test_tiny_district_is_clean(tmp_path):
    result = validate(tmp_path, tiny_district())
    assert result.issues.height == 0, result.issues
    assert result.ok


# (file, row, column, value) -> the issue it must raise; row 0 is on line 2
ROW_RULES = [
    ("users", 1, "givenName", None, "required", "error"),
    ("users", 2, "sourcedId", None, "required", "error"),
    ("users", 2, "role", "pupil", "enum", "error"),
    ("users", 0, "enabledUser", "yes", "boolean", "error"),
    ("users", 3, "orgSourcedIds", "s1,,s2", "list", "error"),
    ("users", 3, "userIds", "LDAP:12", "user_ids", "error"),
    ("users", 0, "status", "deleted", "status", "error"),
    ("enrollments", 1, "beginDate", "2026-13-01", "date", "error"),
    ("enrollments", 1, "beginDate", "09/01/2026", "date", "error"),
    ("enrollments", 2, "endDate", "2027-02-30", "date", "error"),
    ("orgs", 1, "dateLastModified", "yesterday", "datetime", "error"),
    ("orgs", 1, "dateLastModified", "2023-02-30T10:00:00Z", "date", "error"),
    ("academicSessions", 0, "schoolYear", "27", "year", "error"),
    ("classes", 0, "classType", "lecture", "enum", "error"),
    ("courses", 1, "courseCode", None, "platform.required", "error"),
    ("classes", 0, "classType", "Scheduled", "enum.case", "warning"),
    ("users", 1, "enabledUser", "TRUE", "boolean.case", "warning"),
    ("orgs", 2, "status", "inactive", "status.inactive", "warning"),
    ("orgs", 2, "status", "Active", "status.case", "warning"),
    ("orgs", 0, "dateLastModified", "2023-05-01", "datetime.format", "warning"),
    ("users", 2, "grades", "K", "grade", "warning"),
    ("courses", 1, "grades", "9,10", "grade", "warning"),
    ("users", 0, "email", None, "teacher.no_email", "warning"),
    ("courses", 0, "subjectCodes", "M1,M2", "list.length", "error"),
    ("academicSessions", 1, "endDate", "2026-01-01", "date.order", "warning"),
    ("users", 3, "orgSourcedIds", "s1,s9", "reference", "error"),
    ("classes", 2, "courseSourcedId", "c-none", "reference", "error"),
    ("enrollments", 5, "userSourcedId", "u-none", "reference", "error"),
    ("users", 2, "agentSourcedIds", "u-p1, u-none", "reference", "error"),
    ("academicSessions", 1, "parentSourcedId", "y9", "reference", "error"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "row", "column", "value", "rule", "severity"), ROW_RULES)
def test_each_rule_names_file_line_field(tmp_path, name, row, column, value, rule, severity):
    result = validate(tmp_path, with_cell(tiny_district(), name, row, column, value))
    assert (f"{name}.csv", row + 2, column, rule, severity) in found(result), result.issues
    assert result.ok == (severity == "warning")


NOT_A_DATE = "not a date YYYY-MM-DD"
NOT_A_DAY = "not a real calendar day"
NOT_A_DATETIME = "not an ISO 8601 date-time (YYYY-MM-DDTHH:MM:SS.sssZ)"
# (file, row, column, value) -> the one error it raises: a value not in the format breaks the
# format alone (though its first ten characters name no day either); one in the format that
# names no day breaks the calendar alone
BAD_DATES = [
    ("enrollments", 0, "beginDate", "abc", "date", NOT_A_DATE),
    ("enrollments", 1, "beginDate", "2026-8-5", "date", NOT_A_DATE),
    ("enrollments", 2, "endDate", "2026/12/18", "date", NOT_A_DATE),
    ("enrollments", 2, "endDate", "2026-02-30x", "date", NOT_A_DATE),
    ("enrollments", 3, "endDate", "2027-02-30", "date", NOT_A_DAY),
    ("academicSessions", 1, "startDate", "soon", "date", NOT_A_DATE),
    ("academicSessions", 1, "endDate", "2026-13-20", "date", NOT_A_DAY),
    ("orgs", 1, "dateLastModified", "yesterday", "datetime", NOT_A_DATETIME),
    ("orgs", 1, "dateLastModified", "2023-02-30 at noon", "datetime", NOT_A_DATETIME),
    ("orgs", 1, "dateLastModified", "2023-02-30T10:00:00Z", "date", NOT_A_DAY),
    ("orgs", 1, "dateLastModified", "2023-02-30", "date", NOT_A_DAY),
]


@pytest.mark.slow
@pytest.mark.parametrize("version", ["1.1", "1.2"])
@pytest.mark.parametrize(("name", "row", "column", "value", "rule", "message"), BAD_DATES)
def test_a_bad_date_is_one_error(tmp_path, version, name, row, column, value, rule, message):
    frames = with_dates(tiny_district())
    frames = with_cell(frames, name, row, column, value)
    path = write_feed(
        tmp_path / "feed.zip", frames if version == "1.1" else as_v12(frames), version=version
    )

    result = validate_feed(open_feed(path))

    # the only issue of the feed: no second error, no order warning against the bad value
    assert result.issues.rows() == [
        (f"{name}.csv", row + 2, column, value, rule, "error", message)
    ], result.issues


def with_dates(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """`frames` with every enrollment from 2026-08-15 to 2026-12-18."""
    return frames | {
        "enrollments": frames["enrollments"].with_columns(
            beginDate=pl.lit("2026-08-15"), endDate=pl.lit("2026-12-18")
        )
    }


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_the_order_check_compares_two_valid_dates_as_dates(tmp_path, version):
    frames = with_dates(tiny_district())
    for row, column, value in [
        (0, "endDate", "2026-08-14"),  # ends the day before it starts: the one warning
        (1, "beginDate", "2026-8-5"),  # after 2026-12-18 as text, before it as a date
        (2, "beginDate", "abc"),
        (3, "endDate", "2026-02-30"),  # before 2026-08-15 as text, but no day
        (4, "beginDate", "2026-12-18"),  # the same day
    ]:
        frames = with_cell(frames, "enrollments", row, column, value)
    path = write_feed(
        tmp_path / "feed.zip", frames if version == "1.1" else as_v12(frames), version=version
    )

    issues = validate_feed(open_feed(path)).issues

    assert issues.select("line", "field", "value", "rule").sort("line").rows() == [
        (2, "endDate", "2026-08-14", "date.order"),
        (3, "beginDate", "2026-8-5", "date"),
        (4, "beginDate", "abc", "date"),
        (5, "endDate", "2026-02-30", "date"),
    ]
    assert issues.filter(pl.col("rule") == "date.order")["message"].to_list() == [
        "ends before it starts (2026-08-15)"
    ]


def test_duplicate_sourced_id_flags_both_lines(tmp_path):
    result = validate(tmp_path, with_cell(tiny_district(), "enrollments", 3, "sourcedId", "e1"))
    assert {
        ("enrollments.csv", 2, "sourcedId", "unique", "error"),
        ("enrollments.csv", 5, "sourcedId", "unique", "error"),
    } <= found(result)


def test_org_cycle_is_an_error_on_every_row_whose_chain_loops(tmp_path):
    frames = with_cell(tiny_district(), "orgs", 0, "parentSourcedId", "s1")  # st -> s1 -> d1 -> st
    result = validate(tmp_path, frames)
    cycles = result.issues.filter(pl.col("rule") == "cycle")
    # s2 (line 5) is not on the loop but its chain enters it and never reaches a root
    assert set(cycles.select("file", "line").iter_rows()) == {("orgs.csv", n) for n in (2, 3, 4, 5)}
    assert not result.ok


def test_session_self_parent_is_a_cycle(tmp_path):
    result = validate(
        tmp_path, with_cell(tiny_district(), "academicSessions", 0, "parentSourcedId", "y1")
    )
    assert ("academicSessions.csv", 2, "parentSourcedId", "cycle", "error") in found(result)


def test_class_without_teacher_and_same_titles_are_warnings(tmp_path):
    frames = tiny_district()
    frames = with_cell(frames, "classes", 1, "title", "Algebra I - 1")  # u-t1 teaches k1 and k2
    frames["enrollments"] = frames["enrollments"].filter(pl.col("sourcedId") != "e5")  # k3 untaught
    result = validate(tmp_path, frames)
    assert ("classes.csv", 3, "title", "teacher.same_title", "warning") in found(result)
    assert ("classes.csv", 4, "sourcedId", "class.no_teacher", "warning") in found(result)
    assert result.ok


def test_a_class_whose_only_teacher_enrollment_is_inactive_is_untaught(tmp_path):
    """An enrollment of the 1.0 status `inactive` is a teacher who left the class: the section
    derives from no teacher base course (`transforms.hierarchy`), and the warning says so."""
    frames = tiny_district()
    k3_teacher = frames["enrollments"]["sourcedId"].to_list().index("e5")
    frames = with_cell(frames, "enrollments", k3_teacher, "status", "inactive")
    result = validate(tmp_path, frames)
    assert ("classes.csv", 4, "sourcedId", "class.no_teacher", "warning") in found(result)


def test_two_primary_teachers_warn(tmp_path):
    frames = tiny_district()
    frames["enrollments"] = pl.concat(
        [
            frames["enrollments"],
            frame(
                "enrollments",
                {
                    "sourcedId": "e7",
                    "classSourcedId": "k1",
                    "schoolSourcedId": "s1",
                    "userSourcedId": "u-t2",
                    "role": "teacher",
                    "primary": "true",
                },
            ),
        ]
    )
    result = validate(tmp_path, frames)
    assert ("enrollments.csv", 8, "primary", "enrollment.primary", "warning") in found(result)


@pytest.mark.parametrize(
    ("header", "rule", "field"),
    [
        (
            "sourcedId,dateLastModified,status,name,type,identifier,parentSourcedId",
            "header.order",
            None,
        ),
        (
            "SourcedId,status,dateLastModified,name,type,identifier,parentSourcedId",
            "header.case",
            "sourcedId",
        ),
        (
            "sourcedId,status,dateLastModified,name,type,parentSourcedId",
            "header.missing",
            "identifier",
        ),
        (
            "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId,extra",
            "header.unknown",
            "extra",
        ),
        (
            "sourcedId,status,dateLastModified,name,name,type,identifier,parentSourcedId",
            "header.duplicate",
            "name",
        ),
        (
            "metadata.x,sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId",
            "header.order",
            None,
        ),
    ],
)
def test_header_rules(tmp_path, header, rule, field):
    files = feed_files(tiny_district())
    body = files["orgs.csv"].decode().split("\n", 1)[1]
    files["orgs.csv"] = f"{header}\n{body}".encode()
    result = validate_feed(open_feed(write_zip(tmp_path / "h.zip", files)))
    assert ("orgs.csv", 1, field, rule, "error") in found(result)
    assert "orgs" not in result.tables  # rows of a file with a broken header are not read


def header_errors(tmp_path, name: str, edit) -> list[tuple]:
    """The errors of a feed whose file `name` has its bytes edited by `edit`."""
    files = feed_files(tiny_district())
    files[name] = edit(files[name])
    result = validate_feed(open_feed(write_zip(tmp_path / "h.zip", files)))
    errors = result.issues.filter(pl.col("severity") == "error")
    return errors.select("file", "line", "field", "value", "rule", "message").rows()


def test_a_file_whose_header_line_was_left_out_is_one_error(tmp_path):
    # its first record read as a header: once an error per field, and one per empty field twice
    errors = header_errors(tmp_path, "users.csv", lambda data: data.split(b"\n", 1)[1])
    assert [error[:2] + error[4:5] for error in errors] == [("users.csv", 1, "header.missing")]
    assert errors[0][5].startswith(
        "the first line is no header line: none of its fields names a column of users.csv "
        "(was the header line left out?); the file must start with its header, "
        "sourcedId,status,dateLastModified,..."
    )


def test_a_column_named_several_times_is_one_error_per_name(tmp_path):
    def renamed(data: bytes) -> bytes:
        header, rest = data.split(b"\n", 1)
        names = header.split(b",")
        names[1:3] = [b"", b""]  # status and dateLastModified without a name
        names[4] = names[-1] = names[3]  # name three times (instead of type and the last)
        return b",".join(names) + b"\n" + rest

    errors = [e for e in header_errors(tmp_path, "orgs.csv", renamed) if e[4] == "header.duplicate"]
    assert [(e[2], e[5]) for e in errors] == [
        ("", "a column with no name appears 2 times"),
        ("name", "column name appears 3 times"),
    ]


def test_a_second_byte_order_mark_is_named_in_the_header_error(tmp_path):
    bom = b"\xef\xbb\xbf"
    errors = header_errors(tmp_path, "users.csv", lambda data: bom + bom + data.removeprefix(bom))
    unknown = [e for e in errors if e[4] == "header.unknown"]
    assert unknown == [
        (
            "users.csv",
            1,
            "\\ufeffsourcedId",
            "\\ufeffsourcedId",
            "header.unknown",
            "not a column of this file: the name holds characters a screen does not show, here "
            "as \\uXXXX; \\ufeff is a second byte-order mark at the start of the file",
        )
    ]


def test_a_blank_first_line_is_one_error_saying_so(tmp_path):
    errors = header_errors(tmp_path, "orgs.csv", lambda data: b"   \n" + data)
    assert errors == [
        (
            "orgs.csv",
            1,
            None,
            None,
            "header.missing",
            "the first line is blank: a file must start with its header line",
        )
    ]


def test_metadata_extension_columns_are_allowed(tmp_path):
    frames = tiny_district()
    frames["orgs"] = frames["orgs"].with_columns(pl.lit("x").alias("metadata.color"))
    result = validate(tmp_path, frames)
    assert result.issues.height == 0
    assert "metadata.color" not in result.tables["orgs"].columns


def test_lines_count_multi_line_values(tmp_path):
    frames = with_cell(tiny_district(), "users", 0, "familyName", "Love\r\nlace")
    frames = with_cell(frames, "users", 3, "role", "pupil")
    result = validate(tmp_path, frames)
    assert ("users.csv", 6, "role", "enum", "error") in found(result)


def test_lenient_values_are_normalized_for_the_sync(tmp_path):
    frames = with_cell(tiny_district(), "users", 0, "enabledUser", "FALSE")
    frames = with_cell(frames, "classes", 0, "classType", "Homeroom")
    result = validate(tmp_path, frames)
    assert result.tables["users"]["enabledUser"][0] == "false"
    assert result.tables["classes"]["classType"][0] == "homeroom"


def test_reference_into_absent_file_warns_without_warehouse_and_resolves_with_one(tmp_path):
    frames = tiny_district()
    del frames["courses"]
    result = validate(tmp_path, frames)
    assert ("classes.csv", 2, "courseSourcedId", "reference.unverified", "warning") in found(result)
    assert result.ok
    known = {"courses": pl.Series(["c-alg"])}
    with_warehouse = validate(tmp_path, frames, name="w.zip", known=known)
    issues = found(with_warehouse)
    assert ("classes.csv", 2, "courseSourcedId", "reference", "warning") not in issues
    assert ("classes.csv", 4, "courseSourcedId", "reference", "warning") in issues  # c-bio unknown
    assert with_warehouse.ok  # a class can be built without its course


def test_delta_reference_the_warehouse_cannot_resolve_is_an_error_when_essential(tmp_path):
    frames = {
        "enrollments": frame(
            "enrollments",
            {
                "sourcedId": "e9",
                "status": "active",
                "dateLastModified": "2027-01-01T00:00:00.000Z",
                "classSourcedId": "k1",
                "schoolSourcedId": "s1",
                "userSourcedId": "u-gone",
                "role": "student",
            },
        )
    }
    known = {"classes": pl.Series(["k1"]), "users": pl.Series(["u-s1"]), "orgs": pl.Series(["s1"])}
    result = validate(tmp_path, frames, modes={"enrollments": "delta"}, known=known)
    assert found(result) == {("enrollments.csv", 2, "userSourcedId", "reference", "error")}


def test_delta_rows_need_a_status_and_removals_need_only_an_id(tmp_path):
    frames = {
        "users": frame(
            "users",
            {
                "sourcedId": "u-x",
                "status": "tobedeleted",
                "dateLastModified": "2027-01-01T00:00:00.000Z",
            },
            {
                "sourcedId": "u-y",
                "enabledUser": "true",
                "orgSourcedIds": "s1",
                "role": "student",
                "username": "y",
                "givenName": "Y",
                "familyName": "Y",
                "dateLastModified": "2027-01-01T00:00:00Z",
            },
        )
    }
    result = validate(tmp_path, frames, modes={"users": "delta"}, known={"orgs": pl.Series(["s1"])})
    assert found(result) == {("users.csv", 3, "status", "delta.status", "error")}


def test_reference_to_a_removed_record_warns(tmp_path):
    frames = with_cell(tiny_district(), "classes", 2, "status", "tobedeleted")
    result = validate(tmp_path, frames)
    assert ("enrollments.csv", 6, "classSourcedId", "reference.removed", "warning") in found(result)


def test_settings_demand_fields_and_files(tmp_path):
    strict = parse_settings(
        {"validation": {"required": {"users": ["email"]}, "files": ["demographics", "manifest"]}}
    )
    frames = with_cell(tiny_district(), "users", 2, "email", None)
    result = validate(tmp_path, frames, settings=strict)
    assert ("users.csv", 4, "email", "platform.required", "error") in found(result)
    # on the manifest's line that says the file is absent
    manifest = feed_files(frames)["manifest.csv"].decode().splitlines()
    line = next(n for n, text in enumerate(manifest, 1) if text.startswith("file.demographics,"))
    assert ("manifest.csv", line, "file.demographics", "manifest.required_file", "error") in found(
        result
    )
    # the default demands courseCode only; this settings file replaced it
    assert not any(
        rule == "platform.required" and file == "courses.csv"
        for file, _, _, rule, _ in found(result)
    )


def test_a_required_file_the_manifest_does_not_name_is_an_error_on_no_line(tmp_path):
    files = feed_files(tiny_district())
    files["manifest.csv"] = b"\n".join(
        line
        for line in files["manifest.csv"].split(b"\n")
        if not line.startswith(b"file.demographics,")
    )
    settings = parse_settings({"validation": {"files": ["demographics"]}})
    result = validate_feed(open_feed(write_zip(tmp_path / "feed.zip", files)), settings)
    assert ("manifest.csv", None, "file.demographics", "manifest.required_file", "error") in found(
        result
    )


def test_header_only_file_warns(tmp_path):
    frames = tiny_district()
    frames["courses"] = frames["courses"].head(0)
    result = validate(tmp_path, frames)
    assert ("courses.csv", None, None, "file.empty", "warning") in found(result)


def test_a_delta_file_of_no_records_says_nothing_changed_without_a_warning(tmp_path):
    frames = {"users": tiny_district()["users"].head(0)}
    feed = open_feed(write_feed(tmp_path / "delta.zip", frames, modes={"users": "delta"}))
    result = validate_feed(feed)
    assert result.issues.filter(pl.col("rule") == "file.empty").is_empty()


@pytest.mark.parametrize("feed", ["catalyst-full", "catalyst-minimal"])
def test_third_party_feeds_give_their_expected_result(third_party_feeds, feed):
    expect = (third_party_feeds / feed / "EXPECT").read_text().split("\n")
    exit_code, path = expect[0].split()
    result = validate_feed(open_feed(third_party_feeds / feed / path))
    assert (0 if result.ok else 1) == int(exit_code)
    errors = set(
        result.issues.filter(pl.col("severity") == "error").select("file", "line").iter_rows()
    )
    for line in filter(None, (entry.strip() for entry in expect[1:])):
        file, *at = line.split()
        if at:
            assert (file, int(at[0])) in errors, (line, result.issues)
        else:
            assert file in {f for f, _ in errors}


def _shuffled(frames, seed):
    rng = random.Random(seed)
    out = {}
    for name, data in frames.items():
        order = list(range(data.height))
        rng.shuffle(order)
        out[name] = data[order]
    return out


def _by_content(result):
    return sorted(
        result.issues.select("file", "field", "value", "rule", "severity").iter_rows(), key=str
    )


@pytest.mark.slow  # (15 generated districts validated twice: 4 s)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_row_order_changes_no_result(tmp_path_factory, seed):
    tmp = tmp_path_factory.mktemp("shuffle")
    broken = with_cell(
        with_cell(tiny_district(), "users", 3, "orgSourcedIds", "s1,s9"),
        "orgs",
        0,
        "parentSourcedId",
        "s1",
    )
    for frames in (tiny_district(), broken):
        original = validate(tmp, frames, name="a.zip")
        shuffled = validate(tmp, _shuffled(frames, seed), name="b.zip")
        assert _by_content(original) == _by_content(shuffled)


def with_gradebook(district):
    """tiny_district with a category, two line items and their results (a gradebook feed)."""
    return district | {
        "categories": frame("categories", {"sourcedId": "cat-hw", "title": "Homework"}),
        "lineItems": frame(
            "lineItems",
            *(
                {
                    "sourcedId": f"li-{n}",
                    "title": f"Homework {n}",
                    "assignDate": "2026-09-01",
                    "dueDate": "2026-09-30",
                    "classSourcedId": "k1",
                    "categorySourcedId": "cat-hw",
                    "gradingPeriodSourcedId": "t1",
                    "resultValueMin": "0",
                    "resultValueMax": "10",
                }
                for n in (1, 2)
            ),
        ),
        "results": frame(
            "results",
            *(
                {
                    "sourcedId": f"res-{n}",
                    "lineItemSourcedId": f"li-{n}",
                    "studentSourcedId": "u-s1",
                    "scoreStatus": "fully graded",
                    "score": "8",
                    "scoreDate": "2026-10-01",
                }
                for n in (1, 2)
            ),
        ),
    }


def test_gradebook_files_with_their_references_are_valid(tmp_path):
    result = validate(tmp_path, with_gradebook(tiny_district()))

    assert result.issues.height == 0, result.issues


@pytest.mark.parametrize(
    ("name", "row", "column", "value", "rule", "severity"),
    [
        ("results", 0, "scoreStatus", "graded", "enum", "error"),
        ("results", 1, "scoreStatus", "Fully Graded", "enum.case", "warning"),
        ("results", 0, "scoreDate", None, "required", "error"),
        ("results", 1, "lineItemSourcedId", "li-9", "reference", "error"),
        ("results", 0, "studentSourcedId", "u-none", "reference", "error"),
        ("lineItems", 1, "categorySourcedId", "cat-none", "reference", "error"),
        ("lineItems", 0, "classSourcedId", "k9", "reference", "error"),
        ("lineItems", 0, "gradingPeriodSourcedId", "t9", "reference", "error"),
        ("lineItems", 1, "dueDate", "2026-09-31", "date", "error"),
        ("results", 1, "score", "A+", "number", "error"),
        ("results", 0, "score", "8,5", "number", "error"),
        ("lineItems", 0, "resultValueMin", "zero", "number", "error"),
        ("lineItems", 1, "resultValueMax", "10 points", "number", "error"),
        ("lineItems", 1, "resultValueMax", "-1", "range.order", "warning"),
    ],
)
def test_each_gradebook_rule_names_file_line_field(
    tmp_path, name, row, column, value, rule, severity
):
    frames = with_cell(with_gradebook(tiny_district()), name, row, column, value)

    assert (f"{name}.csv", row + 2, column, rule, severity) in found(validate(tmp_path, frames))


def test_a_score_or_range_that_is_no_number_is_an_error_naming_its_value(tmp_path):
    frames = with_cell(with_gradebook(tiny_district()), "results", 1, "score", "A+")
    frames = with_cell(frames, "lineItems", 0, "resultValueMax", "ten")
    issues = validate(tmp_path, frames).issues.filter(pl.col("rule") == "number")
    assert issues.select("file", "line", "field", "value", "severity", "message").rows() == [
        (
            "lineItems.csv",
            2,
            "resultValueMax",
            "ten",
            "error",
            "not a number (a decimal such as 8 or 8.5)",
        ),
        ("results.csv", 3, "score", "A+", "error", "not a number (a decimal such as 8 or 8.5)"),
    ]


def test_empty_scores_and_ranges_and_every_number_form_are_valid(tmp_path):
    frames = with_gradebook(tiny_district())
    for name, row, column, value in [
        ("results", 0, "score", None),  # an exempt result has no score
        ("results", 1, "score", "-0.5"),
        ("lineItems", 0, "resultValueMin", None),
        ("lineItems", 0, "resultValueMax", None),
        ("lineItems", 1, "resultValueMin", ".5"),
        ("lineItems", 1, "resultValueMax", "1.5e1"),
    ]:
        frames = with_cell(frames, name, row, column, value)
    result = validate(tmp_path, frames)
    assert result.issues.height == 0, result.issues


@pytest.mark.parametrize(
    ("name", "column", "value"),
    [
        ("results", "score", "A+"),
        ("lineItems", "resultValueMin", "zero"),
        ("lineItems", "resultValueMax", "NaN"),
        ("categories", "weight", "heavy"),
        ("resultLearningObjectiveIds", "score", "4/5"),
    ],
)
def test_a_12_gradebook_number_is_checked_too(tmp_path, name, column, value):
    gradebook = with_gradebook(tiny_district())
    renamed = {"gradingPeriodSourcedId": "academicSessionSourcedId"}
    frames = as_v12(tiny_district()) | {
        file: frame12(file, *(rows.rename(renamed, strict=False).to_dicts()))
        for file, rows in gradebook.items()
        if file in ("categories", "lineItems", "results")
    }
    frames["resultLearningObjectiveIds"] = frame12(
        "resultLearningObjectiveIds",
        {
            "sourcedId": "rlo-1",
            "resultSourcedId": "res-1",
            "source": "x",
            "learningObjectiveId": "o1",
        },
    )
    frames = with_cell(frames, name, 0, column, value)
    feed = open_feed(write_feed(tmp_path / "f12.zip", frames, version="1.2"))
    assert (f"{name}.csv", 2, column, "number", "error") in found(validate_feed(feed))


def test_a_gradebook_feed_alone_resolves_the_roster_against_the_warehouse(tmp_path):
    gradebook = {
        name: frame
        for name, frame in with_gradebook(tiny_district()).items()
        if name in ("categories", "lineItems", "results")
    }
    known = {
        "classes": pl.Series(["k1"]),
        "academicSessions": pl.Series(["t1"]),
        "users": pl.Series(["u-s1"]),
    }

    alone = validate(tmp_path, gradebook)
    resolved = validate(tmp_path, gradebook, name="again.zip", known=known)

    assert alone.ok and set(alone.issues["rule"]) == {"reference.unverified"}
    assert resolved.issues.height == 0, resolved.issues


# --- damaged exports, as a whole feed reports them (issue 30) --------------------------------


def validate_files(tmp_path, files, name="feed.zip"):
    return validate_feed(open_feed(write_zip(tmp_path / name, files)))


def every_issue(result) -> list[tuple]:
    return result.issues.select("file", "line", "field", "rule", "severity").rows()


def test_a_header_repeated_by_joining_two_exports_is_one_error_not_a_record(tmp_path):
    files = feed_files(tiny_district())
    header, *lines = files["users.csv"].split(b"\n")
    files["users.csv"] = b"\n".join([header, *lines[:2], header, *lines[2:]])
    result = validate_files(tmp_path, files)
    assert every_issue(result) == [("users.csv", 4, None, "header.repeated", "error")]
    assert result.tables["users"].height == tiny_district()["users"].height


@pytest.mark.parametrize(("separator", "shown"), [(b"\t", "\\t"), (b";", ";")])
def test_a_file_separated_otherwise_is_one_error_and_nothing_else(tmp_path, separator, shown):
    files = feed_files(tiny_district())
    files["classes.csv"] = files["classes.csv"].replace(b",", separator)
    result = validate_files(tmp_path, files)
    assert every_issue(result) == [("classes.csv", 1, None, "file.separator", "error")]
    assert result.issues["value"].to_list() == [shown]


def test_a_nul_in_a_name_is_an_error_naming_file_line_and_field(tmp_path):
    files = feed_files(tiny_district())
    name = tiny_district()["users"]["givenName"][2].encode()
    files["users.csv"] = files["users.csv"].replace(name, name[:1] + b"\x00" + name[1:], 1)
    result = validate_files(tmp_path, files)
    assert every_issue(result) == [("users.csv", 4, "givenName", "value.control", "error")]
    assert not result.ok


def test_classic_mac_line_endings_validate_clean_with_a_warning_per_file(tmp_path):
    files = feed_files(tiny_district())
    mac = {name: data.replace(b"\n", b"\r") for name, data in files.items()}
    result = validate_files(tmp_path, mac)
    assert result.ok
    assert set(every_issue(result)) == {
        (name, None, None, "file.line_endings", "warning") for name in files
    }
    plain = validate_files(tmp_path, files, "plain.zip")
    for name, rows in plain.tables.items():
        assert result.tables[name].equals(rows)


@pytest.mark.parametrize(
    ("file", "row", "column", "value", "shown"),
    [
        ("users", 1, "sourcedId", "\ufeffu-s1", "\\ufeffu-s1"),
        ("enrollments", 1, "userSourcedId", "\u200bu-s1", "\\u200bu-s1"),
        ("users", 3, "orgSourcedIds", "s1,\u2060s2", "s1,\\u2060s2"),
    ],
    ids=["byte-order mark in a sourcedId", "zero-width space in a reference", "in a list"],
)
def test_an_invisible_character_in_an_id_is_named_with_its_file_line_and_column(
    tmp_path, file, row, column, value, shown
):
    # on its own the character shows only as a reference error whose value looks right
    result = validate(tmp_path, with_cell(tiny_district(), file, row, column, value))
    invisible = result.issues.filter(pl.col("rule") == "id.invisible")
    assert invisible.select("file", "line", "field", "value", "severity").rows() == [
        (f"{file}.csv", row + 2, column, shown, "warning")
    ]
    character = shown.split(",")[-1][:6]
    assert character in invisible["message"][0]


def test_ids_without_invisible_characters_raise_no_such_issue(tmp_path):
    result = validate(tmp_path, with_cell(tiny_district(), "users", 1, "givenName", "Sam\u200b"))
    assert not result.issues.filter(pl.col("rule") == "id.invisible").height


def test_a_value_refused_with_spaces_around_it_says_so(tmp_path):
    """Quoted in a terminal, ` student` beside "must be one of: ... student" reads as the
    value it lists: the message names the spaces. A value refused for its letters does not."""
    frames = with_cell(tiny_district(), "users", 1, "role", " student")
    frames = with_cell(frames, "users", 2, "enabledUser", "ture")
    frames = with_cell(frames, "enrollments", 1, "beginDate", "2026-01-05 ")
    messages = {
        (issue["field"], issue["message"].endswith("(the value has spaces around it)"))
        for issue in validate(tmp_path, frames).issues.iter_rows(named=True)
    }
    assert messages == {("role", True), ("enabledUser", False), ("beginDate", True)}
