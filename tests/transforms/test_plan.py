"""The change set: tiny desired and current frames in, the planned changes out (no warehouse).

Each test starts from a small district that is fully synced (`current` = what a run applying
`world()` left in lms), changes one thing on one side, and checks the one change planned.
"""

import json
from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.changes import Plan, PlanError
from rosterflow.schemas.lms import ENTITIES, desired_schema, external_column
from rosterflow.schemas.reads import answered
from rosterflow.schemas.settings import POLICY_CHOICES, Policy
from rosterflow.transforms.plan import plan_changes
from tests.states import LiteralCurrent

TENANT = "district-7"
NEXT_IDS = {
    "domain": 100,
    "user": 200,
    "course": 300,
    "enrollment": 400,
    "observer": 500,
    "resource": 600,
    "class_resource": 700,
    "course_resource": 800,
}
# the ids the last run gave the managed rows of world()
IDS = {
    "or--s1": 1,
    "or--s2": 2,
    "or--u1": 11,
    "or--t1": 12,
    "or--p1": 13,
    "or--k1": 21,
    "or--e1": 31,
    "or--e2": 32,
    "or--obs--p1--u1": 41,
    "or--r1": 51,
    "or--cr1": 61,
    "or--kr1": 71,
}

Rows = dict[str, list[dict]]


def school(sid: str, name: str) -> dict:
    return {
        "external_id": f"or--{sid}",
        "name": name,
        "kind": "school",
        "parent_domain_external_id": None,
        "status": "active",
    }


def user(sid: str, role: str = "student", **fields) -> dict:
    name = sid.upper()
    return {
        "external_id": f"or--{sid}",
        "domain_external_id": "or--s1",
        "role": role,
        "username": name.lower(),
        "given_name": name,
        "family_name": "Stone",
        "email": f"{name.lower()}@example.org",
        "grade_level": "09" if role == "student" else None,
        "login": sid,
        "status": "active",
    } | fields


def enrollment(sid: str, user_: str, class_: str, role: str = "student", **fields) -> dict:
    return {
        "external_id": f"or--{sid}",
        "user_external_id": f"or--{user_}",
        "course_external_id": f"or--{class_}",
        "role": role,
        "is_primary": False,
        "begin_date": date(2026, 8, 15),
        "end_date": None,
        "status": "active",
    } | fields


def link(observer: str, student: str, relationship: str = "parent") -> dict:
    return {
        "external_id": f"or--obs--{observer}--{student}",
        "observer_user_external_id": f"or--{observer}",
        "student_user_external_id": f"or--{student}",
        "relationship": relationship,
        "status": "active",
    }


def resource(sid: str, **fields) -> dict:
    return {
        "external_id": f"or--{sid}",
        "vendor_resource_id": f"VR-{sid}",
        "title": "Algebra I (digital edition)",
        "roles": "student,teacher",
        "importance": "primary",
        "vendor_id": "publisher",
        "application_id": None,
        "status": "active",
    } | fields


def assignment(sid: str, resource_: str, course: str, **fields) -> dict:
    return {
        "external_id": f"or--{sid}",
        "resource_external_id": f"or--{resource_}",
        "course_external_id": f"or--{course}",
        "title": "Algebra I",
        "status": "active",
    } | fields


def world() -> Rows:
    """The desired rows of a small district (a fresh copy each call): two schools, a student,
    a teacher and a parent, one section with both enrolled, one parent link, a resource
    assigned to the section as a class and as a course resource."""
    return {
        "domain": [school("s1", "North High"), school("s2", "South High")],
        "user": [user("u1"), user("t1", "teacher"), user("p1", "parent", email=None)],
        "course": [
            {
                "external_id": "or--k1",
                "domain_external_id": "or--s1",
                "kind": "section",
                "title": "Algebra I - 1",
                "base_course_external_id": None,
                "status": "active",
            }
        ],
        "enrollment": [
            enrollment("e1", "u1", "k1"),
            enrollment("e2", "t1", "k1", "teacher", is_primary=True),
        ],
        "observer": [link("p1", "u1")],
        "resource": [resource("r1")],
        "class_resource": [assignment("cr1", "r1", "k1")],
        "course_resource": [assignment("kr1", "r1", "k1")],
    }


