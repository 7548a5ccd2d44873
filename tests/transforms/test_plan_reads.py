"""The reads a plan yields (`schemas.reads`), and what it makes of their answers.

A plan never calls the warehouse: it yields reads (`RowsOf`, `IdsOf`, `PointingAt`,
`ManagedActive`) and is sent the frames that answer them. These tests record the reads a plan
yields (`Recording`, a `LiteralCurrent` that logs them) and pin the places where the plan
resolves a reference from rows it did not plan itself: a course's base course (a reference to
its own entity), an observer link's two users, rows created where lms has none of the keys
planned, and the accounts new users adopt. The incremental plan must equal the full one, row
for row (as in tests/transforms/test_incremental.py), and take each id from lms only where it
planned no row of that external ID.
"""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.lms import ENTITIES, MANAGED_PREFIX
from rosterflow.schemas.reads import IdsOf, ManagedActive, PointingAt, Read, RowsOf, answered
from rosterflow.schemas.settings import Identity, Policy, Settings
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.transforms.plan import plan_entity, references_outside
from rosterflow.transforms.planning import RunPlan, Since, plan_run
from rosterflow.transforms.source_state import teacher_order
from rosterflow.warehouse.schema import connect
from rosterflow.warehouse.state import WarehouseCurrent, current_rows, lms_summary
from tests.states import (
    TENANT,
    Frames,
    LiteralCurrent,
    Synced,
    district,
    first_free,
    records,
    synced,
    synced_once,
)
from tests.syncing import Warehouse
from tests.transforms.test_incremental import (
    NEW_CLASS,
    NEW_STUDENT,
    actions,
    assert_same_plan,
    edited,
    plus,
)

# a read as logged: (kind, entity, the external IDs or ids it names, sorted; None for all)
Logged = tuple[str, str, tuple | None]


class Recording(LiteralCurrent):
    """`LiteralCurrent` that logs every read it answers, in the order the plan yields them."""

    def __init__(self, lms: Frames) -> None:
        super().__init__(lms)
        self.reads: list[Logged] = []

    def answer(self, read: Read):
        self.reads.append(_logged(read))
        return super().answer(read)


def _named(values: pl.Series | None) -> tuple | None:
    return None if values is None else tuple(sorted(values.to_list()))


def _logged(read: Read) -> Logged:
    match read:
        case RowsOf(entity, external_ids):
            return ("rows", entity, _named(external_ids))
        case IdsOf(entity, external_ids):
            return ("ids", entity, _named(external_ids))
        case PointingAt(entity, field, ids):
            return (f"pointing_at.{field}", entity, _named(ids))
        case ManagedActive(entity):
            return ("managed_active", entity, None)
    raise TypeError(read)


def run_plans(last: Synced, after: Frames) -> tuple[RunPlan, list[Logged], RunPlan, list[Logged]]:
    """The incremental and the full plan of a bulk feed of `after` after `last`, through
    `plan_run` as `flows.steps.plan` calls it, and the reads each yielded."""
    source = records(after, 2)
    modes = dict.fromkeys(SYNCED_FILES, "bulk")
    since = Since(
        1, last.courses, last.grades, last.hashes, teacher_order(last.records["enrollments"])
    )
    plans = []
    for basis in (since, "planned in full"):
        current = Recording(last.lms)
        planned = answered(
            plan_run(TENANT, source, modes, last.config, first_free(last.lms), basis),
            current.answer,
        )
        plans += [planned, current.reads]
    incremental, incremental_reads, full, full_reads = plans
    assert incremental.planning == "incremental" and full.planning == "full"
    return incremental, incremental_reads, full, full_reads


def lms_id(last: Synced, name: str, external_id: str) -> int:
    entity = ENTITIES[name]
    return last.lms[name].filter(pl.col("external_id") == external_id)[entity.id].item()


def change_of(plan: RunPlan, name: str, external_id: str) -> dict:
    rows = plan.plan.entities[name].changes.filter(pl.col("external_id") == external_id)
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def ids_reads(reads: list[Logged]) -> list[Logged]:
    return [read for read in reads if read[0] == "ids"]


