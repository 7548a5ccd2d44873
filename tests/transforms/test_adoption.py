"""Adopting the accounts a platform already has (`transforms.adoption`), on literal frames.

A new record is a desired user not yet in lms (`external_id, role, username, email, login`);
an account is an lms user of the tenant (`user_id, external_id, role, username, ...`), made by
hand unless its external ID is a managed one.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.schemas.csvfile import LINE
from rosterflow.schemas.issues import ISSUE_SCHEMA
from rosterflow.schemas.settings import Identity
from rosterflow.transforms.adoption import (
    LINES_SCHEMA,
    MATCH_SCHEMA,
    adoptions,
    as_adopted,
    comparable,
    new_users,
    sent_lines,
    with_adoption_detail,
)

RECORD = {
    "external_id": pl.String,
    "role": pl.String,
    "username": pl.String,
    "email": pl.String,
    "login": pl.String,
}
ACCOUNT = {"user_id": pl.Int64} | RECORD


def records(*rows: tuple) -> pl.DataFrame:
    """(external_id, role, username, email, login) rows."""
    return pl.DataFrame(rows, schema=RECORD, orient="row")


def accounts(*rows: tuple) -> pl.DataFrame:
    """(user_id, external_id, role, username, email, login) rows."""
    return pl.DataFrame(rows, schema=ACCOUNT, orient="row")


def matches(*rows: tuple) -> pl.DataFrame:
    """(user_id, external_id, external_id_before) rows."""
    return pl.DataFrame(rows, schema=MATCH_SCHEMA, orient="row")


def by(field: str, **options) -> Identity:
    return Identity(adopt_by=field, **options)


STUDENT = ("or--s1", "student", "ada.l", "ada@school.org", "s1")


def test_one_account_in_another_letter_case_and_with_spaces_is_adopted():
    found = adoptions(
        records(STUDENT),
        accounts(
            (7, None, "Student", " Ada.L ", "ada@home.org", "x"),
            (8, "hand-2", "student", "grace.h", "grace@school.org", "y"),
        ),
        by("username"),
    )

    assert_frame_equal(found.matches, matches((7, "or--s1", None)))
    assert found.issues.is_empty()
    assert found.tenant_users == 2


@pytest.mark.parametrize(
    ("sis", "by_hand"),
    [
        ("jos\u00e9.garc\u00eda", "JOSE\u0301.GARCI\u0301A"),  # composed é, decomposed É
        ("JOSE\u0301", "jos\u00e9"),  # and the other way round
        ("stra\u00dfe", "STRASSE"),  # ß in capitals
        ("\u1e9eIMON", "ssimon"),  # capital sharp s
    ],
    ids=["nfd-account", "nfd-record", "sharp-s", "capital-sharp-s"],
)
def test_the_same_name_in_other_code_points_is_adopted(sis, by_hand):
    found = adoptions(
        records(("or--s1", "student", sis, None, None)),
        accounts((7, None, "student", by_hand, None, None)),
        by("username"),
    )

    assert_frame_equal(found.matches, matches((7, "or--s1", None)))
    assert found.issues.is_empty()


def test_turkish_dotless_and_dotted_i_are_other_letters():
    # no locale-free folding makes ı (dotless) an i, nor İ (dotted capital) an I: a Turkish
    # name and an English one stay apart, and the record is created anew
    new = records(
        ("or--s1", "student", "KADIR", None, None), ("or--s2", "student", "\u0130pek", None, None)
    )
    found = adoptions(
        new,
        accounts(
            (7, None, "student", "kad\u0131r", None, None), (8, None, "student", "ipek", None, None)
        ),
        by("username"),
    )

    assert found.matches.is_empty() and found.issues.is_empty()


def test_the_compared_value_is_trimmed_lowered_composed_and_empty_is_none():
    values = pl.DataFrame({"username": [" Ada\u00a0", "JOSE\u0301", "Stra\u00dfe", " ", None]})

    assert_frame_equal(
        values.select(comparable("username")),
        pl.DataFrame({"username": ["ada", "jos\u00e9", "strasse", None, None]}),
    )


@pytest.mark.parametrize(
    ("field", "account"),
    [
        ("email", (7, "hand-1", "student", "someone", "ADA@school.org ", "x")),
        ("login", (7, "hand-1", "student", "someone", "other@x", "S1")),
    ],
)
def test_adopt_by_compares_the_field_it_names(field, account):
    found = adoptions(records(STUDENT), accounts(account), by(field))

    assert_frame_equal(found.matches, matches((7, "or--s1", "hand-1")))


def test_two_accounts_for_one_record_adopt_nobody_and_are_named():
    found = adoptions(
        records(STUDENT),
        accounts(
            (7, None, "student", "ada.l", None, None),
            (9, "hand-9", "student", "ADA.L", None, None),
        ),
        by("username"),
    )

    assert found.matches.is_empty()
    (issue,) = found.issues.to_dicts()
    assert issue["rule"] == "identity.adopt_ambiguous" and issue["severity"] == "warning"
    assert (issue["file"], issue["field"], issue["value"]) == ("users.csv", "username", "ada.l")
    assert "or--s1" in issue["message"] and "several accounts match" in issue["message"]
    assert (
        "user 7 (made by hand)" in issue["message"] and "user 9 (made by hand)" in issue["message"]
    )
    assert "created anew" in issue["message"]


def test_one_account_for_two_records_adopts_nobody():
    found = adoptions(
        records(STUDENT, ("or--s2", "student", "bob", "ada@school.org", "s2")),
        accounts((7, None, "student", "x", "Ada@School.org", None)),
        by("email"),
    )

    assert found.matches.is_empty()
    assert found.issues["rule"].to_list() == ["identity.adopt_ambiguous"] * 2
    # each names the account, and the other record that matches it
    assert found.issues["message"].to_list() == [
        "or--s1 adopts no account: an account that matches matches other records too "
        "(user 7 (made by hand)); other records matching: or--s2; it is created anew",
        "or--s2 adopts no account: an account that matches matches other records too "
        "(user 7 (made by hand)); other records matching: or--s1; it is created anew",
    ]


def test_an_account_synced_already_among_the_matches_adopts_nobody():
    found = adoptions(
        records(STUDENT),
        accounts(
            (7, None, "student", "ada.l", None, None),
            (3, "or--s9", "student", "Ada.L", None, None),
        ),
        by("username"),
    )

    assert found.matches.is_empty()
    (message,) = found.issues["message"]
    assert "synced already" in message and "user 3 (synced as or--s9)" in message


def test_an_account_of_another_role_is_adopted_only_when_the_setting_allows():
    teacher_account = accounts((7, None, "teacher", "ada.l", None, None))

    refused = adoptions(records(STUDENT), teacher_account, by("username"))
    allowed = adoptions(records(STUDENT), teacher_account, by("username", adopt_across_roles=True))

    assert refused.matches.is_empty()
    (issue,) = refused.issues.to_dicts()
    assert issue["rule"] == "identity.adopt_role_conflict"
    assert "user 7 (made by hand) is a teacher" in issue["message"]
    assert_frame_equal(allowed.matches, matches((7, "or--s1", None)))
    assert allowed.issues.is_empty()


def test_an_account_of_the_same_role_typed_otherwise_is_adopted():
    typed_by_hand = accounts((7, None, " Student ", "ada.l", None, None))

    found = adoptions(records(STUDENT), typed_by_hand, by("username"))

    assert_frame_equal(found.matches, matches((7, "or--s1", None)))
    assert found.issues.is_empty()


def test_an_account_of_no_role_is_a_role_conflict_named_as_such():
    no_role = accounts((7, None, None, "ada.l", None, None))

    refused = adoptions(records(STUDENT), no_role, by("username"))
    allowed = adoptions(records(STUDENT), no_role, by("username", adopt_across_roles=True))

    assert refused.matches.is_empty()
    (issue,) = refused.issues.to_dicts()
    assert issue["rule"] == "identity.adopt_role_conflict"
    assert issue["message"] == (
        "or--s1 (student) adopts no account: user 7 (made by hand) has no role; it is created "
        "anew ([identity] adopt_across_roles = true adopts it)"
    )
    assert_frame_equal(allowed.matches, matches((7, "or--s1", None)))


def test_none_adopts_nobody_and_empty_values_match_nothing():
    same = accounts((7, None, "student", "ada.l", "", None))

    assert adoptions(records(STUDENT), same, by("none")).matches.is_empty()
    blank = records(("or--s1", "student", "  ", "", None))
    found = adoptions(blank, accounts((7, None, "student", " ", "", None)), by("username"))
    assert found.matches.is_empty() and found.issues.is_empty()


def lines(*rows: tuple) -> pl.DataFrame:
    """(external_id, line) rows."""
    return pl.DataFrame(rows, schema=LINES_SCHEMA, orient="row")


def test_each_issue_stands_on_its_record_s_line():
    new = records(
        STUDENT,  # two accounts
        ("or--s2", "student", "bob", None, None),  # one account, bob's and cy's
        ("or--s3", "student", "Bob", None, None),
        ("or--s4", "student", "dee", None, None),  # a synced account among those that match
        ("or--s5", "student", "eve", None, None),  # one account, a teacher's
        ("or--s6", "student", "fay", None, None),  # two accounts, and on no line given
    )
    tenant = accounts(
        (7, None, "student", "ada.l", None, None),
        (8, None, "student", "ADA.L", None, None),
        (9, "hand-9", "student", "bob", None, None),
        (10, "or--t1", "teacher", "dee", None, None),
        (11, None, "student", "dee", None, None),
        (12, None, "teacher", "eve", None, None),
        (13, None, "student", "fay", None, None),
        (14, None, "student", "fay", None, None),
    )
    sent = lines(("or--s1", 12), ("or--s2", 3), ("or--s3", 40), ("or--s4", 7), ("or--s5", 2))

    found = adoptions(new, tenant, by("username"), sent)

    assert found.matches.is_empty()
    assert_frame_equal(
        found.issues.select("file", "line", "field", "value", "rule").sort("line"),
        pl.DataFrame(
            [
                ("users.csv", None, "username", "fay", "identity.adopt_ambiguous"),
                ("users.csv", 2, "username", "eve", "identity.adopt_role_conflict"),
                ("users.csv", 3, "username", "bob", "identity.adopt_ambiguous"),
                ("users.csv", 7, "username", "dee", "identity.adopt_ambiguous"),
                ("users.csv", 12, "username", "ada.l", "identity.adopt_ambiguous"),
                ("users.csv", 40, "username", "Bob", "identity.adopt_ambiguous"),
            ],
            schema={
                name: ISSUE_SCHEMA[name] for name in ("file", "line", "field", "value", "rule")
            },
            orient="row",
        ),
    )
    # without lines, on none
    assert adoptions(new, tenant, by("username")).issues["line"].null_count() == 6


def test_the_lines_sent_are_those_of_the_users_file_the_run_received():
    users = pl.DataFrame({LINE: [2, 4], "sourcedId": ["u-1", "u-3"]})  # the file's rows

    assert_frame_equal(sent_lines(users).collect(), lines(("or--u-1", 2), ("or--u-3", 4)))
    assert sent_lines(None).collect().is_empty()  # no users.csv in the feed


def test_new_users_are_the_desired_users_no_lms_row_has_yet():
    desired = records(STUDENT, ("or--s2", "student", "bob", None, "s2")).lazy()
    current = accounts((1, "or--s2", "student", "bob", None, "s2")).lazy()

    assert new_users(desired, current).collect()["external_id"].to_list() == ["or--s1"]


def test_an_adopted_account_is_planned_under_the_external_id_it_takes():
    current = accounts(
        (7, None, "student", "ada.l", None, None), (8, "hand-8", "teacher", "x", None, None)
    )

    adopted = as_adopted(current, matches((7, "or--s1", None)))

    assert adopted["external_id"].to_list() == ["or--s1", "hand-8"]
    assert adopted.columns == current.columns


def test_the_detail_of_an_adoption_names_the_external_id_before():
    changes = pl.DataFrame(
        {
            "user_id": [7, 8, 9],
            "action": ["adopt", "adopt", "update"],
            "detail": [
                '{"email":{"from":null,"to":"a@x"}}',
                "{}",
                '{"role":{"from":"a","to":"b"}}',
            ],
        }
    )

    found = with_adoption_detail(changes, matches((7, "or--s1", "hand-7"), (9, "or--s9", None)))

    assert found["detail"].to_list() == [
        '{"external_id":{"from":"hand-7","to":"or--s1"},"email":{"from":null,"to":"a@x"}}',
        "{}",  # adopted by its external ID set by hand: its detail as planned
        '{"role":{"from":"a","to":"b"}}',  # not an adoption
    ]


# --- the property: a one-to-one match, nothing else ------------------------------------------

NAMES = st.sampled_from(["ada", "Ada ", "bob", " BOB", "cy", "dee"])
ROLES = st.sampled_from(["student", "teacher", " Teacher"])


def role(column: str) -> pl.Expr:
    """A role as a person reads it: ` Teacher` is the teacher role."""
    return pl.col(column).str.strip_chars().str.to_lowercase()


@settings(max_examples=200, deadline=None)
@given(
    new=st.lists(st.tuples(NAMES, ROLES), max_size=5),
    tenant=st.lists(st.tuples(NAMES, ROLES, st.booleans()), max_size=6),
    across=st.booleans(),
)
def test_every_adoption_is_one_account_for_one_record_and_nothing_ambiguous(new, tenant, across):
    new_records = records(
        *((f"or--n{i}", role, name, None, None) for i, (name, role) in enumerate(new))
    )
    tenant_accounts = accounts(
        *(
            (i, f"or--m{i}" if synced else None, role, name, None, None)
            for i, (name, role, synced) in enumerate(tenant)
        )
    )

    found = adoptions(new_records, tenant_accounts, by("username", adopt_across_roles=across))

    key = comparable("username")
    pairs = new_records.with_columns(key.alias("key")).join(
        tenant_accounts.with_columns(key.alias("key")), on="key", suffix="_account"
    )
    # an adoption is a record and an account, each in no other pair, the account made by hand
    # and (unless allowed) of the same role; every such pair is adopted
    sole = pairs.filter(
        (pl.len().over("external_id") == 1)
        & (pl.len().over("user_id") == 1)
        & pl.col("external_id_account").is_null()
        & (pl.lit(across) | (role("role") == role("role_account")))
    )
    assert sorted(found.matches.select("user_id", "external_id").rows()) == sorted(
        sole.select("user_id", "external_id").rows()
    )
    assert found.matches["user_id"].is_unique().all()
    assert found.matches["external_id"].is_unique().all()
    # every record that matched an account and adopted none is reported, once
    refused = set(pairs["external_id"]) - set(found.matches["external_id"])
    reported = found.issues["message"].str.extract(r"^(\S+)").to_list()
    assert sorted(reported) == sorted(refused)