def lms_rows(desired: Rows) -> Rows:
    """The lms rows a run applying `desired` left: ids from IDS, references resolved."""
    rows: Rows = {}
    for name, entity in ENTITIES.items():
        rows[name] = []
        for row in desired.get(name, []):
            stored = {entity.id: IDS[row["external_id"]], "tenant": TENANT, "origin": "sync"}
            for field in entity.owned:
                if field in entity.references:
                    reference = row[external_column(field)]
                    stored[field] = None if reference is None else IDS[reference]
                else:
                    stored[field] = row[field]
            rows[name].append(stored | {"external_id": row["external_id"]})
    return rows


def edit(rows: list[dict], external_id: str, /, **fields) -> None:
    """Change fields of the row with this external ID, in place."""
    (row,) = (r for r in rows if r["external_id"] == external_id)
    row.update(fields)


def drop(rows: list[dict], *external_ids: str) -> None:
    rows[:] = [r for r in rows if r["external_id"] not in external_ids]


def plan_of(
    desired: Rows,
    current: Rows,
    policy: Policy | None = None,
    marked: dict[str, pl.Series] | None = None,
) -> Plan:
    """plan_changes on literal rows; an entity not given is empty on that side. `marked`:
    per entity, the external IDs the feed marked tobedeleted."""
    desired_frames = {
        name: pl.DataFrame(desired.get(name, []), schema=desired_schema(entity))
        for name, entity in ENTITIES.items()
    }
    current_frames = {
        name: pl.DataFrame(current.get(name, []), schema=entity.schema)
        for name, entity in ENTITIES.items()
    }
    return answered(
        plan_changes(TENANT, desired_frames, NEXT_IDS, policy or Policy(), marked=marked),
        LiteralCurrent(current_frames).answer,
    )


def changes(plan: Plan, name: str) -> pl.DataFrame:
    entity = ENTITIES[name]
    return plan.entities[name].changes.sort(entity.id)


def only_change(plan: Plan) -> tuple[str, dict]:
    """The entity and row of the plan's one change."""
    assert plan.change_count == 1, plan.summary()
    (name,) = (name for name, p in plan.entities.items() if p.changes.height)
    return name, plan.entities[name].changes.row(0, named=True)


def synced() -> tuple[Rows, Rows]:
    """(desired, current) of a district whose last run left lms exactly as desired."""
    return world(), lms_rows(world())


# nothing to do


def test_a_synced_district_plans_no_change():
    plan = plan_of(*synced())
    assert plan.change_count == 0
    assert plan.summary().is_empty()


# create


def test_new_rows_are_created_with_ids_from_next_ids_and_resolved_references():
    desired, current = synced()
    desired["user"] += [user("u5"), user("u3", domain_external_id="or--s2"), user("u4")]
    plan = plan_of(desired, current)
    created = changes(plan, "user").sort("external_id")
    assert sorted(created["user_id"]) == [200, 201, 202]
    expected = pl.DataFrame(
        [
            {**user("u3"), "domain_id": 2},
            {**user("u4"), "domain_id": 1},
            {**user("u5"), "domain_id": 1},
        ]
    ).select(
        created["user_id"],
        pl.lit(TENANT).alias("tenant"),
        "external_id",
        "domain_id",
        "role",
        "username",
        "given_name",
        "family_name",
        "email",
        "grade_level",
        "login",
        "status",
        pl.lit("sync").alias("origin"),
        pl.lit(None, pl.Int64).alias("updated_run_id"),
        pl.lit("create").alias("action"),
        pl.lit(None, pl.String).alias("detail"),
    )
    assert_frame_equal(created, expected)
    assert plan.change_count == 3


def test_new_ids_follow_external_id_order_whatever_the_order_of_the_feed():
    names = [f"u{n:02d}" for n in range(50, 0, -1)]
    ids_by_order = []
    for order in (names, sorted(names), names[::3] + names[1::3] + names[2::3]):
        created = changes(plan_of({"user": [user(n) for n in order]}, {}), "user")
        assert created["external_id"].to_list() == [f"or--{n}" for n in sorted(names)]
        ids_by_order.append(dict(created.select("external_id", "user_id").iter_rows()))
    assert ids_by_order[0] == ids_by_order[1] == ids_by_order[2]
    assert sorted(ids_by_order[0].values()) == list(range(200, 250))