# --- the full plan reads every entity once, in order, and nothing else --------------------


def test_the_full_plan_reads_every_entity_whole_once_in_dependency_order():
    last = synced_once(None, Settings())
    _, _, full, reads = run_plans(last, edited(district(), "users", "u-t1", givenName="Augusta"))
    assert reads == [("rows", name, None) for name in ENTITIES]
    assert full.plan.change_count == 1


def test_the_full_plan_that_adopts_reads_the_tenant_s_users_first_then_every_other_entity():
    config = Settings(identity=Identity(adopt_by="username"))
    last = synced_once(None, config)
    _, _, _, reads = run_plans(last, plus(district(), "users", NEW_STUDENT))
    # the accounts to adopt are found among every lms user before the plan, which plans with
    # the users read then: each entity is read once
    assert reads == [("rows", "user", None)] + [
        ("rows", name, None) for name in ENTITIES if name != "user"
    ]


def test_the_incremental_plan_reads_only_the_keys_it_plans_and_domains_whole():
    last = synced_once(None, Settings())
    incremental, reads, full, _ = run_plans(
        last, edited(district(), "users", "u-t1", givenName="Augusta")
    )
    assert_same_plan(incremental.plan, full.plan)
    rows_reads = [read for read in reads if read[0] == "rows"]
    assert rows_reads[0] == ("rows", "domain", None)  # a few hundred orgs: planned whole
    assert rows_reads[1] == ("rows", "user", ("or--u-t1",))
    assert all(keys is not None for _, _, keys in rows_reads[1:])
    assert [read[1] for read in rows_reads] == list(ENTITIES)
    # the guard's base of every entity planned by keys, none of domains (planned whole)
    assert [read[1] for read in reads if read[0] == "managed_active"] == list(ENTITIES)[1:]
    # nothing the user's row is named by needs another row: no id is looked up in lms
    assert ids_reads(reads) == []


# --- a reference to the entity's own rows (a course's base course) -------------------------


def test_a_section_created_where_lms_has_none_of_the_keys_takes_its_base_course_id_from_lms():
    # k4 is new: the courses read by key hold none of its rows (the plan only creates), and its
    # base course, Algebra I's org base course at s1, is in lms, not planned
    last = synced_once(None, Settings())
    incremental, reads, full, _ = run_plans(last, plus(district(), "classes", NEW_CLASS))
    assert_same_plan(incremental.plan, full.plan)
    assert ("rows", "course", ("or--k4",)) in reads
    assert ("ids", "course", ("or--obc--s1--Algebra I",)) in reads
    created = change_of(incremental, "course", "or--k4")
    assert created["action"] == "create"
    assert created["base_course_id"] == lms_id(last, "course", "or--obc--s1--Algebra I")


def test_a_section_changed_keeps_the_id_of_its_base_course_found_in_lms():
    # k3 is retitled: only its own row is planned, its session base course is not
    last = synced_once(None, Settings())
    incremental, reads, full, _ = run_plans(
        last, edited(district(), "classes", "k3", title="Biology B")
    )
    assert_same_plan(incremental.plan, full.plan)
    base = "or--sbc--s2--u-t2--t2--Biology"
    assert ids_reads(reads) == [("ids", "course", (base,))]
    updated = change_of(incremental, "course", "or--k3")
    assert updated["action"] == "update"
    assert updated["base_course_id"] == lms_id(last, "course", base)


def test_a_course_whose_base_course_is_planned_takes_the_planned_id_and_reads_none_of_it():
    # Biology retitled: the whole chain of base courses is new, each one's base course is
    # created in the same plan: nothing of the hierarchy is looked up in lms
    last = synced_once(None, Settings())
    incremental, reads, full, _ = run_plans(
        last, edited(district(), "courses", "c-bio", title="Life Science")
    )
    assert_same_plan(incremental.plan, full.plan)
    assert [read for read in ids_reads(reads) if read[1] == "course"] == []
    section = change_of(incremental, "course", "or--k3")
    base = change_of(incremental, "course", "or--sbc--s2--u-t2--t2--Life Science")
    assert base["action"] == "create"
    assert section["base_course_id"] == base["course_id"]


