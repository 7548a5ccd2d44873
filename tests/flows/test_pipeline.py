"""The sync end to end on small literal feeds: each action, each policy, and the guarantees."""

import json
import threading
from datetime import datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import rosterflow.schemas.feed as feed_module
from rosterflow.flows.pipeline import Steps
from rosterflow.schemas.writer import write_feed
from tests.feeds import frame, tiny_district, with_cell
from tests.syncing import Warehouse, counts

LMS_TABLES = ("domains", "users", "courses", "enrollments", "observers")


def without_user(frames, sourced_id):
    """The district without one user, their enrollments and links to them."""
    changed = dict(frames)
    agents = (
        pl.col("agentSourcedIds").str.split(",").list.set_difference([sourced_id]).list.join(",")
    )
    changed["users"] = (
        frames["users"]
        .filter(pl.col("sourcedId") != sourced_id)
        .with_columns(pl.when(agents != "").then(agents).alias("agentSourcedIds"))
    )
    changed["enrollments"] = frames["enrollments"].filter(pl.col("userSourcedId") != sourced_id)
    return changed


def lms_state(warehouse: Warehouse) -> dict[str, pl.DataFrame]:
    return {
        name: warehouse.query(f"select * from lms.{name} order by all") for name in LMS_TABLES
    } | {
        f"history.{name}": warehouse.query(f"select * from history.{name} order by all")
        for name in LMS_TABLES
    }


@pytest.fixture
def warehouse(tmp_path):
    return Warehouse(tmp_path)


def test_first_sync_creates_everything(warehouse):
    result = warehouse.sync(tiny_district())
    assert result.outcome == "applied" and result.exit_code == 0
    assert counts(result) == {
        ("domain", "create"): 4,
        ("user", "create"): 5,
        ("course", "create"): 13,  # 6 org base + 2 teacher base + 2 session base + 3 sections
        ("enrollment", "create"): 10,  # 6 section enrollments + 4 base-course teachers
        ("observer", "create"): 1,
    }
    user = warehouse.row("users", "or--u-s2")
    school = warehouse.row("domains", "or--s1")
    assert (user["domain_id"], user["role"], user["status"], user["origin"]) == (
        school["domain_id"],
        "student",
        "active",
        "sync",
    )  # first org of "s1,s2"
    district = warehouse.row("domains", "or--d1")
    assert school["parent_domain_id"] == district["domain_id"] and school["kind"] == "school"
    link = warehouse.row("observers", "or--obs--u-p1--u-s1")
    assert link["observer_user_id"] == warehouse.row("users", "or--u-p1")["user_id"]
    assert link["student_user_id"] == warehouse.row("users", "or--u-s1")["user_id"]
    run = warehouse.query("select * from audit.sync_runs").row(0, named=True)
    assert (run["tenant"], run["outcome"]) == ("district", "applied")
    assert run["feed_name"] == result.feed_name and result.feed_name.endswith(".zip")
    assert len(run["feed_sha256"]) == 64


@pytest.mark.parametrize("recall", [True, False], ids=["recalled", "planned"])
def test_same_feed_twice_changes_nothing(warehouse, recall):
    warehouse.sync(tiny_district())
    before = lms_state(warehouse)
    second = warehouse.sync(tiny_district(), recall=recall)
    assert second.outcome == "applied" and second.summary.height == 0
    assert ("same feed as run 1" in (second.message or "")) == recall
    for name, table in lms_state(warehouse).items():
        assert_frame_equal(table, before[name])


def test_a_feed_already_applied_is_recalled_with_its_issues_however_it_is_zipped(warehouse):
    warned = with_cell(tiny_district(), "users", 1, "enabledUser", "TRUE")
    first = warehouse.sync(warned)
    again = warehouse.sync(warned)  # another zip file (other name, other timestamps), same contents
    assert again.message.startswith("the same feed as run 1")
    assert again.issues.select("line", "rule").rows() == [(3, "boolean.case")]
    runs = warehouse.query(
        "select run_id, outcome, feed_sha256, content_sha256 from audit.sync_runs order by run_id"
    )
    assert runs["outcome"].to_list() == ["applied", "applied"]
    assert runs["content_sha256"].n_unique() == 1
    stored = warehouse.query("select run_id, rule from audit.issues order by run_id")
    assert stored.rows() == [(first.run_id, "boolean.case"), (again.run_id, "boolean.case")]


