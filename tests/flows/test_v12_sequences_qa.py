"""QA of OneRoster 1.2 and delta feeds in sequence on one warehouse: bulk files, deltas of a few
records (a field changed, a primary role moved to another school, a secondary role added, a
primaryOrgSourcedId unset and set, a record marked tobedeleted, one the warehouse never had),
the same feed again, a bulk file after deltas, 1.1 then 1.2 of the same district and back.

Each run is planned as a resync plans it and, on a copy, with `--full` (`synced_as_in_full`:
issues, plan, lms, history, audit, the stored records and the derived state equal), and each
changes what the district expects: a delta what it sends, a bulk file of what the deltas made
nothing. A seeded random search of such sequences (each run also through the pipeline, with
recall, and `validate --warehouse`) found none apart from `--full`; these four are kept for
the dependencies they reach: the 1.2 reading of a delta user (roles kept, moved, a second
primary held), a bulk file's first run after a switch, teacher order across deltas."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district, with_cell
from tests.feeds12 import as_v12, frame12
from tests.flows.test_pipeline_incremental import run_once, synced_as_in_full
from tests.syncing import Warehouse

pytestmark = pytest.mark.slow

STAMP = "2027-01-10T08:00:00.000Z"


def sent(frame: pl.DataFrame, sourced_id: str, status: str = "active", **values) -> pl.DataFrame:
    """The row of `sourced_id` as a delta sends it: stamped, with `values` changed."""
    return frame.filter(pl.col("sourcedId") == sourced_id).with_columns(
        status=pl.lit(status),
        dateLastModified=pl.lit(STAMP),
        **{column: pl.lit(value, pl.String) for column, value in values.items()},
    )


def role(sourced_id: str, user: str, role_type: str, role_: str, org: str, status="active"):
    return frame12(
        "roles",
        {
            "sourcedId": sourced_id,
            "status": status,
            "dateLastModified": STAMP,
            "userSourcedId": user,
            "roleType": role_type,
            "role": role_,
            "orgSourcedId": org,
        },
    )


def delta12(users: pl.DataFrame, *roles: pl.DataFrame, **others: pl.DataFrame):
    """A 1.2 feed of users.csv and roles.csv deltas (and `others`, deltas too)."""
    roles_sent = pl.concat([frame12("roles"), *roles])
    frames = {"users": users, "roles": roles_sent} | others
    return frames, dict.fromkeys(frames, "delta"), "1.2"


def bulk(frames, version="1.1"):
    return frames, None, version


class Sequence:
    """One warehouse, synced feed by feed; every run held to the same run with `--full`."""

    def __init__(self, folder: Path, frames, version: str) -> None:
        self.folder, self.runs = folder, 0
        self.warehouse = Warehouse(folder)
        self.oracle = folder / "oracle.duckdb"
        feed = write_feed(folder / "feed-0.zip", frames, version=version)
        run_once(self.warehouse.path, feed, Settings(), full=False)

    def send(self, frames, modes, version) -> tuple[set, pl.DataFrame]:
        """The run's changes (entity, external_id, action) and issues."""
        self.runs += 1
        feed = write_feed(
            self.folder / f"feed-{self.runs}.zip", frames, modes=modes, version=version
        )
        ours, _ = synced_as_in_full(self.warehouse.path, self.oracle, feed)
        assert ours.ok, ours.issues.filter(pl.col("severity") == "error").to_dicts()
        last = self.warehouse.query("select max(run_id) from audit.sync_runs").item()
        return self.warehouse.actions(last), ours.issues

    def user(self, external_id: str) -> tuple[str, str, str, str]:
        """A user's role, domain, given name and status in lms."""
        return self.warehouse.query(
            "select u.role, d.external_id, u.given_name, u.status from lms.users u "
            "join lms.domains d using (domain_id) where u.external_id = ?",
            [external_id],
        ).row(0)


