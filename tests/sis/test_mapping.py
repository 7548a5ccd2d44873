"""JSON records become the CSV files' rows as the bindings say (literal records in, rows out)."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.spec import SPECS_BY_VERSION
from rosterflow.schemas.validate import validate_feed
from rosterflow.schemas.writer import write_feed
from rosterflow.sis.mapping import csv_rows, left_out, record_schema
from rosterflow.sis.pages import decode_page


def rows(file: str, version: str, *records: dict) -> dict[str, pl.DataFrame]:
    body = json.dumps({file: list(records)}).encode()
    decoded = decode_page(body, (file,), record_schema(file, version), "test")
    return csv_rows(file, version, decoded)


def csv(file: str, version: str, *values: dict) -> pl.DataFrame:
    """Rows with the file's columns in spec order, the ones not given empty."""
    header = SPECS_BY_VERSION[version][file].header
    return pl.DataFrame(
        [{c: v.get(c) for c in header} for v in values], schema=dict.fromkeys(header, pl.String)
    )


def ref(sourced_id: str, kind: str = "org") -> dict:
    # href as servers send it: relative, or plainly wrong; the sourcedId is what counts
    return {"href": f"/wrong/{sourced_id}", "sourcedId": sourced_id, "type": kind}


CASES = [
    pytest.param(
        "users",
        "1.1",
        {
            "sourcedId": "u1",
            "status": "active",
            "dateLastModified": "2026-01-05T08:00:00Z",
            "username": "ada",
            "userIds": [{"type": "LDAP", "identifier": "12"}, {"type": "LTI", "identifier": "a:b"}],
            "enabledUser": True,
            "givenName": "Ada",
            "familyName": "Lovelace",
            "role": "student",
            "orgs": [ref("s1"), ref("s2")],
            "agents": [ref("p1", "user")],
            "grades": ["09"],
            "password": "hunter2",
            "metadata": {"extra": {"nested": 1}},
            "unknownField": 7,
        },
        {
            "sourcedId": "u1",
            "status": "active",
            "dateLastModified": "2026-01-05T08:00:00.000Z",
            "enabledUser": "true",
            "orgSourcedIds": "s1,s2",
            "role": "student",
            "username": "ada",
            "userIds": "{LDAP:12},{LTI:a:b}",
            "givenName": "Ada",
            "familyName": "Lovelace",
            "agentSourcedIds": "p1",
            "grades": "09",
        },
        id="1.1 user: references, userIds, a boolean, no password, unknown fields ignored",
    ),
    pytest.param(
        "classes",
        "1.1",
        {
            "sourcedId": "c1",
            "status": "tobedeleted",
            "dateLastModified": "2026-01-05T08:00:00.1234+01:00",
            "title": "Algebra",
            "classType": "scheduled",
            "course": ref("k1", "course"),
            "school": ref("s1"),
            "terms": [ref("t1", "academicSession"), ref("t2", "academicSession")],
            "subjects": ["math", "algebra"],
            "periods": [],
            "grades": "09",
        },
        {
            "sourcedId": "c1",
            "status": "tobedeleted",
            "dateLastModified": "2026-01-05T07:00:00.123Z",
            "title": "Algebra",
            "grades": "09",
            "courseSourcedId": "k1",
            "classType": "scheduled",
            "schoolSourcedId": "s1",
            "termSourcedIds": "t1,t2",
            "subjects": "math,algebra",
        },
        id="1.1 class: a removal, a timestamp in UTC, an empty list empty, a lone grade",
    ),
    pytest.param(
        "enrollments",
        "1.1",
        {
            "sourcedId": "e1",
            "user": ref("u1", "user"),
            "class": ref("c1", "class"),
            "school": ref("s1"),
            "role": "teacher",
            "primary": "true",
            "beginDate": "2025-08-15T00:00:00.000Z",
            "endDate": "2026-06-30",
        },
        {
            "sourcedId": "e1",
            "classSourcedId": "c1",
            "schoolSourcedId": "s1",
            "userSourcedId": "u1",
            "role": "teacher",
            "primary": "true",
            "beginDate": "2025-08-15",
            "endDate": "2026-06-30",
        },
        id="1.1 enrollment: a date sent as a timestamp keeps its date",
    ),
    pytest.param(
        "academicSessions",
        "1.2",
        {
            "sourcedId": "t1",
            "title": "Fall",
            "type": "term",
            "startDate": "2025-08-15",
            "endDate": "2025-12-20",
            "parent": ref("y1", "academicSession"),
            "schoolYear": 2026,
            "children": [ref("g1", "academicSession")],
        },
        {
            "sourcedId": "t1",
            "title": "Fall",
            "type": "term",
            "startDate": "2025-08-15",
            "endDate": "2025-12-20",
            "parentSourcedId": "y1",
            "schoolYear": "2026",
        },
        id="1.2 session: a year sent as a number",
    ),
]


