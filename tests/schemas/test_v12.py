"""Reading OneRoster 1.2 feeds: the 1.2 rules per row, and the 1.1-shaped tables they become."""

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.csvfile import LINE
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.records import ROW_HASH, row_hashes
from rosterflow.schemas.settings import parse_settings
from rosterflow.schemas.spec import FILE_SPECS, SYNCED_FILES
from rosterflow.schemas.v12 import users_as_v11
from rosterflow.schemas.validate import validate_feed
from rosterflow.schemas.writer import write_feed
from tests.feeds import feed_files, frame, tiny_district, with_cell, write_zip
from tests.feeds12 import as_v12, feed_files_12, frame12, write_feed_12

PUBLIC_FEED = Path(__file__).parents[1] / "data" / "oneroster12" / "longsight-bulk-graph" / "feed"


def issues_of(validated) -> set[tuple]:
    return set(validated.issues.select("file", "line", "field", "value", "rule").iter_rows())


def validated_12(tmp_path: Path, frames, modes=None):
    return validate_feed(open_feed(write_feed_12(tmp_path / "f12.zip", frames, modes)))


def with_row(frames, file: str, **row: str | None) -> dict[str, pl.DataFrame]:
    """`frames` with one more row in `file` (a 1.2 file)."""
    return dict(frames) | {file: pl.concat([frames[file], frame12(file, row)])}