def test_a_primary_role_moved_by_a_1_2_delta_after_a_switch_from_1_1_and_back(tmp_path):
    district = tiny_district()
    runs = Sequence(tmp_path, district, "1.1")
    twin = as_v12(district)
    assert runs.send(*bulk(twin, "1.2"))[0] == set()  # the switch changes nothing

    # Kim (u-s2: a student at s1, and at s2 by a secondary role) changes schools: her primary
    # role is now at s2 and her role at s1 secondary; the SIS sends what changed
    move = delta12(
        sent(twin["users"], "u-s2", primaryOrgSourcedId="s2"),
        sent(twin["roles"], "r-u-s2-0", status="tobedeleted"),
        sent(twin["roles"], "r-u-s2-1", status="tobedeleted"),
        role("r-kim-s2", "u-s2", "primary", "student", "s2"),
        role("r-kim-s1", "u-s2", "secondary", "student", "s1"),
    )
    assert runs.send(*move)[0] == {("user", "or--u-s2", "move")}
    assert runs.user("or--u-s2") == ("student", "or--s2", "Kim", "active")
    assert runs.send(*move)[0] == set()  # the same delta again

    # the district's whole roster as the SIS holds it now, in 1.1, then in 1.2: nothing new
    moved = with_cell(district, "users", 3, "orgSourcedIds", "s2,s1")
    assert runs.send(*bulk(moved))[0] == set()
    assert runs.send(*bulk(as_v12(moved), "1.2"))[0] == set()


def test_deltas_of_both_versions_then_the_bulk_file_of_what_they_made(tmp_path):
    district = tiny_district()
    twin = as_v12(district)
    runs = Sequence(tmp_path, twin, "1.2")

    # Sam is renamed (his users.csv row alone) and Ada (u-t1) gains a secondary role at s2
    renamed = delta12(
        pl.concat([sent(twin["users"], "u-s1", givenName="Samuel"), sent(twin["users"], "u-t1")]),
        role("r-ada-s2", "u-t1", "secondary", "teacher", "s2"),
    )
    assert runs.send(*renamed)[0] == {("user", "or--u-s1", "update")}
    assert runs.user("or--u-t1") == ("teacher", "or--s1", "Ada", "active")

    # a 1.1 delta: Alan (u-t2) leaves, a record the warehouse never had is marked tobedeleted,
    # and a student arrives
    users11 = district["users"]
    newcomer = sent(users11, "u-s1", sourcedId="u-s9", username="nia", givenName="Nia")
    newcomer = newcomer.with_columns(
        orgSourcedIds=pl.lit("s2"), agentSourcedIds=pl.lit(None, pl.String), email=pl.lit(None)
    )
    ghost = sent(users11, "u-s1", status="tobedeleted", sourcedId="u-ghost", username="ghost")
    leaving = pl.concat([sent(users11, "u-t2", status="tobedeleted"), ghost, newcomer])
    changes, issues = runs.send({"users": leaving}, {"users": "delta"}, "1.1")
    assert {x for e, x, _ in changes if e == "user"} == {"or--u-t2", "or--u-s9"}
    assert ("user", "or--u-t2", "inactivate") in changes
    assert ("enrollment", "or--e5", "inactivate") in changes
    assert "u-ghost" not in issues["value"].to_list()  # no word on a record never had

    # the SIS's whole roster after those deltas, in 1.2 then 1.1: nothing new
    now = district | {
        "users": pl.concat(
            [
                users11.filter(pl.col("sourcedId") != "u-t2").with_columns(
                    givenName=pl.when(pl.col("sourcedId") == "u-s1")
                    .then(pl.lit("Samuel"))
                    .otherwise("givenName"),
                    orgSourcedIds=pl.when(pl.col("sourcedId") == "u-t1")
                    .then(pl.lit("s1,s2"))
                    .otherwise("orgSourcedIds"),
                ),
                newcomer.with_columns(
                    status=pl.lit(None, pl.String), dateLastModified=pl.lit(None, pl.String)
                ),
            ]
        ),
        "enrollments": district["enrollments"].filter(pl.col("userSourcedId") != "u-t2"),
    }
    assert runs.send(*bulk(as_v12(now), "1.2"))[0] == set()
    assert runs.send(*bulk(now))[0] == set()