@pytest.mark.parametrize(("file", "version", "record", "expected"), CASES)
def test_a_record_becomes_its_csv_row(file, version, record, expected):
    assert_frame_equal(rows(file, version, record)[file], csv(file, version, expected))


USER_12 = {
    "sourcedId": "u1",
    "status": "active",
    "dateLastModified": "2026-01-05T08:00:00.000Z",
    "userMasterIdentifier": "m-1",
    "username": "ada",
    "enabledUser": False,
    "givenName": "Ada",
    "familyName": "Lovelace",
    "preferredFirstName": "Addie",
    "preferredLastName": "King",
    "pronouns": "she/her",
    "primaryOrg": ref("s2"),
    "roles": [
        {"roleType": "primary", "role": "student", "org": ref("s2"), "beginDate": "2025-08-15"},
        {"roleType": "secondary", "role": "aide", "org": ref("s1"), "userProfile": "p1"},
    ],
    "userProfiles": [
        {
            "profileId": "p1",
            "profileType": "lms",
            "vendorId": "v",
            "credentials": [{"type": "password", "username": "ada1", "password": "hunter2"}],
        }
    ],
    "password": "hunter2",
}


def test_a_12_user_brings_its_roles_and_profiles_and_no_password():
    found = rows("users", "1.2", USER_12, {"sourcedId": "u2", "roles": []})
    common = {"status": "active", "dateLastModified": "2026-01-05T08:00:00.000Z"}
    assert_frame_equal(
        found["users"],
        csv(
            "users",
            "1.2",
            common
            | {
                "sourcedId": "u1",
                "enabledUser": "false",
                "username": "ada",
                "givenName": "Ada",
                "familyName": "Lovelace",
                "userMasterIdentifier": "m-1",
                "preferredGivenName": "Addie",
                "preferredFamilyName": "King",
                "primaryOrgSourcedId": "s2",
                "pronouns": "she/her",
            },
            {"sourcedId": "u2"},
        ),
    )
    assert_frame_equal(
        found["roles"],
        csv(
            "roles",
            "1.2",
            common
            | {
                "sourcedId": "u1.role.0",
                "userSourcedId": "u1",
                "roleType": "primary",
                "role": "student",
                "beginDate": "2025-08-15",
                "orgSourcedId": "s2",
            },
            common
            | {
                "sourcedId": "u1.role.1",
                "userSourcedId": "u1",
                "roleType": "secondary",
                "role": "aide",
                "orgSourcedId": "s1",
                "userProfileSourcedId": "p1",
            },
        ),
    )
    assert_frame_equal(
        found["userProfiles"],
        csv(
            "userProfiles",
            "1.2",
            common
            | {
                "sourcedId": "p1",
                "userSourcedId": "u1",
                "profileType": "lms",
                "vendorId": "v",
                "credentialType": "password",
                "username": "ada1",
            },
        ),
    )
    assert "hunter2" not in str([frame.to_dicts() for frame in found.values()])