def _roles(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    return frame12(
        "roles",
        *(
            {
                "sourcedId": f"r{i}",
                "userSourcedId": user,
                "roleType": kind,
                "role": role,
                "orgSourcedId": org,
            }
            for i, (user, kind, role, org) in enumerate(rows)
        ),
    ).with_columns(pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias(LINE))


def _users(*rows: tuple[str, str | None]) -> pl.DataFrame:
    return frame12(
        "users", *({"sourcedId": sid, "primaryOrgSourcedId": org} for sid, org in rows)
    ).with_columns(pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias(LINE))


@pytest.mark.parametrize(
    ("users", "roles", "expected"),
    [
        pytest.param(
            _users(("u1", "s1")),
            _roles(("u1", "primary", "teacher", "s1")),
            [("u1", "teacher", "s1", 2)],
            id="one role",
        ),
        pytest.param(
            _users(("u1", "s2"), ("u2", None)),
            _roles(
                ("u1", "secondary", "teacher", "s3"),
                ("u1", "primary", "principal", "s1"),
                ("u2", "primary", "counselor", "s1"),
                ("u2", "secondary", "aide", "s2"),
            ),
            # primaryOrgSourcedId first, then the primary role's org, then the others in order
            [("u1", "administrator", "s2,s1,s3", 2), ("u2", "administrator", "s1,s2", 3)],
            id="orgs ordered, 1.2 staff roles read as administrator",
        ),
        pytest.param(
            _users(("u1", "s2")),
            _roles(("u1", "primary", "aide", "s1"), ("u1", "primary", "teacher", "s2")),
            [("u1", "teacher", "s2,s1", 2)],
            id="of two primary roles, the one at the primary org",
        ),
        pytest.param(
            _users(("u1", None)),
            _roles(("u1", "primary", "guardian", "s2"), ("u1", "primary", "parent", "s1")),
            [("u1", "guardian", "s2,s1", 2)],
            id="else the first primary role in file order",
        ),
        pytest.param(
            _users(("u1", "s1")),
            _roles(("u1", "secondary", "teacher", "s1")),
            [("u1", None, "s1", 2)],
            id="no primary role: no role (an error, below)",
        ),
        pytest.param(
            _users(("u1", "s1")),
            _roles(("u1", "primary", "administrator", "s1")),
            [("u1", "administrator", "s1", 2)],
            id="the 1.1 word administrator, on a primary row, read as administrator",
        ),
    ],
)
def test_users_get_their_primary_role_and_orgs_as_in_1_1(users, roles, expected):
    got = users_as_v11(users, roles).select("sourcedId", "role", "orgSourcedIds", LINE)
    schema = {"sourcedId": pl.String, "role": pl.String, "orgSourcedIds": pl.String, LINE: pl.Int64}
    assert_frame_equal(got, pl.DataFrame(expected, schema=schema, orient="row"))


def _with_administrator(frames):
    admin = frame(
        "users",
        {
            "sourcedId": "u-a1",
            "enabledUser": "true",
            "orgSourcedIds": "d1,s1,s2",
            "role": "administrator",
            "username": "ida.admin",
            "givenName": "Ida",
            "familyName": "Admin",
        },
    )
    return dict(frames) | {"users": pl.concat([frames["users"], admin])}


def test_a_1_2_twin_validates_into_the_tables_and_hashes_of_its_1_1_feed(tmp_path):
    district = _with_administrator(tiny_district())
    v11 = validate_feed(open_feed(write_feed(tmp_path / "f11.zip", district)))
    v12 = validated_12(tmp_path, as_v12(district))
    assert v11.ok and v12.ok, v12.issues
    assert v12.feed.version == "1.2"
    assert_frame_equal(v12.issues, v11.issues)
    for name in SYNCED_FILES:
        if name not in v11.tables:
            continue
        assert_frame_equal(v12.tables[name], v11.tables[name])
        assert_frame_equal(
            row_hashes(name, v12.tables[name]).to_frame(),
            row_hashes(name, v11.tables[name]).to_frame(),
        )
    assert set(v12.tables) == set(v11.tables)


def test_the_1_2_twin_compares_with_stored_1_1_records_as_unchanged(tmp_path):
    district = tiny_district()
    v11 = validate_feed(open_feed(write_feed(tmp_path / "f11.zip", district)))
    stored = {
        name: v11.tables[name].select("sourcedId", row_hashes(name, v11.tables[name]))
        for name in ("users", "orgs", "enrollments")
    }
    v12 = validate_feed(
        open_feed(write_feed_12(tmp_path / "f12.zip", as_v12(district))), stored=stored
    )
    assert {name: change.count for name, change in v12.changes.items()} == dict.fromkeys(stored, 0)
    assert ROW_HASH in v12.tables["users"].columns


@pytest.mark.parametrize(
    ("file", "row", "expected"),
    [
        pytest.param(
            "roles",
            {"roleType": "main"},
            ("roles.csv", 2, "roleType", "main", "enum"),
            id="bad roleType",
        ),
        pytest.param(
            "roles",
            {"role": "headmaster"},
            ("roles.csv", 2, "role", "headmaster", "enum"),
            id="unknown role",
        ),
        pytest.param(
            "roles",
            {"userSourcedId": "u-nobody"},
            ("roles.csv", 2, "userSourcedId", "u-nobody", "reference"),
            id="roles.csv pointing at a missing user",
        ),
        pytest.param(
            "roles",
            {"orgSourcedId": "s9"},
            ("roles.csv", 2, "orgSourcedId", "s9", "reference"),
            id="roles.csv pointing at a missing org",
        ),
        pytest.param(
            "roles",
            {"role": "ext:mentor"},
            ("roles.csv", 2, "role", "ext:mentor", "role.extension"),
            id="an extension role as the primary one",
        ),
        pytest.param(
            "users",
            {"primaryOrgSourcedId": "s9"},
            ("users.csv", 2, "primaryOrgSourcedId", "s9", "reference"),
            id="users.csv primaryOrgSourcedId pointing at a missing org",
        ),
        pytest.param(
            "enrollments",
            {"role": "ext:observer"},
            ("enrollments.csv", 2, "role", "ext:observer", "enum.extension"),
            id="an extension enrollment role",
        ),
    ],
)
def test_1_2_row_errors_name_file_line_field_and_value(tmp_path, file, row, expected):
    frames = as_v12(tiny_district())
    changed = frames[file].with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit(value, pl.String))
        .otherwise(pl.col(column))
        .alias(column)
        for column, value in row.items()
    )
    validated = validated_12(tmp_path, frames | {file: changed})
    assert expected in issues_of(validated)
    errors = validated.issues.filter(pl.col("severity") == "error")
    assert errors.select("file", "line", "field", "value", "rule").row(0) == expected
    # a primary role that is not one leaves its user without (an error of its own, below)
    assert errors.filter(pl.col("rule") != "user.no_primary_role").height == 1, errors


def test_enumeration_errors_say_what_is_allowed(tmp_path):
    frames = as_v12(tiny_district())
    roles = frames["roles"].with_columns(pl.lit("headmaster").alias("role"))
    message = validated_12(tmp_path, frames | {"roles": roles}).issues.filter(
        pl.col("rule") == "enum"
    )["message"][0]
    assert "districtAdministrator" in message and "ext:<name>" in message