def test_a_recalled_feed_is_never_parsed_and_a_changed_file_is_parsed_as_it_is_read(
    warehouse, monkeypatch
):
    warehouse.sync(tiny_district())
    parsed, parse = [], feed_module._parse_file

    def counted(feed_name, spec, *rest):
        reading = threading.current_thread().name.startswith(feed_module.READING_THREADS)
        parsed.append((spec.name, "as read" if reading else "when validated"))
        return parse(feed_name, spec, *rest)

    monkeypatch.setattr(feed_module, "_parse_file", counted)

    again = warehouse.sync(tiny_district())  # another zip, the same contents
    assert again.planning == "recalled" and parsed == []

    changed = warehouse.sync(with_cell(tiny_district(), "users", 0, "givenName", "Zed"))
    assert changed.planning == "incremental" and changed.summary.height == 1
    # users.csv and enrollments.csv were read by their changed lines (none parsed whole); the
    # files the tenant's stored records came from were parsed when the run validated, once each
    assert sorted(parsed) == sorted(
        (name, "when validated") for name in tiny_district() if name not in ("users", "enrollments")
    )

    full = warehouse.sync(with_cell(tiny_district(), "users", 0, "givenName", "Zoe"), full=True)
    assert full.planning == "full"  # every file parsed as it was read
    assert sorted(parsed[-len(tiny_district()) :]) == sorted(
        (name, "as read") for name in tiny_district()
    )


def test_files_known_by_their_sha256_before_blake3_are_read_again_once(warehouse):
    """A warehouse written before files were known by their BLAKE3 holds `sha256:`
    fingerprints and contents of another digest: no stored file is taken for one of the same
    bytes (an unchanged file's base keeps its old fingerprint until it is written again), the
    next run plans the feed as it is, and the run after it is recalled by its contents."""
    warehouse.sync(tiny_district())
    warehouse.execute(
        "update oneroster.snapshots set fingerprint = 'sha256:' || sha256(fingerprint); "
        "update audit.sync_runs set content_sha256 = sha256(content_sha256)"
    )
    before = lms_state(warehouse)
    changed = with_cell(tiny_district(), "users", 0, "givenName", "Zed")
    upgraded = warehouse.sync(changed)
    assert upgraded.outcome == "applied" and upgraded.planning == "incremental"
    assert [(entity, action) for entity, _, action in warehouse.actions(upgraded.run_id)] == [
        ("user", "update")
    ]
    for name, table in lms_state(warehouse).items():
        if name not in ("users", "history.users"):
            assert_frame_equal(table, before[name])
    again = warehouse.sync(changed)  # (its contents stored by the new digests)
    assert again.planning == "recalled" and again.summary.height == 0


def test_a_changed_setting_or_a_hand_edit_is_not_recalled(warehouse):
    warehouse.sync(tiny_district())
    off = warehouse.sync(tiny_district(), settings={"hierarchy": {"session_base_courses": False}})
    assert off.message is None and ("course", "update") in counts(off)
    warehouse.execute("update lms.domains set name = 'Typo' where external_id = 'or--st'")
    reverted = warehouse.sync(
        tiny_district(), settings={"hierarchy": {"session_base_courses": False}}
    )
    assert reverted.message is None
    assert warehouse.actions(reverted.run_id) == {("domain", "or--st", "update")}


def test_update_names_each_changed_field_with_old_and_new_value(warehouse):
    warehouse.sync(tiny_district())
    frames = with_cell(tiny_district(), "users", 2, "email", "sam@new.example.org")
    frames = with_cell(frames, "users", 2, "givenName", "Samuel")
    result = warehouse.sync(frames)
    assert counts(result) == {("user", "update"): 1}
    detail = json.loads(warehouse.changes(result.run_id)["detail"][0])
    assert detail == {
        "given_name": {"from": "Sam", "to": "Samuel"},
        "email": {"from": "sam.stone@example.org", "to": "sam@new.example.org"},
    }