def test_a_12_profile_without_a_credential_is_left_out_and_counted():
    # the JSON binding's credentials are 0..*; a userProfiles.csv row is a profile and one
    # credential, credentialType and username required: the CSV cannot carry the profile
    user = USER_12 | {
        "roles": [
            {"roleType": "primary", "role": "student", "org": ref("s2"), "userProfile": "p0"},
            {"roleType": "secondary", "role": "aide", "org": ref("s1"), "userProfile": "p1"},
        ],
        "userProfiles": [
            {"profileId": "p0", "profileType": "lms", "vendorId": "v", "credentials": []},
            {"profileId": "p2", "profileType": "sso", "vendorId": "w"},
            *USER_12["userProfiles"],
        ],
    }
    records = decode_page(
        json.dumps({"users": [user]}).encode(), ("users",), record_schema("users", "1.2"), "t"
    )
    found = csv_rows("users", "1.2", records)
    assert found["userProfiles"]["sourcedId"].to_list() == ["p1"]
    assert found["userProfiles"]["credentialType"].to_list() == ["password"]
    # the role naming the profile left out names none; the other keeps its profile
    assert found["roles"]["userProfileSourcedId"].to_list() == [None, "p1"]
    assert left_out("users", "1.2", records) == {"userProfiles": 2}
    assert left_out("users", "1.2", records.head(0)) == {}
    assert left_out("users", "1.1", records.head(0)) == {}


def test_a_12_pull_with_a_profile_without_a_credential_validates(tmp_path):
    user = USER_12 | {
        "userProfiles": [
            {"profileId": "p1", "profileType": "lms", "vendorId": "v", "credentials": []},
            {"profileId": "p2", "profileType": "sso", "vendorId": "w", "credentials": []},
            {
                "profileId": "p3",
                "profileType": "lms",
                "vendorId": "v",
                "credentials": [{"type": "password", "username": "ada3"}],
            },
        ]
    }
    other = USER_12 | {"sourcedId": "u2", "username": "bea", "userProfiles": []}
    frames = rows("users", "1.2", user, other)
    issues = validate_feed(open_feed(write_feed(tmp_path / "f", frames, version="1.2"))).issues
    assert issues.filter(pl.col("severity") == "error").is_empty(), issues


def test_a_12_roster_whose_profiles_have_no_credential_has_no_profiles_file():
    user = USER_12 | {"userProfiles": [{"profileId": "p1", "profileType": "lms", "vendorId": "v"}]}
    found = rows("users", "1.2", user)
    assert "userProfiles" not in found
    assert found["roles"]["userProfileSourcedId"].to_list() == [None, None]


def test_an_empty_page_is_an_empty_file_with_every_column():
    found = rows("orgs", "1.1")["orgs"]
    assert found.height == 0 and found.columns == list(SPECS_BY_VERSION["1.1"]["orgs"].header)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>oops</html>", "not a OneRoster JSON list"),
        (b'{"data": []}', "no list under orgs or schools"),
        (b'{"orgs": [{"name": "x"}]}', "a record without a sourcedId"),
        (b'{"orgs": {"sourcedId": "o1"}}', "not a OneRoster JSON list"),
    ],
)
def test_a_body_that_is_no_oneroster_list_is_refused(body, message):
    from rosterflow.sis.errors import SisError

    with pytest.raises(SisError, match=message):
        decode_page(body, ("orgs", "schools"), record_schema("orgs", "1.1"), "http://sis/orgs")


def test_the_list_may_come_under_another_key():
    body = io.BytesIO(json.dumps({"schools": [{"sourcedId": "s1", "name": "North"}]}).encode())
    found = decode_page(body.read(), ("orgs", "schools"), record_schema("orgs", "1.1"), "u")
    assert found["sourcedId"].to_list() == ["s1"] and found["name"].to_list() == ["North"]