COURSE = ENTITIES["course"]


def course_rows(*rows: tuple) -> pl.DataFrame:
    """lms.courses rows of the tenant: (course_id, external_id, base_course_id)."""
    return pl.DataFrame(
        [
            {
                "course_id": course_id,
                "tenant": TENANT,
                "external_id": external_id,
                "domain_id": None,
                "kind": "section",
                "title": external_id,
                "base_course_id": base,
                "status": "active",
                "origin": "sync",
                "updated_run_id": 1,
            }
            for course_id, external_id, base in rows
        ],
        schema=COURSE.schema,
    )


def desired_courses(*rows: tuple) -> pl.DataFrame:
    """Desired courses: (external_id, the base course's external ID)."""
    return pl.DataFrame(
        [
            {
                "external_id": external_id,
                "domain_external_id": None,
                "kind": "section",
                "title": external_id,
                "base_course_external_id": base,
                "status": "active",
            }
            for external_id, base in rows
        ],
        schema={
            "external_id": pl.String,
            "domain_external_id": pl.String,
            "kind": pl.String,
            "title": pl.String,
            "base_course_external_id": pl.String,
            "status": pl.String,
        },
    )


NO_DOMAINS = {"domain": pl.DataFrame(schema={"external_id": pl.String, "domain_id": pl.Int64})}


def course_plans(
    lms: pl.DataFrame, desired: pl.DataFrame, keys: list[str], policy: str
) -> tuple[pl.DataFrame, pl.DataFrame, list[Logged]]:
    """The changes of the courses `desired` against lms.courses `lms`: planned by the
    external IDs `keys` as `transforms.incremental` plans an entity (the rows of the keys, ids
    of the others read from lms), and in full; and the reads the first made."""
    current = Recording({"course": lms})
    key_series = pl.Series("external_id", keys, pl.String)
    wanted = desired.filter(pl.col("external_id").is_in(key_series.implode()))
    outside = {
        target: current.answer(IdsOf(target, named))
        for target, named in references_outside(COURSE, wanted, NO_DOMAINS).items()
    }
    by_keys, _ = plan_entity(
        COURSE,
        TENANT,
        wanted,
        current.answer(RowsOf("course", key_series)),
        NO_DOMAINS,
        100,
        policy,
        {},
        outside=outside,
        managed_active=current.answer(ManagedActive("course")),
    )
    full, _ = plan_entity(COURSE, TENANT, desired, lms, NO_DOMAINS, 100, policy, {})
    return by_keys.changes, full.changes, current.reads


def base_of(changes: pl.DataFrame, external_id: str) -> int | None:
    return changes.filter(pl.col("external_id") == external_id)["base_course_id"].item()


LMS_COURSES = course_rows(
    (1, "or--B", None),  # a base course the SIS no longer states
    (2, "or--A", 1),  # a section on it
    (3, "or--C", None),  # a base course the plan leaves alone
    (4, "hand-made", None),  # made by hand: never a reference's target
)


@pytest.mark.parametrize("policy", ["delete", "keep", "inactivate"])
def test_a_base_course_planned_by_key_and_gone_is_taken_as_planned_not_as_lms_holds_it(policy):
    # A and a new section D still name B, which the plan reads (it is a key) and the SIS no
    # longer states: deleted now, they point at no course (B's id is gone with it); kept or
    # inactivated, at B's id
    desired = desired_courses(("or--A", "or--B"), ("or--D", "or--B"), ("or--C", None))
    by_keys, full, reads = course_plans(LMS_COURSES, desired, ["or--A", "or--B", "or--D"], policy)
    assert_frame_equal(by_keys.sort("course_id"), full.sort("course_id"))
    # deleted now: A is updated to point at no course; kept or inactivated: A stays on B
    expected = None if policy == "delete" else 1
    assert base_of(by_keys, "or--D") == expected
    a_changes = by_keys.filter(pl.col("external_id") == "or--A")
    assert a_changes["base_course_id"].to_list() == ([None] if policy == "delete" else [])
    assert (
        by_keys.filter(pl.col("external_id") == "or--B")["action"].to_list()
        == ({"delete": ["delete"], "keep": [], "inactivate": ["inactivate"]}[policy])
    )
    # B is not desired, so lms is asked for it; what the plan read of B wins
    assert ("ids", "course", ("or--B",)) in reads