def test_hand_edit_of_a_managed_field_is_reverted(warehouse):
    warehouse.sync(tiny_district())
    warehouse.execute("update lms.users set email = 'typo@x' where external_id = 'or--u-t1'")
    warehouse.execute("update lms.courses set title = 'Renamed' where external_id = 'or--k1'")
    result = warehouse.sync(tiny_district())
    assert warehouse.actions(result.run_id) == {
        ("user", "or--u-t1", "update"),
        ("course", "or--k1", "update"),
    }
    assert warehouse.row("users", "or--u-t1")["email"] == "ada.lovelace@example.org"
    assert warehouse.row("courses", "or--k1")["title"] == "Algebra I - 1"


def test_hand_made_rows_are_never_touched(warehouse):
    warehouse.sync(tiny_district())
    warehouse.execute(
        "insert into lms.users (user_id, tenant, external_id, role, username, status) "
        "select max(user_id) + 1, 'district', 'staff-7', 'teacher', 'helper', 'active' from lms.users"
    )
    warehouse.execute(
        "insert into lms.users (user_id, tenant, external_id, role, username, status) "
        "select max(user_id) + 1, 'district', null, 'student', 'guest', 'active' from lms.users"
    )
    warehouse.execute(
        "insert into lms.enrollments (enrollment_id, tenant, external_id, user_id, course_id, role, status) "
        "select max(enrollment_id) + 1, 'district', 'hand-1', "
        "(select user_id from lms.users where username = 'helper'), 1, 'teacher', 'active' from lms.enrollments"
    )
    hand_made = warehouse.query("select * from lms.users where origin = 'manual' order by all")
    result = warehouse.sync(
        without_user(tiny_district(), "u-s1"), settings={"policy": {"users": "delete"}}
    )
    assert ("user", "or--u-s1", "delete") in warehouse.actions(result.run_id)
    assert_frame_equal(
        warehouse.query("select * from lms.users where origin = 'manual' order by all"), hand_made
    )
    assert warehouse.query("select * from lms.enrollments where external_id = 'hand-1'").height == 1
    assert not any(
        not external_id.startswith("or-") for _, external_id, _ in warehouse.actions(result.run_id)
    )


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["delete", "inactivate"])
def test_a_user_deleted_that_rows_made_by_hand_point_at_is_named_in_a_warning(warehouse, policy):
    """Rows made by hand are never touched: a user deleted leaves its enrollments and observer
    links made by hand, and the platform's scores, pointing at no user. The run says so (the
    plan is the same as without them); inactivating the user leaves nothing dangling."""
    warehouse.sync(tiny_district())
    sam = warehouse.row("users", "or--u-s1")["user_id"]
    ada = warehouse.row("users", "or--u-t1")["user_id"]
    gone = without_user(tiny_district(), "u-s1")
    settings = {"policy": {"users": policy}, "safety": {"max_removal_share": 1}}
    plain = warehouse.sync(gone, settings=settings, dry_run=True)  # (before the rows by hand)
    warehouse.execute(
        "insert into lms.enrollments (enrollment_id, tenant, external_id, user_id, course_id, "
        "role, status) select max(enrollment_id) + 1, 'district', 'hand-1', ?, 1, 'student', "
        "'active' from lms.enrollments",
        [sam],
    )
    warehouse.execute(
        "insert into lms.observers (observer_id, tenant, external_id, observer_user_id, "
        "student_user_id, status) select max(observer_id) + 1, 'district', null, ?, ?, "
        "'active' from lms.observers",
        [ada, sam],
    )
    warehouse.execute(
        "insert into lms.line_items (line_item_id, tenant, course_id, title, due_date, "
        "points_possible) values (1, 'district', 1, 'Quiz', date '2027-01-01', 10), "
        "(2, 'district', 1, 'Test', date '2027-02-01', 10)"
    )
    warehouse.execute(
        "insert into lms.scores (line_item_id, user_id, score) values (1, ?, 9)", [sam]
    )
    warehouse.execute(
        "insert into lms.scores (line_item_id, user_id, score) values (2, ?, 7)", [sam]
    )

    result = warehouse.sync(gone, settings=settings)

    assert result.outcome == "applied", result.message
    # the same plan as without the rows made by hand, which stay as they were
    assert warehouse.changes(result.run_id).equals(warehouse.changes(plain.run_id))
    assert (
        warehouse.query("select count(*) from lms.enrollments where external_id = 'hand-1'").item()
        == 1
    )
    assert warehouse.query("select count(*) from lms.scores").item() == 2
    left = warehouse.query(
        "select file, line, field, value, severity, message from audit.issues where run_id = ? "
        "and rule = 'user.delete_leaves_hand_made'",
        [result.run_id],
    )
    if policy == "inactivate":
        assert left.height == 0
        return
    assert left.drop("message").rows() == [("users.csv", None, "sourcedId", "u-s1", "warning")]
    assert left["message"][0] == (
        f"user {sam} (u-s1) is deleted, but rows made by hand still point at it: 1 enrollment, "
        "1 observer link, 2 scores; they are left as they are (delete them by hand, or keep such "
        'users with [policy] users = "inactivate")'
    )
    assert "user.delete_leaves_hand_made" in result.issues["rule"].to_list()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("policy", "action", "status"),
    [
        ("inactivate", "inactivate", "inactive"),
        ("delete", "delete", None),
        ("keep", None, "active"),
    ],
)
def test_user_who_leaves_the_sis_gets_the_user_policy(warehouse, policy, action, status):
    warehouse.sync(tiny_district())
    settings = {
        "policy": {"users": policy, "enrollments": "keep"},
        "safety": {"max_removal_share": 1},
    }
    result = warehouse.sync(without_user(tiny_district(), "u-s1"), settings=settings)
    user_actions = {a for e, x, a in warehouse.actions(result.run_id) if x == "or--u-s1"}
    assert user_actions == ({action} if action else set())
    remaining = warehouse.query("select status from lms.users where external_id = 'or--u-s1'")
    assert remaining["status"].to_list() == ([status] if status else [])
    if policy == "delete":  # its enrollments and observer link go with it
        assert ("enrollment", "or--e2", "delete") in warehouse.actions(result.run_id)
        assert ("observer", "or--obs--u-p1--u-s1", "delete") in warehouse.actions(result.run_id)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("policy", "action", "status"),
    [
        ("inactivate", "inactivate", "inactive"),
        ("withdraw", "withdraw", "withdrawn"),
        ("delete", "delete", None),
        ("keep", None, "active"),
    ],
)
def test_enrollment_that_leaves_gets_the_enrollment_policy(warehouse, policy, action, status):
    warehouse.sync(tiny_district())
    frames = tiny_district()
    frames["enrollments"] = frames["enrollments"].filter(pl.col("sourcedId") != "e4")
    settings = {"policy": {"enrollments": policy}, "safety": {"max_removal_share": 1}}
    result = warehouse.sync(frames, settings=settings)
    assert warehouse.actions(result.run_id) == (
        {("enrollment", "or--e4", action)} if action else set()
    )
    remaining = warehouse.query("select status from lms.enrollments where external_id = 'or--e4'")
    assert remaining["status"].to_list() == ([status] if status else [])