@pytest.mark.parametrize(
    ("file", "version", "record", "message"),
    [
        (
            "orgs",
            "1.1",
            {"parent": "o0"},
            'a record\'s parent holds "o0", where the OneRoster JSON binding has {"sourcedId": …}',
        ),
        (
            "classes",
            "1.1",
            {"terms": {"sourcedId": "t1"}},
            "a record's terms holds an object, where the OneRoster JSON binding has "
            '[{"sourcedId": …}, …]',
        ),
        (
            "enrollments",
            "1.1",
            {"user": 17},
            "a record's user holds a number, where the OneRoster JSON binding has "
            '{"sourcedId": …}',
        ),
        (
            "users",
            "1.1",
            {"givenName": ["Ana"]},
            "a record's givenName holds a list, where the OneRoster JSON binding has text",
        ),
        (
            "users",
            "1.2",
            {"roles": [{"roleType": "primary", "role": "student", "org": "org-1"}]},
            'a record\'s roles[].org holds "org-1", where the OneRoster JSON binding has '
            '{"sourcedId": …}',
        ),
        (
            "users",
            "1.2",
            {"userProfiles": [{"profileId": "p1", "credentials": [{"username": ["a"]}]}]},
            "a record's userProfiles[].credentials[].username holds a list, where the "
            "OneRoster JSON binding has text",
        ),
    ],
)
def test_a_field_of_another_shape_is_named_with_what_it_holds(file, version, record, message):
    """A field the server sends in another shape than the JSON binding's (a plain sourcedId
    where a reference goes) was refused as 'not a OneRoster JSON list (error deserializing
    value "String("o0")" as struct.)', naming no field."""
    from rosterflow.sis.errors import SisError

    body = json.dumps({file: [{"sourcedId": "r1"}, {"sourcedId": "r2"} | record]}).encode()
    with pytest.raises(SisError) as refused:
        decode_page(body, (file,), record_schema(file, version), "http://sis/x")
    assert str(refused.value) == f"http://sis/x: {message}"


@pytest.mark.parametrize(
    ("sent", "written"),
    [
        ("2026-01-05T08:00:00.000Z", "2026-01-05T08:00:00.000Z"),
        ("2026-01-05T09:30:00.1234567+01:30", "2026-01-05T08:00:00.123Z"),
        ("2026-01-05", "2026-01-05T00:00:00.000Z"),
        # the forms validation accepts with a warning were kept as sent: a warning a record
        ("2026-01-05 08:00:00", "2026-01-05T08:00:00.000Z"),
        ("2026-01-05T08:00Z", "2026-01-05T08:00:00.000Z"),
        ("2026-01-05 03:00-05:00", "2026-01-05T08:00:00.000Z"),
        ("2026-01-05T08:00:00,5Z", "2026-01-05T08:00:00.500Z"),
        # what is no date-time is kept, for validation to name
        ("soon", "soon"),
        ("2026-02-30T08:00:00Z", "2026-02-30T08:00:00Z"),
    ],
)
def test_date_last_modified_is_written_as_the_csv_binding_has_it(sent, written):
    found = rows("orgs", "1.1", {"sourcedId": "o1", "dateLastModified": sent})["orgs"]
    assert found["dateLastModified"].to_list() == [written]


@pytest.mark.parametrize(
    ("sent", "written"),
    [
        ("2026-08-15", "2026-08-15"),
        ("2026-08-15T00:00:00.000Z", "2026-08-15"),
        ("2026-08-15T00:00:00-07:00", "2026-08-15"),
        # a space for the T was kept whole, and validation refused it as no date (the run)
        ("2026-08-15 00:00:00", "2026-08-15"),
        ("15/08/2026", "15/08/2026"),  # kept, for validation to name
    ],
)
def test_a_date_sent_as_a_timestamp_keeps_its_date(sent, written):
    found = rows("enrollments", "1.1", {"sourcedId": "e1", "beginDate": sent})["enrollments"]
    assert found["beginDate"].to_list() == [written]