def test_a_user_without_a_primary_role_is_an_error_on_that_user(tmp_path):
    frames = as_v12(tiny_district())
    roles = frames["roles"].with_columns(
        pl.when(pl.col("userSourcedId") == "u-s1")
        .then(pl.lit("secondary"))
        .otherwise(pl.col("roleType"))
        .alias("roleType")
    )
    validated = validated_12(tmp_path, frames | {"roles": roles})
    errors = validated.issues.filter(pl.col("severity") == "error")
    assert errors.select("file", "line", "field", "value", "rule").rows() == [
        ("users.csv", 4, "sourcedId", "u-s1", "user.no_primary_role")
    ]


def test_1_2_values_read_with_a_warning_or_as_given(tmp_path):
    frames = as_v12(tiny_district())
    frames = with_row(
        frames,
        "roles",
        sourcedId="r-extra",
        userSourcedId="u-t1",
        roleType="Secondary",
        role="administrator",
        orgSourcedId="d1",
    )
    frames = with_row(
        frames, "orgs", sourcedId="x1", name="Region", type="ext:region", parentSourcedId="st"
    )
    validated = validated_12(tmp_path, frames)
    assert validated.ok, validated.issues
    found = issues_of(validated)
    line = frames["roles"].height + 1
    assert ("roles.csv", line, "roleType", "Secondary", "enum.case") in found
    assert ("roles.csv", line, "role", "administrator", "role.v11") in found
    assert not validated.issues.filter(pl.col("file") == "orgs.csv").height
    users = validated.tables["users"].filter(pl.col("sourcedId") == "u-t1")
    assert users.select("role", "orgSourcedIds").row(0) == ("teacher", "s1,d1")


def test_a_primary_role_in_the_1_1_word_administrator_is_read_as_administrator(tmp_path):
    frames = as_v12(tiny_district())
    roles = frames["roles"].with_columns(
        pl.when(pl.col("userSourcedId") == "u-t1")
        .then(pl.lit("administrator"))
        .otherwise(pl.col("role"))
        .alias("role")
    )
    validated = validated_12(tmp_path, frames | {"roles": roles})
    assert validated.ok, validated.issues
    assert ("roles.csv", 2, "role", "administrator", "role.v11") in issues_of(validated)
    users = validated.tables["users"].filter(pl.col("sourcedId") == "u-t1")
    assert users.select("role", "orgSourcedIds").row(0) == ("administrator", "s1")


@pytest.mark.parametrize("written", ["Administrator", "ADMINISTRATOR"])
def test_the_1_1_word_administrator_in_another_letter_case_is_read_with_warnings(tmp_path, written):
    # `administrator` is accepted beside the enumeration (`also`): its letter-case variants
    # are read as the other words' are, not refused as no role
    frames = as_v12(tiny_district())
    roles = frames["roles"].with_columns(
        pl.when(pl.col("userSourcedId") == "u-t1")
        .then(pl.lit(written))
        .otherwise(pl.col("role"))
        .alias("role")
    )
    validated = validated_12(tmp_path, frames | {"roles": roles})
    assert validated.ok, validated.issues
    found = issues_of(validated)
    assert ("roles.csv", 2, "role", written, "enum.case") in found
    assert ("roles.csv", 2, "role", "administrator", "role.v11") in found
    users = validated.tables["users"].filter(pl.col("sourcedId") == "u-t1")
    assert users["role"].to_list() == ["administrator"]


def test_several_primary_roles_warn_or_fail(tmp_path):
    frames = as_v12(tiny_district())
    frames = with_row(
        frames,
        "roles",
        sourcedId="r-other",
        userSourcedId="u-t1",
        roleType="primary",
        role="aide",
        orgSourcedId="s2",
    )
    frames = with_row(
        frames,
        "roles",
        sourcedId="r-twice",
        userSourcedId="u-t2",
        roleType="primary",
        role="teacher",
        orgSourcedId="s2",
    )
    found = issues_of(validated_12(tmp_path, frames))
    line = frames["roles"].height
    assert ("roles.csv", line, "role", "aide", "role.primary_ambiguous") in found
    assert ("roles.csv", line + 1, "roleType", "primary", "role.primary_duplicate") in found