@pytest.mark.slow
@pytest.mark.parametrize(("policy", "kept"), [("keep", True), ("delete", False)])
def test_class_that_leaves_gets_the_course_policy(warehouse, policy, kept):
    warehouse.sync(tiny_district())
    frames = tiny_district()
    frames["classes"] = frames["classes"].filter(pl.col("sourcedId") != "k2")
    frames["enrollments"] = frames["enrollments"].filter(pl.col("classSourcedId") != "k2")
    settings = {"policy": {"courses": policy}, "safety": {"max_removal_share": 1}}
    result = warehouse.sync(frames, settings=settings)
    assert (("course", "or--k2", "delete") in warehouse.actions(result.run_id)) == (not kept)
    assert warehouse.query("select * from lms.courses where external_id = 'or--k2'").height == int(
        kept
    )


def test_returning_user_is_reactivated(warehouse):
    warehouse.sync(tiny_district())
    warehouse.sync(
        without_user(tiny_district(), "u-s1"), settings={"safety": {"max_removal_share": 1}}
    )
    result = warehouse.sync(tiny_district())
    actions = warehouse.actions(result.run_id)
    assert ("user", "or--u-s1", "reactivate") in actions
    assert ("enrollment", "or--e2", "reactivate") in actions
    assert warehouse.row("users", "or--u-s1")["status"] == "active"


def test_disabled_user_is_inactivated_then_reactivated(warehouse):
    warehouse.sync(tiny_district())
    result = warehouse.sync(with_cell(tiny_district(), "users", 3, "enabledUser", "false"))
    assert warehouse.actions(result.run_id) == {("user", "or--u-s2", "inactivate")}
    result = warehouse.sync(tiny_district())
    assert warehouse.actions(result.run_id) == {("user", "or--u-s2", "reactivate")}