def test_a_primary_org_unset_and_set_by_deltas_beside_a_second_primary_role(tmp_path):
    district = tiny_district()
    twin = as_v12(district)
    # Ada (u-t1) teaches at s1, her primaryOrgSourcedId, and is a primary aide at s2 as well
    aide = role("r-ada-aide", "u-t1", "primary", "aide", "s2").with_columns(
        status=pl.lit(None, pl.String), dateLastModified=pl.lit(None, pl.String)
    )
    twin["roles"] = pl.concat([twin["roles"], aide])
    runs = Sequence(tmp_path, twin, "1.2")
    assert runs.user("or--u-t1") == ("teacher", "or--s1", "Ada", "active")

    # the aide role's beginDate moves: that row and Ada's alone; she stays a teacher at s1
    resent = delta12(
        sent(twin["users"], "u-t1"),
        sent(twin["roles"], "r-ada-aide", beginDate="2027-01-04"),
    )
    changes, issues = runs.send(*resent)
    assert changes == set()
    assert issues["rule"].to_list() == ["role.primary_ambiguous"]

    # Kim's primaryOrgSourcedId left empty: she keeps her stored role and domain
    assert runs.send(*delta12(sent(twin["users"], "u-s2", primaryOrgSourcedId=None)))[0] == set()
    # then set to s2, where a secondary role puts her: s2 is her first org, her domain
    to_s2 = delta12(sent(twin["users"], "u-s2", primaryOrgSourcedId="s2"))
    assert runs.send(*to_s2)[0] == {("user", "or--u-s2", "move")}
    assert runs.user("or--u-s2") == ("student", "or--s2", "Kim", "active")

    # back to 1.1, the roster as it stands: nothing new
    back = with_cell(district, "users", 3, "orgSourcedIds", "s2,s1")
    back = with_cell(back, "users", 0, "orgSourcedIds", "s1,s2")
    assert runs.send(*bulk(back))[0] == set()


def test_teacher_enrollments_and_classes_sent_as_deltas_of_both_versions(tmp_path):
    district = tiny_district()
    runs = Sequence(tmp_path, district, "1.1")
    enrollments = district["enrollments"]

    # Alan (u-t2) co-teaches k1, Ada's mark as k1's primary teacher is taken off: the first
    # teacher in file order, Ada, stays the section's teacher
    co_teacher = sent(enrollments, "e1", sourcedId="e9", userSourcedId="u-t2")
    unmarked = sent(enrollments, "e1", primary="false")
    changes, _ = runs.send(
        {"enrollments": pl.concat([unmarked, co_teacher])}, {"enrollments": "delta"}, "1.1"
    )
    assert {("enrollment", "or--e1", "update"), ("enrollment", "or--e9", "create")} <= changes
    assert {entity for entity, _, _ in changes} <= {"enrollment", "course"}

    # a 1.2 delta retitles k1 and renames Alan
    twin = as_v12(district)
    retitled = delta12(
        sent(twin["users"], "u-t2", givenName="Alonzo"),
        classes=sent(twin["classes"], "k1", title="Algebra I - A"),
    )
    changes, _ = runs.send(*retitled)
    assert ("user", "or--u-t2", "update") in changes
    assert ("course", "or--k1", "update") in changes

    # the whole roster as the SIS holds it, in 1.2 then in 1.1: nothing new
    now = district | {
        "users": with_cell(district, "users", 1, "givenName", "Alonzo")["users"],
        "classes": with_cell(district, "classes", 0, "title", "Algebra I - A")["classes"],
        "enrollments": pl.concat(
            [
                enrollments.with_columns(
                    primary=pl.when(pl.col("sourcedId") == "e1")
                    .then(pl.lit("false"))
                    .otherwise("primary")
                ),
                co_teacher.with_columns(
                    status=pl.lit(None, pl.String), dateLastModified=pl.lit(None, pl.String)
                ),
            ]
        ),
    }
    assert runs.send(*bulk(as_v12(now), "1.2"))[0] == set()
    assert runs.send(*bulk(now))[0] == set()