def test_a_primary_org_where_the_user_holds_no_role_is_warned_of(tmp_path):
    """It is the user's domain all the same: a student placed in a school they have no role
    or class in, without a word (LongsightGroup's checker refuses it)."""
    frames = as_v12(tiny_district())  # (u-t1, on line 2, teaches at s1 alone)
    validated = validated_12(tmp_path, with_cell(frames, "users", 0, "primaryOrgSourcedId", "s2"))

    warned = [i for i in issues_of(validated) if i[-1] == "user.primary_org_unroled"]
    assert warned == [("users.csv", 2, "primaryOrgSourcedId", "s2", "user.primary_org_unroled")]
    (tmp_path / "as-is").mkdir()
    assert issues_of(validated_12(tmp_path / "as-is", frames)) == set()


@pytest.mark.parametrize("named_by", ["teacher", "student"])
def test_a_teacher_who_is_also_a_parent_is_told_they_get_no_observer_link(tmp_path, named_by):
    # one lms user has one role, and observer links go from parents, guardians and relatives:
    # the secondary parent role of a teacher links nobody, which must not pass in silence
    frames = as_v12(tiny_district())
    frames = with_row(
        frames,
        "roles",
        sourcedId="r-parent",
        userSourcedId="u-t1",
        roleType="secondary",
        role="parent",
        orgSourcedId="s1",
    )
    named = {"teacher": ("u-t1", "u-s2"), "student": ("u-s2", "u-t1")}[named_by]
    frames["users"] = frames["users"].with_columns(
        pl.when(pl.col("sourcedId") == named[0])
        .then(pl.lit(named[1]))
        .otherwise(pl.col("agentSourcedIds"))
        .alias("agentSourcedIds")
    )
    validated = validated_12(tmp_path, frames)
    assert validated.ok, validated.issues
    unlinked = validated.issues.filter(pl.col("rule") == "role.observer_unlinked")
    assert unlinked.select("file", "line", "field", "value", "severity").rows() == [
        ("roles.csv", frames["roles"].height + 1, "role", "parent", "warning")
    ]
    assert "u-t1 is read as teacher" in unlinked["message"][0]
    assert "(u-s2)" in unlinked["message"][0]


def test_a_parent_with_a_secondary_parent_role_raises_no_observer_warning(tmp_path):
    frames = with_row(
        as_v12(tiny_district()),
        "roles",
        sourcedId="r-parent",
        userSourcedId="u-p1",
        roleType="secondary",
        role="guardian",
        orgSourcedId="s2",
    )
    validated = validated_12(tmp_path, frames)
    assert not validated.issues.filter(pl.col("rule") == "role.observer_unlinked").height


def test_users_and_roles_must_share_a_mode(tmp_path):
    validated = validated_12(tmp_path, as_v12(tiny_district()), {"roles": "delta"})
    assert ("manifest.csv", None, "file.roles", "delta", "manifest.roles_mode") in {
        (f, None, fld, v, r) for f, _, fld, v, r in issues_of(validated)
    }
    assert not validated.ok


def test_a_role_of_a_user_a_delta_does_not_send_is_warned(tmp_path):
    frames = as_v12(tiny_district())
    users = frames["users"].filter(pl.col("sourcedId") != "u-t2")
    frames = frames | {"users": users.with_columns(pl.lit("active").alias("status"))}
    frames["roles"] = frames["roles"].with_columns(pl.lit("active").alias("status"))
    validated = validated_12(tmp_path, frames, {"users": "delta", "roles": "delta"})
    assert ("roles.csv", 3, "userSourcedId", "u-t2", "role.user_not_sent") in issues_of(validated)


def _users_delta_without_roles(district):
    """A 1.2 delta of users.csv sending u-t1 (renamed, now at s2 first) and a new user u-new,
    with a roles.csv delta that names neither of them."""
    frames = as_v12(district)
    new_user = frame12(
        "users",
        {
            "sourcedId": "u-new",
            "enabledUser": "true",
            "username": "new.user",
            "givenName": "New",
            "familyName": "User",
            "primaryOrgSourcedId": "s1",
        },
    )
    users = pl.concat(
        [
            frames["users"]
            .filter(pl.col("sourcedId") == "u-t1")
            .with_columns(givenName=pl.lit("Adah"), primaryOrgSourcedId=pl.lit("s2")),
            new_user,
        ]
    ).with_columns(status=pl.lit("active"), dateLastModified=pl.lit("2027-01-10T08:00:00Z"))
    return {"users": users, "roles": frames["roles"].head(0)}