def test_hand_made_row_given_a_managed_external_id_is_adopted_once(warehouse):
    warehouse.path.parent.mkdir(exist_ok=True)
    from rosterflow.warehouse.schema import connect

    connect(warehouse.path).close()
    warehouse.execute(
        "insert into lms.users (user_id, tenant, external_id, role, username, given_name, status) "
        "values (500, 'district', 'or--u-t2', 'teacher', 'aturing', 'Al', 'active')"
    )
    first = warehouse.sync(tiny_district())
    assert ("user", "or--u-t2", "adopt") in warehouse.actions(first.run_id)
    adopted = warehouse.row("users", "or--u-t2")
    assert (adopted["user_id"], adopted["given_name"], adopted["origin"]) == (500, "Alan", "sync")
    detail = json.loads(
        warehouse.query("select detail from audit.changes where action = 'adopt'")["detail"][0]
    )
    assert detail["given_name"] == {"from": "Al", "to": "Alan"}
    assert warehouse.sync(tiny_district(), recall=False).summary.height == 0


def test_delta_file_changes_only_its_rows(warehouse):
    warehouse.sync(tiny_district())
    delta = {
        "users": frame(
            "users",
            {
                "sourcedId": "u-s2",
                "status": "active",
                "dateLastModified": "2027-01-02T00:00:00.000Z",
                "enabledUser": "true",
                "orgSourcedIds": "s1",
                "role": "student",
                "username": "kim.lee",
                "givenName": "Kimberly",
                "familyName": "Lee",
                "email": "kim.lee@example.org",
            },
            {
                "sourcedId": "u-p1",
                "status": "tobedeleted",
                "dateLastModified": "2027-01-02T00:00:00.000Z",
            },
            {
                "sourcedId": "u-new",
                "status": "active",
                "dateLastModified": "2027-01-02T00:00:00.000Z",
                "enabledUser": "true",
                "orgSourcedIds": "s2",
                "role": "student",
                "username": "new",
                "givenName": "New",
                "familyName": "Kid",
            },
        )
    }
    result = warehouse.sync(
        delta, modes={"users": "delta"}, settings={"safety": {"max_removal_share": 1}}
    )
    assert result.outcome == "applied", result.issues
    assert warehouse.actions(result.run_id) == {
        ("user", "or--u-s2", "update"),
        ("user", "or--u-p1", "inactivate"),
        ("user", "or--u-new", "create"),
        ("observer", "or--obs--u-p1--u-s1", "delete"),  # its parent is no longer in the SIS
    }
    # every other file was absent: nothing else changed, and the next delta-free feed is a no-op
    assert warehouse.sync({}, settings={"safety": {"max_removal_share": 1}}).summary.height == 0


def test_absent_file_changes_nothing_of_its_entity(warehouse):
    warehouse.sync(tiny_district())
    frames = tiny_district()
    del frames["users"]
    frames = with_cell(frames, "orgs", 2, "name", "North High School")
    result = warehouse.sync(frames)
    assert result.outcome == "applied", result.issues
    assert warehouse.actions(result.run_id) == {("domain", "or--s1", "update")}


def test_tenants_side_by_side_never_touch_each_other(warehouse):
    warehouse.sync(tiny_district(), tenant="north")
    warehouse.sync(tiny_district(), tenant="south")
    south_before = warehouse.table("users", "south")
    settings = {"policy": {"users": "delete"}, "safety": {"max_removal_share": 1}}
    result = warehouse.sync(
        without_user(tiny_district(), "u-s1"), tenant="north", settings=settings
    )
    assert ("user", "or--u-s1", "delete") in warehouse.actions(result.run_id)
    assert_frame_equal(warehouse.table("users", "south"), south_before)
    assert warehouse.table("users", "north").height == 4
    ids = warehouse.query("select user_id from lms.users")["user_id"]
    assert ids.n_unique() == ids.len()  # ids are unique across tenants