def test_a_reference_resolves_to_a_row_created_in_the_same_plan():
    desired, current = synced()
    desired["user"].append(user("u3"))
    desired["enrollment"].append(enrollment("e3", "u3", "k1"))
    desired["observer"].append(link("p1", "u3"))
    plan = plan_of(desired, current)
    (new_user,) = changes(plan, "user")["user_id"]
    (new_enrollment,) = changes(plan, "enrollment").select("user_id", "course_id").rows()
    assert new_enrollment == (new_user, IDS["or--k1"])
    (new_link,) = changes(plan, "observer").select("observer_user_id", "student_user_id").rows()
    assert new_link == (IDS["or--p1"], new_user)


def test_a_course_derived_from_a_course_created_in_the_same_plan_points_at_its_new_id():
    desired, current = synced()
    base = "or--obc--s1--Algebra I"
    desired["course"].append(
        {
            "external_id": base,
            "domain_external_id": "or--s1",
            "kind": "org_base",
            "title": "Algebra I",
            "base_course_external_id": None,
            "status": "active",
        }
    )
    edit(desired["course"], "or--k1", base_course_external_id=base)
    found = changes(plan_of(desired, current), "course")
    ids = dict(found.select("external_id", "course_id").iter_rows())
    assert set(ids) == {base, "or--k1"}
    assert ids[base] == NEXT_IDS["course"]
    section = found.filter(pl.col("external_id") == "or--k1").row(0, named=True)
    assert (section["course_id"], section["base_course_id"]) == (IDS["or--k1"], ids[base])
    assert section["action"] == "update"
    assert json.loads(section["detail"]) == {"base_course_id": {"from": None, "to": ids[base]}}


# compare


def test_a_changed_field_is_an_update_naming_it_from_and_to():
    desired, current = synced()
    edit(desired["user"], "or--u1", email="sam@example.org")
    entity, change = only_change(plan_of(desired, current))
    assert (entity, change["action"], change["user_id"]) == ("user", "update", 11)
    assert change["email"] == "sam@example.org"
    assert json.loads(change["detail"]) == {
        "email": {"from": "u1@example.org", "to": "sam@example.org"}
    }


def test_a_hand_edit_of_a_managed_field_is_reverted_by_an_update():
    desired, current = synced()
    edit(current["course"], "or--k1", title="Algebra (renamed by hand)")
    entity, change = only_change(plan_of(desired, current))
    assert (entity, change["action"], change["course_id"]) == ("course", "update", 21)
    assert change["title"] == "Algebra I - 1"
    assert json.loads(change["detail"]) == {
        "title": {"from": "Algebra (renamed by hand)", "to": "Algebra I - 1"}
    }


def test_detail_writes_dates_flags_and_nulls_as_json_values():
    desired, current = synced()
    edit(desired["enrollment"], "or--e2", is_primary=False, end_date=date(2027, 6, 15))
    _, change = only_change(plan_of(desired, current))
    assert change["action"] == "update"
    assert json.loads(change["detail"]) == {
        "is_primary": {"from": True, "to": False},
        "end_date": {"from": None, "to": "2027-06-15"},
    }


def test_an_inactive_row_desired_active_is_reactivated():
    desired, current = synced()
    edit(current["user"], "or--u1", status="inactive")
    _, change = only_change(plan_of(desired, current))
    assert (change["action"], change["user_id"], change["status"]) == ("reactivate", 11, "active")
    assert json.loads(change["detail"]) == {"status": {"from": "inactive", "to": "active"}}


def test_a_withdrawn_enrollment_desired_active_is_reactivated():
    desired, current = synced()
    edit(current["enrollment"], "or--e1", status="withdrawn")
    _, change = only_change(plan_of(desired, current))
    assert (change["action"], change["enrollment_id"], change["status"]) == (
        "reactivate",
        31,
        "active",
    )


def test_a_row_desired_inactive_is_inactivated():
    desired, current = synced()
    edit(desired["user"], "or--t1", status="inactive")
    _, change = only_change(plan_of(desired, current))
    assert (change["action"], change["user_id"], change["status"]) == ("inactivate", 12, "inactive")
    assert json.loads(change["detail"]) == {"status": {"from": "active", "to": "inactive"}}


def test_a_user_whose_domain_changes_is_moved_keeping_the_user_id():
    desired, current = synced()
    edit(desired["user"], "or--u1", domain_external_id="or--s2", username="u1.south")
    _, change = only_change(plan_of(desired, current))
    assert (change["action"], change["user_id"], change["domain_id"]) == ("move", 11, 2)
    assert json.loads(change["detail"]) == {
        "domain_id": {"from": 1, "to": 2},
        "username": {"from": "u1", "to": "u1.south"},
    }