def test_a_users_delta_without_a_users_roles_keeps_the_role_and_orgs_stored(tmp_path):
    # a delta changes what it sends: a user whose roles.csv rows it leaves out keeps the role
    # and orgs the warehouse holds (primaryOrgSourcedId first); a user the warehouse does not
    # hold has no role to keep
    district = tiny_district()
    district["users"] = with_cell(district, "users", 0, "orgSourcedIds", "s1,d1")["users"]
    stored_users = validate_feed(open_feed(write_feed(tmp_path / "f11.zip", district))).tables[
        "users"
    ]
    feed = open_feed(
        write_feed_12(
            tmp_path / "delta.zip",
            _users_delta_without_roles(district),
            {"users": "delta", "roles": "delta"},
        )
    )
    known = {"users": stored_users["sourcedId"], "orgs": pl.Series(["s1", "s2", "d1"])}
    validated = validate_feed(feed, known=known, carried={"users": stored_users})
    errors = validated.issues.filter(pl.col("severity") == "error")
    assert errors.select("file", "line", "field", "value", "rule").rows() == [
        ("users.csv", 3, "sourcedId", "u-new", "user.no_primary_role")
    ]
    users = validated.tables["users"].select("sourcedId", "givenName", "role", "orgSourcedIds")
    assert users.rows() == [("u-t1", "Adah", "teacher", "s2,s1,d1"), ("u-new", "New", None, "s1")]


def test_a_users_delta_with_roles_absent_reads_its_users_with_the_roles_stored(tmp_path):
    # roles.csv absent beside a users.csv delta says "no role changes": each user sent keeps
    # the role stored (the manifest rule that the two share a mode, in schemas.feed, refuses
    # such a feed as yet: the users are read all the same)
    district = tiny_district()
    stored_users = validate_feed(open_feed(write_feed(tmp_path / "f11.zip", district))).tables[
        "users"
    ]
    frames = {"users": _users_delta_without_roles(district)["users"]}
    feed = open_feed(
        write_feed_12(tmp_path / "delta.zip", frames, {"users": "delta", "roles": "absent"})
    )
    validated = validate_feed(
        feed, known={"users": stored_users["sourcedId"]}, carried={"users": stored_users}
    )
    users = validated.tables["users"].select("sourcedId", "role", "orgSourcedIds")
    assert users.rows() == [("u-t1", "teacher", "s2,s1"), ("u-new", None, "s1")]
    no_role = validated.issues.filter(pl.col("rule") == "user.no_primary_role")
    assert no_role["value"].to_list() == ["u-new"]


def test_a_users_delta_without_roles_checked_without_a_warehouse_is_a_warning(tmp_path):
    validated = validated_12(
        tmp_path,
        _users_delta_without_roles(tiny_district()),
        {"users": "delta", "roles": "delta"},
    )
    assert validated.ok, validated.issues
    unverified = validated.issues.filter(
        (pl.col("rule") == "reference.unverified") & (pl.col("field") == "sourcedId")
    )
    assert unverified.select("file", "line", "value", "severity").rows() == [
        ("users.csv", 2, "u-t1", "warning"),
        ("users.csv", 3, "u-new", "warning"),
    ]
    assert "--warehouse" in unverified["message"][0]


def test_a_users_delta_without_roles_is_refused_when_the_stored_role_is_not_given(tmp_path):
    # a run that knows the warehouse but was given no stored users cannot keep their roles:
    # it refuses the users rather than write them without one
    validated = validate_feed(
        open_feed(
            write_feed_12(
                tmp_path / "delta.zip",
                _users_delta_without_roles(tiny_district()),
                {"users": "delta", "roles": "delta"},
            )
        ),
        known={"users": pl.Series(["u-t1"])},
    )
    assert set(validated.issues.filter(pl.col("rule") == "user.no_primary_role")["value"]) == {
        "u-t1",
        "u-new",
    }