def test_a_base_course_not_planned_is_found_in_lms_and_one_lms_lacks_is_none():
    # A is changed to name C, which the plan does not read; D, new, names Z, which lms lacks
    # (and a hand-made row's external ID is never a managed reference's target)
    desired = desired_courses(
        ("or--A", "or--C"), ("or--B", None), ("or--C", None), ("or--D", "or--Z")
    )
    by_keys, full, reads = course_plans(LMS_COURSES, desired, ["or--A", "or--D"], "delete")
    assert_frame_equal(by_keys.sort("course_id"), full.sort("course_id"))
    assert base_of(by_keys, "or--A") == 3
    assert base_of(by_keys, "or--D") is None
    assert ids_reads(reads) == [("ids", "course", ("or--C", "or--Z"))]


def test_a_new_section_on_a_new_base_course_needs_no_read_of_lms():
    # every row planned by key is new: the plan only creates, and the base course it names is
    # one of them
    desired = desired_courses(("or--E", None), ("or--F", "or--E"), ("or--C", None))
    by_keys, full, reads = course_plans(
        LMS_COURSES.filter(pl.col("external_id") != "or--A"), desired, ["or--E", "or--F"], "keep"
    )
    assert set(by_keys["action"]) == {"create"}
    assert_frame_equal(
        by_keys.sort("course_id"), full.filter(pl.col("action") == "create").sort("course_id")
    )
    assert (
        base_of(by_keys, "or--F")
        == by_keys.filter(pl.col("external_id") == "or--E")["course_id"].item()
    )
    assert ids_reads(reads) == []


# --- an observer link's two users, one planned and the other not --------------------------


def test_a_new_link_whose_student_is_planned_finds_its_parent_in_lms_with_one_read():
    last = synced_once(None, Settings())
    incremental, reads, full, _ = run_plans(
        last, edited(district(), "users", "u-s2", agentSourcedIds="u-p1")
    )
    assert_same_plan(incremental.plan, full.plan)
    # one read of lms.users for the link's two references, naming only the side not planned
    assert ids_reads(reads) == [("ids", "user", ("or--u-p1",))]
    link = change_of(incremental, "observer", "or--obs--u-p1--u-s2")
    assert link["action"] == "create"
    assert link["observer_user_id"] == lms_id(last, "user", "or--u-p1")
    assert link["student_user_id"] == lms_id(last, "user", "or--u-s2")


def test_a_link_whose_parent_is_planned_finds_its_student_in_lms_and_is_unchanged():
    last = synced_once(None, Settings())
    incremental, reads, full, _ = run_plans(
        last, edited(district(), "users", "u-p1", givenName="Patricia")
    )
    assert_same_plan(incremental.plan, full.plan)
    assert ("rows", "observer", ("or--obs--u-p1--u-s1",)) in reads
    assert ids_reads(reads) == [("ids", "user", ("or--u-s1",))]
    assert incremental.plan.entities["observer"].changes.height == 0


def without_user(frames: Frames, sourced_id: str) -> Frames:
    """`frames` without a user and the enrollments of that user."""
    return frames | {
        "users": frames["users"].filter(pl.col("sourcedId") != sourced_id),
        "enrollments": frames["enrollments"].filter(pl.col("userSourcedId") != sourced_id),
    }