@pytest.mark.slow
def test_safety_guard_holds_a_truncated_export_and_says_how_to_go_on(warehouse):
    warehouse.sync(tiny_district())
    before = lms_state(warehouse)
    truncated = without_user(without_user(tiny_district(), "u-s1"), "u-s2")  # 2 of 5 users
    result = warehouse.sync(truncated)
    assert result.outcome == "held" and result.exit_code == 1
    assert "max_removal_share" in result.message and "--max-removal-share" in result.message
    assert f"rosterflow approve {result.run_id}" in result.message
    assert "2 of the tenant's 5" in result.message
    for name, table in lms_state(warehouse).items():
        assert_frame_equal(table, before[name])
    allowed = warehouse.sync(truncated, settings={"safety": {"max_removal_share": 0.5}})
    assert allowed.outcome == "applied"


def test_dry_run_records_planned_changes_only(warehouse):
    warehouse.sync(tiny_district())
    before = lms_state(warehouse)
    result = warehouse.sync(
        with_cell(tiny_district(), "users", 0, "familyName", "Byron"), dry_run=True
    )
    assert result.outcome == "planned" and result.exit_code == 0
    assert warehouse.actions(result.run_id) == {("user", "or--u-t1", "update")}
    for name, table in lms_state(warehouse).items():
        assert_frame_equal(table, before[name])
    outcome = warehouse.query(
        "select outcome from audit.sync_runs where run_id = ?", [result.run_id]
    )
    assert outcome["outcome"].to_list() == ["planned"]
    # the source records were not advanced either: the real run still sees the change
    assert counts(
        warehouse.sync(with_cell(tiny_district(), "users", 0, "familyName", "Byron"))
    ) == {("user", "update"): 1}


def test_rejected_run_leaves_lms_unchanged_and_records_its_issues(warehouse):
    warehouse.sync(tiny_district())
    before = lms_state(warehouse)
    broken = with_cell(
        without_user(tiny_district(), "u-s1"), "enrollments", 0, "userSourcedId", "u-ghost"
    )
    result = warehouse.sync(broken)
    assert result.outcome == "rejected" and result.exit_code == 1
    for name, table in lms_state(warehouse).items():
        assert_frame_equal(table, before[name])
    assert (
        warehouse.query("select * from audit.changes where run_id = ?", [result.run_id]).height == 0
    )
    issues = warehouse.query(
        "select file, line, field, rule, severity from audit.issues where run_id = ?",
        [result.run_id],
    )
    assert ("enrollments.csv", 2, "userSourcedId", "reference", "error") in issues.iter_rows()
    # an invalid feed is never read as "these records left the SIS"
    assert warehouse.row("users", "or--u-s1")["status"] == "active"


def test_history_answers_who_was_enrolled_on_a_date(warehouse):
    first = warehouse.sync(tiny_district())
    frames = tiny_district()
    frames["enrollments"] = frames["enrollments"].filter(pl.col("sourcedId") != "e2")
    second = warehouse.sync(
        frames, settings={"policy": {"enrollments": "delete"}, "safety": {"max_removal_share": 1}}
    )
    started = dict(warehouse.query("select run_id, started_at from audit.sync_runs").iter_rows())
    roster_query = """
        select u.external_id
        from history.enrollments as e
        join lms.courses as c on c.course_id = e.course_id
        join lms.users as u on u.user_id = e.user_id
        where c.external_id = 'or--k1' and e.status = 'active'
          and e.valid_from <= ? and (e.valid_to is null or e.valid_to > ?)
        order by 1
    """
    between: datetime = started[first.run_id] + (started[second.run_id] - started[first.run_id]) / 2
    after = started[second.run_id]
    assert warehouse.query(roster_query, [between, between])["external_id"].to_list() == [
        "or--u-s1",
        "or--u-t1",
    ]
    assert warehouse.query(roster_query, [after, after])["external_id"].to_list() == ["or--u-t1"]
    closed = warehouse.query(
        "select closed_run_id from history.enrollments where external_id = 'or--e2'"
    )
    assert closed["closed_run_id"].to_list() == [second.run_id]


def stored_user_ids(warehouse: Warehouse) -> list[str]:
    from rosterflow.warehouse.records import stored_ids
    from rosterflow.warehouse.schema import connect

    with connect(warehouse.path) as con:
        return stored_ids(con, warehouse.tenant, ("users",))["users"].to_list()