def test_a_course_whose_domain_changes_is_an_update_not_a_move():
    desired, current = synced()
    edit(desired["course"], "or--k1", domain_external_id="or--s2")
    _, change = only_change(plan_of(desired, current))
    assert (change["action"], change["domain_id"]) == ("update", 2)


def test_a_hand_made_row_given_a_managed_external_id_is_adopted():
    desired, current = synced()
    edit(current["user"], "or--u1", origin="manual", given_name="Samuel")
    _, change = only_change(plan_of(desired, current))
    assert (change["action"], change["user_id"], change["origin"]) == ("adopt", 11, "sync")
    assert change["given_name"] == "U1"
    assert json.loads(change["detail"]) == {"given_name": {"from": "Samuel", "to": "U1"}}


def test_adopting_a_hand_made_course_repoints_the_enrollments_to_it():
    # docs/explanation/course-hierarchy.md: give the managed course another external ID, and the hand-made one the managed ID
    desired, current = synced()
    edit(current["course"], "or--k1", external_id="retired-algebra")
    hand_made = lms_rows(world())["course"][0] | {"course_id": 77, "origin": "manual"}
    current["course"].append(hand_made)
    plan = plan_of(desired, current, Policy(courses="delete"))
    assert changes(plan, "course").select("course_id", "action").rows() == [(77, "adopt")]
    repointed = changes(plan, "enrollment").select("enrollment_id", "course_id", "action", "detail")
    assert repointed.rows() == [
        (31, 77, "update", '{"course_id":{"from":21,"to":77}}'),
        (32, 77, "update", '{"course_id":{"from":21,"to":77}}'),
    ]


def test_a_hand_made_row_equal_to_desired_is_still_adopted_with_an_empty_detail():
    desired, current = synced()
    edit(current["domain"], "or--s2", origin="manual")
    entity, change = only_change(plan_of(desired, current))
    assert (entity, change["action"], change["domain_id"]) == ("domain", "adopt", 2)
    assert (change["origin"], json.loads(change["detail"])) == ("sync", {})


# rows that left the SIS


GONE = {  # a managed lms row per entity that nothing else refers to, absent from world()
    "domain": {"domain_id": 9, "external_id": "or--s9", "name": "Closed", "kind": "school"},
    "user": {"user_id": 19, "external_id": "or--u9", "domain_id": 1, "role": "student"},
    "course": {"course_id": 29, "external_id": "or--k9", "domain_id": 1, "kind": "section"},
    "enrollment": {"enrollment_id": 39, "external_id": "or--e9", "user_id": 11, "course_id": 21},
    "observer": {"observer_id": 49, "external_id": "or--obs--p1--u9", "observer_user_id": 13},
    "resource": {"resource_id": 59, "external_id": "or--r9", "title": "Retired"},
    "class_resource": {"class_resource_id": 69, "external_id": "or--cr9", "resource_id": 51},
    "course_resource": {"course_resource_id": 79, "external_id": "or--kr9", "course_id": 21},
}


def with_gone(name: str, status: str = "active") -> tuple[Rows, Rows]:
    desired, current = synced()
    current[name].append(GONE[name] | {"tenant": TENANT, "status": status, "origin": "sync"})
    return desired, current


REMOVING_CHOICES = [
    (name, choice)
    for name, entity in ENTITIES.items()
    for choice in POLICY_CHOICES[entity.table]
    if choice != "keep"
]
NEW_STATUS = {"delete": "active", "inactivate": "inactive", "withdraw": "withdrawn"}


@pytest.mark.parametrize(("name", "choice"), REMOVING_CHOICES)
def test_a_managed_row_that_left_the_sis_gets_its_entitys_removing_policy(name, choice):
    plan = plan_of(*with_gone(name), Policy(**{ENTITIES[name].table: choice}))
    entity, change = only_change(plan)
    assert (entity, change["action"], change["status"]) == (name, choice, NEW_STATUS[choice])
    assert {field: change[field] for field in GONE[name]} == GONE[name]
    assert (change["tenant"], change["origin"]) == (TENANT, "sync")
    expected_detail = {"reason": "not in the feed"}
    if choice != "delete":
        expected_detail["status"] = {"from": "active", "to": NEW_STATUS[choice]}
    assert json.loads(change["detail"]) == expected_detail