def test_a_link_whose_parent_is_planned_and_whose_student_is_deleted_now_goes():
    # the student leaves (users = "delete") while the parent is changed: both sides planned
    last = synced(district(), Settings(policy=Policy(users="delete")))
    after = without_user(edited(district(), "users", "u-p1", givenName="Patricia"), "u-s1")
    incremental, reads, full, _ = run_plans(last, after)
    assert_same_plan(incremental.plan, full.plan)
    assert change_of(incremental, "observer", "or--obs--u-p1--u-s1")["action"] == "delete"
    assert [read for read in ids_reads(reads) if read[1] == "user"] == []


# --- rows created where lms has none of the keys, naming rows outside the plan ------------


def test_a_new_assignment_takes_the_ids_of_its_class_and_resource_from_lms():
    last = synced_once(None, Settings())
    assignment = {"sourcedId": "cr3", "classSourcedId": "k2", "resourceSourcedId": "r-lab"}
    incremental, reads, full, _ = run_plans(last, plus(district(), "classResources", assignment))
    assert_same_plan(incremental.plan, full.plan)
    assert ("rows", "class_resource", ("or--cr3",)) in reads
    assert sorted(ids_reads(reads)) == [
        ("ids", "course", ("or--k2",)),
        ("ids", "resource", ("or--r-lab",)),
    ]
    created = change_of(incremental, "class_resource", "or--cr3")
    assert created["action"] == "create"
    assert created["course_id"] == lms_id(last, "course", "or--k2")
    assert created["resource_id"] == lms_id(last, "resource", "or--r-lab")


def test_a_new_enrollment_of_a_user_created_now_in_a_class_in_lms():
    last = synced_once(None, Settings())
    enrollment = {
        "sourcedId": "e7",
        "classSourcedId": "k1",
        "schoolSourcedId": "s1",
        "userSourcedId": "u-s3",
        "role": "student",
    }
    after = plus(plus(district(), "users", NEW_STUDENT), "enrollments", enrollment)
    incremental, reads, full, _ = run_plans(last, after)
    assert_same_plan(incremental.plan, full.plan)
    # the user is planned (created now), the class is not: only the class is looked up
    assert [read for read in ids_reads(reads) if read[1] in ("user", "course")] == [
        ("ids", "course", ("or--k1",))
    ]
    created = change_of(incremental, "enrollment", "or--e7")
    assert created["user_id"] == change_of(incremental, "user", "or--u-s3")["user_id"]
    assert created["course_id"] == lms_id(last, "course", "or--k1")


# --- adoption: a new user takes over an account made by hand -------------------------------


def with_hand_made_account(last: Synced) -> Synced:
    """`last` with an account made by hand for Ida Moe (NEW_STUDENT), as the platform has it."""
    users = last.lms["user"]
    account = users.filter(pl.col("external_id") == "or--u-s1").with_columns(
        pl.lit(90, pl.Int64).alias("user_id"),
        pl.lit("hand-ida").alias("external_id"),
        pl.lit("Ida.Moe ").alias("username"),
        pl.lit("manual").alias("origin"),
        pl.lit(None, pl.Int64).alias("updated_run_id"),
    )
    return Synced(
        last.records,
        last.lms | {"user": pl.concat([users, account])},
        last.courses,
        last.grades,
        last.config,
    )


def test_a_new_user_adopts_the_same_account_in_the_incremental_and_the_full_plan():
    config = Settings(identity=Identity(adopt_by="username"))
    last = with_hand_made_account(synced_once(None, config))
    incremental, reads, full, _ = run_plans(last, plus(district(), "users", NEW_STUDENT))
    assert_same_plan(incremental.plan, full.plan)
    assert_frame_equal(incremental.adoption.matches, full.adoption.matches)
    adopted = change_of(incremental, "user", "or--u-s3")
    assert adopted["action"] == "adopt" and adopted["user_id"] == 90
    # the users planned by key, then every user of the tenant: the accounts to adopt
    user_rows = [read for read in reads if read[:2] == ("rows", "user")]
    assert user_rows == [("rows", "user", ("or--u-s3",)), ("rows", "user", None)]
    # the guard's base is the managed rows before the run, not the account adopted
    managed = last.lms["user"].filter(pl.col("external_id").str.starts_with(MANAGED_PREFIX))
    assert incremental.plan.entities["user"].managed_active == managed.height


