"""QA of reading OneRoster 1.2 deltas night after night: a district that leaves
primaryOrgSourcedId empty (1.2 does not require it) and sends one of a user's several primary
roles alone keeps the user's role and domain as stored, as its next bulk file reads them."""

from __future__ import annotations

import polars as pl
import pytest

from tests.schemas.test_v12_qa import roles, validated_delta


def read_user(result) -> tuple:
    return result.tables["users"].select("role", "orgSourcedIds").row(0)


def role_warnings(result) -> list[tuple]:
    return (
        result.issues.filter(pl.col("rule") == "role.primary_ambiguous")
        .select("file", "line", "field", "value", "message")
        .rows()
    )


def test_without_a_primary_org_a_delta_of_the_second_primary_role_keeps_role_and_domain(
    tmp_path,
):
    # the SIS moves the aide role's beginDate and sends that row with its user alone: the
    # teacher role at s1, the user's domain, did not change and stays the user's role
    result = validated_delta(tmp_path, roles(("r-aide", "active", "primary", "aide", "s2")))
    assert result.ok, result.issues
    # the domain stays first: an aide's org first would move the user to s2's domain
    assert read_user(result) == ("teacher", "s1,s2")
    assert role_warnings(result) == [
        (
            "roles.csv",
            2,
            "role",
            "aide",
            "user u-t1 keeps the role stored, teacher: this delta sends their primary role at "
            "org s2 but not the one at org s1, their domain as stored (users.csv gives no "
            "primaryOrgSourcedId), which stays their role; to change it, send that roles.csv "
            "row (or mark it tobedeleted), or give the user's primaryOrgSourcedId (the org "
            "whose role decides)",
        )
    ]


@pytest.mark.parametrize(
    ("role_rows", "primary_org", "read"),
    [
        pytest.param(
            roles(
                ("r-teach", "tobedeleted", "primary", "teacher", "s1"),
                ("r-aide", "active", "primary", "aide", "s2"),
            ),
            None,
            ("aide", "s2"),
            id="the primary role at the stored domain ended",
        ),
        pytest.param(
            roles(("r-teach", "active", "primary", "aide", "s1")),
            None,
            ("aide", "s1"),
            id="the primary role at the stored domain sent",
        ),
        pytest.param(
            roles(("r-aide", "active", "primary", "aide", "s2")),
            "s2",
            ("aide", "s2"),
            id="a new primary org",
        ),
    ],
)
def test_a_delta_naming_the_role_that_decides_changes_it(tmp_path, role_rows, primary_org, read):
    result = validated_delta(tmp_path, role_rows, primary_org)
    assert result.ok, result.issues
    assert read_user(result) == read
    assert role_warnings(result) == []


def test_a_delta_sending_every_primary_role_reads_them_as_a_bulk_file_does(tmp_path):
    # as a REST pull sends a user: all of their roles, the aide role first; without a
    # primaryOrgSourcedId the first in file order is the user's, as in a bulk file
    result = validated_delta(
        tmp_path,
        roles(
            ("r-aide", "active", "primary", "aide", "s2"),
            ("r-teach", "active", "primary", "teacher", "s1"),
        ),
    )
    assert result.ok, result.issues
    assert read_user(result) == ("aide", "s2,s1")
    # the teacher role not taken is warned of as in a bulk file; the user keeps no role stored
    assert [(line, value) for _, line, _, value, _ in role_warnings(result)] == [(3, "teacher")]
    assert not result.issues["message"].str.contains("keeps the role stored").any()