@pytest.mark.parametrize(("name", "choice"), REMOVING_CHOICES)
def test_a_row_whose_record_was_marked_tobedeleted_says_so_in_its_detail(name, choice):
    """The same removal as a record missing from the feed, for its own reason."""
    desired, current = with_gone(name)
    # another active row gone, its record not marked; and a marked external ID with no row
    other = GONE[name] | {ENTITIES[name].id: 99, "external_id": GONE[name]["external_id"] + "x"}
    current[name].append(other | {"tenant": TENANT, "status": "active", "origin": "sync"})
    marked = {name: pl.Series([GONE[name]["external_id"], "or--nobody"])}

    plan = plan_of(desired, current, Policy(**{ENTITIES[name].table: choice}), marked)

    found = changes(plan, name)
    assert found.select("action", "status").unique().rows() == [(choice, NEW_STATUS[choice])]
    status = {} if choice == "delete" else {"status": {"from": "active", "to": NEW_STATUS[choice]}}
    assert [json.loads(detail) for detail in found["detail"]] == [
        status | {"reason": "marked tobedeleted"},
        status | {"reason": "not in the feed"},
    ]
    assert plan.change_count == 2


def test_what_a_marked_record_takes_along_is_deleted_for_its_own_reason():
    desired, current = synced()
    drop(desired["user"], "or--u1")
    drop(desired["enrollment"], "or--e1")
    drop(desired["observer"], "or--obs--p1--u1")
    marked = {"user": pl.Series(["or--u1"]), "enrollment": pl.Series(["or--e1"])}

    plan = plan_of(desired, current, Policy(users="delete"), marked)

    found = {
        name: changes(plan, name).select("external_id", "action", "detail").rows()
        for name in ("user", "enrollment", "observer")
    }
    cascaded = '{"reason":"a user or course it belongs to was deleted"}'
    assert found == {
        "user": [("or--u1", "delete", '{"reason":"marked tobedeleted"}')],
        "enrollment": [("or--e1", "delete", cascaded)],
        "observer": [("or--obs--p1--u1", "delete", cascaded)],
    }


@pytest.mark.parametrize(
    "name", [n for n, e in ENTITIES.items() if "keep" in POLICY_CHOICES[e.table]]
)
def test_a_managed_row_that_left_the_sis_is_kept_under_policy_keep(name):
    plan = plan_of(*with_gone(name), Policy(**{ENTITIES[name].table: "keep"}))
    assert plan.change_count == 0


def test_the_default_policy_inactivates_users_keeps_courses_and_deletes_observer_links():
    assert only_change(plan_of(*with_gone("user")))[1]["action"] == "inactivate"
    assert plan_of(*with_gone("course")).change_count == 0
    assert only_change(plan_of(*with_gone("observer")))[1]["action"] == "delete"


@pytest.mark.parametrize(
    ("name", "policy"),
    [
        ("user", Policy(users="inactivate")),
        ("enrollment", Policy(enrollments="inactivate")),
        ("enrollment", Policy(enrollments="withdraw")),
    ],
)
def test_a_departed_row_that_is_no_longer_active_is_left_alone(name, policy):
    assert plan_of(*with_gone(name, status="inactive"), policy).change_count == 0


def test_deleting_a_user_deletes_its_enrollments_and_observer_links():
    desired, current = synced()
    drop(desired["user"], "or--u1")
    drop(desired["enrollment"], "or--e1")
    drop(desired["observer"], "or--obs--p1--u1")
    # the links' own policies would keep them: the cascade deletes them regardless
    plan = plan_of(desired, current, Policy(users="delete", enrollments="keep", observers="keep"))
    found = {
        name: changes(plan, name).select(ENTITIES[name].id, "action", "detail").rows()
        for name in ("user", "enrollment", "observer")
    }
    cascaded = '{"reason":"a user or course it belongs to was deleted"}'
    assert found == {
        "user": [(11, "delete", '{"reason":"not in the feed"}')],
        "enrollment": [(31, "delete", cascaded)],
        "observer": [(41, "delete", cascaded)],
    }
    assert plan.change_count == 3  # the teacher's enrollment (e2) is untouched