def test_no_new_user_reads_no_account_to_adopt():
    config = Settings(identity=Identity(adopt_by="username"))
    last = with_hand_made_account(synced_once(None, config))
    incremental, reads, full, _ = run_plans(
        last, edited(district(), "users", "u-t1", givenName="Augusta")
    )
    assert_same_plan(incremental.plan, full.plan)
    assert ("rows", "user", None) not in reads
    assert incremental.adoption.matches.height == full.adoption.matches.height == 0


# --- the warehouse answers every read as the literal frames of its rows do ---------------------


def _same_answer(read: Read, ours, theirs) -> None:
    if isinstance(ours, pl.DataFrame):
        assert ours.columns == theirs.columns, read  # (`_resolve` takes an IdsOf answer by place)
        assert_frame_equal(ours, theirs, check_row_order=False)
    elif isinstance(ours, pl.Series):
        assert sorted(ours.to_list()) == sorted(theirs.to_list()), read
    else:
        assert ours == theirs, read


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (lambda f: plus(f, "classes", NEW_CLASS), ("course", "or--k4", "create")),
        (
            lambda f: edited(f, "users", "u-s2", agentSourcedIds="u-p1"),
            ("observer", "or--obs--u-p1--u-s2", "create"),
        ),
        (lambda f: plus(f, "users", NEW_STUDENT), ("user", "or--u-s3", "adopt")),
        (lambda f: without_user(f, "u-s1"), ("observer", "or--obs--u-p1--u-s1", "delete")),
    ],
    ids=["a new section", "a new link", "a new user who adopts", "a user deleted"],
)
def test_the_warehouse_answers_each_read_of_a_plan_as_the_rows_it_holds(tmp_path, after, expected):
    """The same plans (incremental and full), their reads answered by `WarehouseCurrent` from
    a real DuckDB file (with another tenant, and accounts made by hand) and by `LiteralCurrent`
    from the tenant's lms rows read whole: every answer is the same, and so are the plans."""
    config = Settings(
        identity=Identity(adopt_by="username"), policy=Policy(users="delete", courses="delete")
    )
    warehouse = Warehouse(tmp_path)
    assert warehouse.sync(district(), settings=config).outcome == "applied"
    assert warehouse.sync(district(), settings=config, tenant="other").outcome == "applied"
    warehouse.execute(
        "insert into lms.users (user_id, tenant, external_id, role, username, status, origin) "
        "values (9001, 'district', 'hand-ida', 'student', 'Ida.Moe', 'active', 'manual'), "
        "(9002, 'district', null, 'teacher', 'nobody', 'active', 'manual')"
    )
    last = synced_once(None, config)
    source = records(after(district()), 2)
    modes = dict.fromkeys(SYNCED_FILES, "bulk")
    since = Since(
        1, last.courses, last.grades, last.hashes, teacher_order(last.records["enrollments"])
    )
    plans = {}
    with connect(warehouse.path, read_only=True) as con:
        frames = {name: current_rows(con, TENANT, entity) for name, entity in ENTITIES.items()}
        literal = LiteralCurrent(frames)
        for name, basis in (("incremental", since), ("full", "planned in full")):
            # with lms's summary, as `flows.steps.plan` passes it (the guard's base)
            stored = WarehouseCurrent(con, TENANT, lms_summary(con, TENANT))

            def answer(read: Read, stored: WarehouseCurrent = stored):
                ours, theirs = stored.answer(read), literal.answer(read)
                _same_answer(read, ours, theirs)
                return ours

            reads = plan_run(TENANT, source, modes, config, first_free(frames), basis)
            plans[name] = answered(reads, answer)
            reads = plan_run(TENANT, source, modes, config, first_free(frames), basis)
            assert_same_plan(plans[name].plan, answered(reads, literal.answer).plan)
    incremental, full = plans["incremental"], plans["full"]
    assert incremental.planning == "incremental"
    assert_same_plan(incremental.plan, full.plan)
    assert expected in actions(incremental.plan)