def test_unchanged_bulk_file_is_not_written_again_but_a_delta_in_between_is_undone(warehouse):
    warehouse.sync(tiny_district())
    stored_by = (
        "select run_id from oneroster.snapshots where tenant = 'district' and file = 'users'"
    )
    assert warehouse.query(stored_by)["run_id"].to_list() == [1]
    warehouse.sync(tiny_district())
    assert warehouse.query(stored_by)["run_id"].to_list() == [1]  # same bytes: kept as they were
    delta = {
        "users": frame(
            "users",
            {
                "sourcedId": "u-s2",
                "status": "tobedeleted",
                "dateLastModified": "2027-01-02T00:00:00Z",
            },
        )
    }
    warehouse.sync(delta, modes={"users": "delta"}, settings={"safety": {"max_removal_share": 1}})
    assert "u-s2" not in stored_user_ids(warehouse)
    back = warehouse.sync(tiny_district())  # the earlier bulk file, byte for byte
    assert ("user", "or--u-s2", "reactivate") in warehouse.actions(back.run_id)
    assert "u-s2" in stored_user_ids(warehouse)
    assert warehouse.sync({}).summary.height == 0  # all absent: the records are complete again


def test_a_managed_external_id_on_two_rows_is_refused_not_guessed(warehouse):
    warehouse.sync(tiny_district())
    warehouse.execute(
        "insert into lms.users (user_id, tenant, external_id, role, username, status) "
        "values (900, 'district', 'or--u-s1', 'student', 'copy', 'active')"
    )
    before = lms_state(warehouse)
    result = warehouse.sync(with_cell(tiny_district(), "users", 2, "email", "x@example.org"))
    assert result.outcome == "rejected" and "or--u-s1" in result.message
    assert "hand-made external ID" in result.message
    for name, table in lms_state(warehouse).items():
        assert_frame_equal(table, before[name])


def test_a_run_that_breaks_is_recorded_as_failed_with_its_issues(warehouse):
    from rosterflow.flows.pipeline import run_steps
    from rosterflow.schemas.settings import Settings

    warehouse.sync(tiny_district())
    before = lms_state(warehouse)

    def broken_plan(*args):
        raise RuntimeError("disk on fire")

    feed = write_feed(
        warehouse.dir / "warned.zip", with_cell(tiny_district(), "users", 1, "enabledUser", "TRUE")
    )
    with pytest.raises(RuntimeError):
        run_steps(Steps(plan=broken_plan), feed, warehouse.path, Settings(), "district")
    run = warehouse.query("select * from audit.sync_runs order by run_id desc limit 1").row(
        0, named=True
    )
    assert (run["outcome"], run["message"]) == ("failed", "RuntimeError: disk on fire")
    issues = warehouse.query("select rule from audit.issues where run_id = ?", [run["run_id"]])
    assert issues["rule"].to_list() == ["boolean.case"]
    for name, table in lms_state(warehouse).items():
        assert_frame_equal(table, before[name])


@pytest.mark.parametrize(
    ("frames", "step", "notified"),
    [
        (tiny_district(), "apply", []),
        (with_cell(tiny_district(), "users", 2, "role", "pupil"), "reject", ["rejected"]),
    ],
    ids=["applied", "rejected"],
)
def test_a_run_recorded_before_an_error_is_announced_as_recorded_not_as_failed(
    warehouse, frames, step, notified
):
    """The Prefect engine records a task's end after the task committed: an API lost then
    leaves the run as it was recorded, and a notification says that outcome, never 'failed'."""
    from rosterflow.flows import steps as plain_steps
    from rosterflow.flows.pipeline import run_steps
    from rosterflow.schemas.settings import Settings

    def then_lost(*args):
        getattr(plain_steps, step)(*args)
        raise ConnectionError("the Prefect API went away")

    sent: list[dict] = []
    feed = write_feed(warehouse.dir / "d.zip", frames)
    lost = Steps(**{step: then_lost}, notify=lambda settings, payload: sent.append(payload))

    with pytest.raises(ConnectionError):
        run_steps(lost, feed, warehouse.path, Settings(), "district")

    assert [payload["outcome"] for payload in sent] == notified
    assert [(p["run_id"], p["tenant"]) for p in sent] == [(1, "district")] * len(notified)
    recorded = warehouse.query("select run_id, outcome from audit.sync_runs").rows()
    assert recorded == [(1, "applied" if step == "apply" else "rejected")]