def test_deleting_a_course_deletes_its_enrollments():
    desired, current = synced()
    drop(desired["course"], "or--k1")
    drop(desired["enrollment"], "or--e1", "or--e2")
    plan = plan_of(desired, current, Policy(courses="delete", enrollments="keep"))
    assert changes(plan, "enrollment").select("enrollment_id", "action").rows() == [
        (31, "delete"),
        (32, "delete"),
    ]


def test_inactivating_a_user_leaves_its_enrollments_and_links_to_their_own_policy():
    desired, current = synced()
    drop(desired["user"], "or--u1")
    drop(desired["enrollment"], "or--e1")
    drop(desired["observer"], "or--obs--p1--u1")
    plan = plan_of(desired, current, Policy(users="inactivate", enrollments="keep"))
    assert changes(plan, "user").select("user_id", "action").rows() == [(11, "inactivate")]
    assert changes(plan, "enrollment").is_empty()
    assert changes(plan, "observer").select("observer_id", "action").rows() == [(41, "delete")]


# hand-made rows


def test_hand_made_rows_are_never_changed_or_removed():
    _, current = synced()
    hand_made = {"tenant": TENANT, "status": "active", "origin": "manual"}
    current["user"] += [
        hand_made | {"user_id": 91, "external_id": None, "domain_id": 1, "email": "x@y"},
        hand_made | {"user_id": 92, "external_id": "sis-7", "domain_id": 1},
        hand_made | {"user_id": 93, "external_id": "OR--u1", "domain_id": 1},
    ]
    current["enrollment"].append(
        hand_made | {"enrollment_id": 94, "external_id": "aide-1", "user_id": 91, "course_id": 21}
    )
    everything_deleted = Policy(**dict.fromkeys(POLICY_CHOICES, "delete"))
    plan = plan_of({}, current, everything_deleted)
    deleted = {
        name: sorted(changes(plan, name)[ENTITIES[name].id]) for name in ("user", "enrollment")
    }
    assert deleted == {"user": [11, 12, 13], "enrollment": [31, 32]}
    assert set(pl.concat(p.changes["action"] for p in plan.entities.values())) == {"delete"}


def test_managed_active_counts_only_managed_rows_that_are_active():
    desired, current = synced()
    edit(current["user"], "or--p1", status="inactive")
    current["user"].append(
        {"user_id": 91, "tenant": TENANT, "external_id": "sis-7", "status": "active"}
    )
    plan = plan_of(desired, current)
    assert plan.entities["user"].managed_active == 2


# the warehouse state the sync refuses to guess about


def test_two_current_rows_with_one_managed_external_id_are_refused():
    desired, current = synced()
    current["user"].append(lms_rows(world())["user"][0] | {"user_id": 99})
    with pytest.raises(PlanError, match=r"lms\.users has 1 managed external ID\(s\) .*'or--u1'"):
        plan_of(desired, current)


def test_a_repeated_managed_external_id_is_refused_even_when_the_sis_no_longer_sends_it():
    desired, current = synced()
    current["domain"].append(lms_rows(world())["domain"][1] | {"domain_id": 99})
    drop(desired["domain"], "or--s2")
    with pytest.raises(PlanError, match=r"lms\.domains .*'or--s2'"):
        plan_of(desired, current, Policy(domains="delete"))


def test_a_repeated_domain_is_named_as_the_problem_not_the_users_placed_in_it():
    desired, current = synced()
    current["domain"].append(lms_rows(world())["domain"][0] | {"domain_id": 99})
    with pytest.raises(PlanError, match=r"lms\.domains .*'or--s1'"):
        plan_of(desired, current)


# summary


def test_summary_counts_changes_per_entity_in_dependency_order_and_action():
    desired, current = synced()
    desired["user"].append(user("u3"))
    edit(desired["user"], "or--u1", email="sam@example.org")
    edit(current["course"], "or--k1", title="edited")
    desired["enrollment"].append(enrollment("e3", "u3", "k1"))
    drop(desired["enrollment"], "or--e2")
    plan = plan_of(desired, current, Policy(enrollments="delete"))
    expected = pl.DataFrame(
        {
            "entity": ["user", "user", "course", "enrollment", "enrollment"],
            "action": ["create", "update", "update", "create", "delete"],
            "count": pl.Series([1, 1, 1, 1, 1], dtype=pl.UInt32),
        }
    )
    assert_frame_equal(plan.summary(), expected)
    assert plan.change_count == 5