@pytest.mark.parametrize("warehouse", [False, True], ids=["without", "with a warehouse"])
def test_a_reference_into_an_absent_file_no_warehouse_keeps_says_it_is_not_checked(
    tmp_path, warehouse
):
    # userProfiles.csv is validated, never synced: a warehouse cannot resolve its records, so
    # a message sending the district to --warehouse, or saying the warehouse lacks the record,
    # would mislead
    frames = as_v12(tiny_district())
    frames["roles"] = frames["roles"].with_columns(
        pl.when(pl.col("userSourcedId") == "u-t1")
        .then(pl.lit("up-9"))
        .otherwise(pl.col("userProfileSourcedId"))
        .alias("userProfileSourcedId")
    )
    feed = open_feed(write_feed_12(tmp_path / "f12.zip", frames))
    validated = validate_feed(feed, known={} if warehouse else None)
    assert validated.ok, validated.issues
    found = validated.issues.filter(pl.col("field") == "userProfileSourcedId")
    assert found.select("file", "line", "value", "rule", "severity").rows() == [
        ("roles.csv", 2, "up-9", "reference.unverified", "warning")
    ]
    assert "no warehouse keeps the records of userProfiles.csv" in found["message"][0]
    assert "--warehouse" not in found["message"][0]


def test_the_2022_users_layout_with_resource_ids_is_read_with_a_warning(tmp_path):
    files = feed_files_12(as_v12(tiny_district()))
    header, *rows = files["users.csv"].decode().splitlines()
    columns = header.split(",")
    columns.insert(16, "resourceSourcedIds")
    rows = [",".join([*row.split(",")[:16], "", *row.split(",")[16:]]) for row in rows]
    files["users.csv"] = "\n".join([",".join(columns), *rows]).encode()
    validated = validate_feed(open_feed(write_zip(tmp_path / "legacy.zip", files)))
    assert validated.ok, validated.issues
    assert ("users.csv", 1, "resourceSourcedIds", "resourceSourcedIds", "header.legacy") in (
        issues_of(validated)
    )
    assert validated.tables["users"].height == 5


def _users_csv_with(files: dict[str, bytes], old: bytes, new: bytes) -> dict[str, bytes]:
    return files | {"users.csv": files["users.csv"].replace(old, new, 1)}


@pytest.mark.parametrize(
    ("files", "column", "hint"),
    [
        pytest.param(
            _users_csv_with(feed_files_12(as_v12(tiny_district())), b"pronouns", b"role"),
            "role",
            "in 1.2 a user's orgs and role are rows of roles.csv",
            id="a 1.1 column in a 1.2 users.csv",
        ),
        pytest.param(
            _users_csv_with(feed_files(tiny_district()), b"password", b"pronouns"),
            "pronouns",
            "a OneRoster 1.2 column",
            id="a 1.2 column in a 1.1 users.csv",
        ),
    ],
)
def test_a_column_of_the_other_version_is_named_as_such(tmp_path, files, column, hint):
    validated = validate_feed(open_feed(write_zip(tmp_path / "h.zip", files)))
    unknown = validated.issues.filter(pl.col("rule") == "header.unknown")
    assert unknown["field"].to_list() == [column]
    assert hint in unknown["message"][0]


def test_the_public_1_2_feed_validates():
    validated = validate_feed(open_feed(PUBLIC_FEED))
    assert validated.feed.version == "1.2"
    assert validated.ok, validated.issues
    users = validated.tables["users"].select("sourcedId", "role", "orgSourcedIds", LINE)
    assert users.rows() == [
        ("user-agent", "teacher", "org-1", 2),
        ("user-1", "teacher", "org-1", 3),
    ]
    assert set(validated.tables) == {
        "academicSessions",
        "orgs",
        "courses",
        "classes",
        "users",
        "enrollments",
        "demographics",
    }
    assert tuple(validated.tables["users"].columns) == (*FILE_SPECS["users"].header, LINE)


def test_settings_may_demand_a_file_of_1_2_only_of_1_2_feeds(tmp_path):
    strict = parse_settings({"validation": {"files": ["userProfiles", "enrollments"]}})
    demanded = ("manifest.csv", "file.userProfiles", "manifest.required_file")
    v12 = validate_feed(
        open_feed(write_feed_12(tmp_path / "a.zip", as_v12(tiny_district()))), strict
    )
    assert demanded in {(i["file"], i["field"], i["rule"]) for i in v12.issues.to_dicts()}
    v11 = validate_feed(open_feed(write_feed(tmp_path / "b.zip", tiny_district())), strict)
    assert v11.ok, v11.issues
