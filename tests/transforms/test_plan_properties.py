"""Properties of the change set, on small random desired and current states (no warehouse).

A scenario is a desired state (a few domains, users, courses, enrollments and observer links
whose references all name desired rows), the tenant's current lms rows drawn against it (rows
as a run left them, hand edits, adoptions, rows the SIS no longer sends, hand-made rows), the
next free ids and a policy. `apply_in_memory` applies a plan as warehouse/apply.py does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.schemas.changes import REMOVALS, Plan, PlanError
from rosterflow.schemas.lms import ENTITIES, MANAGED_PREFIX, Entity, desired_schema, external_column
from rosterflow.schemas.reads import answered
from rosterflow.schemas.settings import POLICY_CHOICES, Policy
from rosterflow.transforms.plan import plan_changes
from tests.states import LiteralCurrent

TENANT = "district-7"
RUN_ID = 7  # the run that applied the first plan (apply writes it to updated_run_id)

Rows = dict[str, list[dict]]
Frames = dict[str, pl.DataFrame]

# how many records of each kind the SIS may know of, and how their sourcedIds look
SIZES = {
    "domain": 3,
    "user": 5,
    "course": 4,
    "enrollment": 5,
    "resource": 3,
    "class_resource": 4,
    "course_resource": 4,
}
LETTERS = {
    "domain": "d",
    "user": "u",
    "course": "k",
    "enrollment": "e",
    "resource": "r",
    "class_resource": "a",
    "course_resource": "b",
}
# the values of the owned fields that are neither references nor status: few, so that a
# hand edit or a departed row often agrees with what is desired
CHOICES: dict[str, dict[str, tuple]] = {
    "domain": {"name": ("North", "South"), "kind": ("district", "school")},
    "user": {
        "role": ("student", "teacher", "parent"),
        "username": ("ada", "bo"),
        "given_name": ("Ada", "Bo"),
        "family_name": ("Stone",),
        "email": (None, "ada@example.org"),
        "grade_level": (None, "09", "NA"),
        "login": (None, "u1", "ada"),
    },
    "course": {"kind": ("section", "org_base"), "title": ("Algebra", "Biology")},
    "enrollment": {
        "role": ("student", "teacher"),
        "is_primary": (False, True),
        "begin_date": (date(2026, 8, 15), date(2027, 1, 5)),
        "end_date": (None, date(2027, 6, 15)),
    },
    "observer": {"relationship": ("parent", "guardian")},
    "resource": {
        "vendor_resource_id": ("VR-1", "VR-2"),
        "title": ("Algebra (digital)", None),
        "roles": ("student,teacher", None),
        "importance": ("primary", "secondary"),
        "vendor_id": ("publisher",),
        "application_id": (None, "app-1"),
    },
    "class_resource": {"title": ("Algebra", None)},
    "course_resource": {"title": ("Algebra", "Biology")},
}
DESIRED_STATUSES = ("active", "inactive")
LMS_STATUSES = ("active", "inactive", "withdrawn")
# external IDs a person typed: none of them starts with "or-"
HAND_MADE_IDS = (None, "", "sis-7", "OR--u1", "or_u1", " or--u1")


def external_id(name: str, index: int) -> str:
    return f"or--{LETTERS[name]}{index}"


def link_id(observer: str, student: str) -> str:
    """The external ID of an observer link between two users, named by external ID."""
    return f"or--obs--{observer.removeprefix('or--')}--{student.removeprefix('or--')}"


def universe(name: str) -> list[str]:
    """Every managed external ID of `name` a scenario may use."""
    if name == "observer":
        users = universe("user")
        return [link_id(o, s) for o in users for s in users if o != s]
    return [external_id(name, i) for i in range(SIZES[name])]


def is_managed(external: pl.Expr) -> pl.Expr:
    return external.str.starts_with(MANAGED_PREFIX).fill_null(False)


# desired state


@st.composite
def desired_rows(draw, name: str, external: str, references: dict[str, list]) -> dict:
    """A desired row whose reference fields name one of the external IDs offered."""
    return (
        {"external_id": external}
        | {external_column(f): draw(st.sampled_from(ids)) for f, ids in references.items()}
        | {f: draw(st.sampled_from(values)) for f, values in CHOICES[name].items()}
        | {"status": draw(st.sampled_from(DESIRED_STATUSES))}
    )


def some(candidates: list, max_size: int | None = None) -> st.SearchStrategy[list]:
    """A subset of `candidates`, in their order."""
    if not candidates:
        return st.just([])
    return st.sets(st.sampled_from(candidates), max_size=max_size).map(
        lambda picked: [c for c in candidates if c in picked]
    )


@st.composite
def desired_states(draw) -> Rows:
    """Domains in a tree, users and courses placed in them (a course maybe derived from an
    earlier one), enrollments of desired users in desired courses, links between two users,
    resources and their assignments to desired courses."""
    domains = draw(some(universe("domain")))
    rows: Rows = {"domain": []}
    for position, domain in enumerate(domains):
        parents = [None, *domains[:position]]
        rows["domain"].append(draw(desired_rows("domain", domain, {"parent_domain_id": parents})))
    users = draw(some(universe("user") if domains else []))
    rows["user"] = [draw(desired_rows("user", u, {"domain_id": domains})) for u in users]
    courses = draw(some(universe("course") if domains else []))
    rows["course"] = [
        draw(
            desired_rows(
                "course",
                course,
                {"domain_id": domains, "base_course_id": [None, *courses[:position]]},
            )
        )
        for position, course in enumerate(courses)
    ]
    enrollments = draw(some(universe("enrollment") if users and courses else []))
    rows["enrollment"] = [
        draw(desired_rows("enrollment", e, {"user_id": users, "course_id": courses}))
        for e in enrollments
    ]
    pairs = [(o, s) for o in users for s in users if o != s]
    rows["observer"] = [
        draw(
            desired_rows(
                "observer", link_id(o, s), {"observer_user_id": [o], "student_user_id": [s]}
            )
        )
        for o, s in draw(some(pairs, max_size=4))
    ]
    resources = draw(some(universe("resource")))
    rows["resource"] = [draw(desired_rows("resource", r, {})) for r in resources]
    for name in ("class_resource", "course_resource"):
        assigned = draw(some(universe(name) if resources and courses else []))
        rows[name] = [
            draw(desired_rows(name, a, {"resource_id": resources, "course_id": courses}))
            for a in assigned
        ]
    return rows


# current state


def any_value(entity: Entity, field: str, ids: dict[str, list[int]]) -> st.SearchStrategy:
    """Whatever a hand edit (or an older feed) may have left in a field of an lms row."""
    if field == "status":
        return st.sampled_from(LMS_STATUSES)
    if field in entity.references:
        return st.sampled_from([None, *ids[entity.references[field]]])
    return st.sampled_from(CHOICES[entity.name][field])


@st.composite
def current_states(draw, desired: Rows) -> tuple[Rows, dict[str, int]]:
    """The tenant's lms rows and the next free id of each entity. Managed rows: some desired
    rows as a run left them, maybe hand-edited or hand-made (origin manual); some rows the SIS
    no longer sends. Hand-made rows: external IDs that do not start with "or-"."""
    rows: Rows = {}
    ids: dict[str, list[int]] = {}  # every row's id, per entity
    managed_ids: dict[str, dict[str, int]] = {}  # external ID -> id, per entity
    next_ids: dict[str, int] = {}
    for name, entity in ENTITIES.items():
        wanted = {row["external_id"]: row for row in desired[name]}
        synced = draw(some(list(wanted)))
        departed = draw(some([e for e in universe(name) if e not in wanted], max_size=3))
        hand_made = draw(st.lists(st.sampled_from(HAND_MADE_IDS), max_size=2))
        externals = [*synced, *departed, *hand_made]
        ids[name] = draw(
            st.lists(
                st.integers(1, 40), unique=True, min_size=len(externals), max_size=len(externals)
            )
        )
        managed_ids[name] = dict(zip(synced + departed, ids[name], strict=False))
        next_ids[name] = max(ids[name], default=0) + 1 + draw(st.integers(0, 3))
        rows[name] = []
        for external, id_ in zip(externals, ids[name], strict=True):
            if external in wanted:
                row = as_synced(draw, entity, wanted[external], ids, managed_ids)
                edited = draw(st.sets(st.sampled_from(entity.owned), max_size=2))
                origin = draw(st.sampled_from(("sync", "manual")))  # manual: to be adopted
            else:
                row = {}
                edited = set(entity.owned)
                origin = (
                    "manual" if external in hand_made else draw(st.sampled_from(("sync", "manual")))
                )
            row |= {f: draw(any_value(entity, f, ids)) for f in sorted(edited)}
            rows[name].append(
                row
                | {
                    entity.id: id_,
                    "tenant": TENANT,
                    "external_id": external,
                    "origin": origin,
                    "updated_run_id": draw(st.sampled_from((None, 1, 2))),
                }
            )
    return rows, next_ids


def as_synced(draw, entity: Entity, row: dict, ids: dict, managed_ids: dict) -> dict:
    """The owned fields of `row` as a run applying it left them: references become the ids of
    the rows they name (rows not in lms yet: whatever id the field happens to hold)."""
    synced = {}
    for field in entity.owned:
        if field not in entity.references:
            synced[field] = row[field]
            continue
        target, named = entity.references[field], row[external_column(field)]
        if named is None:
            synced[field] = None
        elif named in managed_ids[target]:
            synced[field] = managed_ids[target][named]
        else:
            synced[field] = draw(any_value(entity, field, ids))
    return synced


POLICIES = st.builds(
    Policy, **{table: st.sampled_from(choices) for table, choices in POLICY_CHOICES.items()}
)


@dataclass(frozen=True)
class Scenario:
    desired: Frames
    current: Frames
    next_ids: dict[str, int]
    policy: Policy

    def plan(self) -> Plan:
        return plan_of(self.desired, self.current, self.next_ids, self.policy)


NOTHING = Scenario(  # no desired row, no lms row
    {n: pl.DataFrame(schema=desired_schema(e)) for n, e in ENTITIES.items()},
    {n: pl.DataFrame(schema=e.schema) for n, e in ENTITIES.items()},
    dict.fromkeys(ENTITIES, 1),
    Policy(),
)


@st.composite
def scenarios(draw) -> Scenario:
    desired = draw(desired_states())
    current, next_ids = draw(current_states(desired))
    return Scenario(
        {n: pl.DataFrame(desired[n], schema=desired_schema(e)) for n, e in ENTITIES.items()},
        {n: pl.DataFrame(current[n], schema=e.schema) for n, e in ENTITIES.items()},
        next_ids,
        draw(POLICIES),
    )


# planning and applying


def plan_of(desired: Frames, current: Frames, next_ids: dict[str, int], policy: Policy) -> Plan:
    # plan_changes consumes the dict of desired frames, not the frames
    return answered(
        plan_changes(TENANT, dict(desired), next_ids, policy), LiteralCurrent(current).answer
    )


def apply_in_memory(current: Frames, plan: Plan) -> Frames:
    """The lms rows after applying `plan`, as warehouse/apply.py writes them: rows with action
    delete go, other non-create actions overwrite every column but the id, tenant and external
    ID, creates are inserted; the rows written get the run's id."""
    after = {}
    for name, entity in ENTITIES.items():
        changes = plan.entities[name].changes
        action = pl.col("action")
        written = changes.with_columns(pl.lit(RUN_ID, pl.Int64).alias("updated_run_id"))
        updated = (
            written.filter(~action.is_in(["create", "delete"]))
            .drop("tenant", "external_id")
            .join(current[name].select(entity.id, "tenant", "external_id"), on=entity.id)
        )
        after[name] = pl.concat(
            [
                current[name].join(changes.select(entity.id), on=entity.id, how="anti"),
                updated.select(entity.columns),
                written.filter(action == "create").select(entity.columns),
            ]
        )
    return after


def next_ids_of(frames: Frames) -> dict[str, int]:
    return {n: (frames[n][ENTITIES[n].id].max() or 0) + 1 for n in ENTITIES}


def all_changes(plan: Plan) -> pl.DataFrame:
    return pl.concat(
        p.changes.select(
            pl.lit(name).alias("entity"), pl.col(p.entity.id).alias("id"), "external_id", "action"
        )
        for name, p in plan.entities.items()
    )


def hand_made(frame: pl.DataFrame, entity: Entity) -> pl.DataFrame:
    return frame.filter(~is_managed(pl.col("external_id"))).sort(entity.id)


def cascaded(current: Frames, plan: Plan) -> dict[str, pl.Series]:
    """Per entity, the external IDs of managed lms rows that point at a user, course or
    resource the plan deletes (docs/explanation/sync.md: they are deleted with it)."""
    deleted = {
        name: plan.entities[name].changes.filter(pl.col("action") == "delete")[e.id]
        for name, e in ENTITIES.items()
        if name in ("user", "course", "resource")
    }
    found = {}
    for name, entity in ENTITIES.items():
        points_at_deleted = [
            pl.col(field).is_in(deleted[target].implode())
            for field, target in entity.references.items()
            if target in deleted and target != name
        ]
        found[name] = (
            current[name]
            .filter(
                is_managed(pl.col("external_id")),
                pl.any_horizontal(points_at_deleted) if points_at_deleted else pl.lit(False),
            )
            .get_column("external_id")
        )
    return found


def desired_in_lms(desired: Frames, lms: Frames, name: str) -> pl.DataFrame:
    """The desired rows of `name` as lms rows stating them hold them: every reference to the id
    lms has for the external ID it names; by external ID."""
    entity = ENTITIES[name]
    rows = desired[name]
    for field, target in entity.references.items():
        ids = (
            lms[target]
            .filter(is_managed(pl.col("external_id")))
            .select(
                pl.col("external_id").alias(external_column(field)),
                pl.col(ENTITIES[target].id).alias(field),
            )
        )
        rows = rows.join(ids, on=external_column(field), how="left")
    return rows.select("external_id", *entity.owned, pl.lit("sync").alias("origin")).sort(
        "external_id"
    )


def stated(lms: Frames, desired: Frames, name: str) -> pl.DataFrame:
    """The lms rows of `name` whose external ID the desired state names, by external ID."""
    return (
        lms[name]
        .join(desired[name], on="external_id", how="semi")
        .select("external_id", *ENTITIES[name].owned, "origin")
        .sort("external_id")
    )


# properties


@settings(max_examples=35, deadline=None)
@given(scenarios())
@example(NOTHING)
def test_a_plan_once_applied_leaves_lms_as_desired_and_nothing_to_plan(scenario):
    first = scenario.plan()
    after = apply_in_memory(scenario.current, first)
    for name in ENTITIES:
        assert_frame_equal(
            stated(after, scenario.desired, name), desired_in_lms(scenario.desired, after, name)
        )
    again = plan_of(scenario.desired, after, next_ids_of(after), scenario.policy)
    assert again.change_count == 0, all_changes(again)


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(scenarios())
def test_hand_made_rows_are_never_planned_and_stay_as_they_were(scenario):
    plan = scenario.plan()
    changed = all_changes(plan)
    assert changed.filter(~is_managed(pl.col("external_id"))).is_empty()
    after = apply_in_memory(scenario.current, plan)
    for name, entity in ENTITIES.items():
        assert_frame_equal(
            hand_made(after[name], entity), hand_made(scenario.current[name], entity)
        )


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(scenarios())
def test_new_rows_take_the_next_free_ids_and_managed_rows_keep_theirs(scenario):
    plan = scenario.plan()
    after = apply_in_memory(scenario.current, plan)
    for name, entity in ENTITIES.items():
        first = scenario.next_ids[name]
        created = plan.entities[name].changes.filter(pl.col("action") == "create")
        # distinct, from next_ids on, in external-ID order: never an id lms already has
        assert created.sort("external_id")[entity.id].to_list() == list(
            range(first, first + created.height)
        )
        assert not set(created[entity.id]) & set(scenario.current[name][entity.id])
        managed_before = scenario.current[name].filter(is_managed(pl.col("external_id")))
        kept = managed_before.join(after[name], on="external_id", suffix="_after")
        assert kept[entity.id].to_list() == kept[entity.id + "_after"].to_list()


def shuffled(frames: Frames, rng: random.Random) -> Frames:
    return {
        name: frame[rng.sample(range(frame.height), frame.height)] for name, frame in frames.items()
    }


@pytest.mark.slow  # (3-9 s)
@settings(max_examples=25, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_the_order_of_rows_changes_nothing(scenario, rng):
    plan = scenario.plan()
    reordered = plan_of(
        shuffled(scenario.desired, rng),
        shuffled(scenario.current, rng),
        scenario.next_ids,
        scenario.policy,
    )
    for name, entity in ENTITIES.items():
        assert_frame_equal(
            reordered.entities[name].changes.sort(entity.id, "external_id"),
            plan.entities[name].changes.sort(entity.id, "external_id"),
        )


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(scenarios())
def test_only_rows_the_sis_left_are_removed_and_only_as_the_policy_says(scenario):
    plan = scenario.plan()
    gone = cascaded(scenario.current, plan)
    action = pl.col("action")
    for name, entity in ENTITIES.items():
        desired = scenario.desired[name].select(
            "external_id", pl.col("status").alias("desired_status"), pl.lit(True).alias("desired")
        )
        unexplained = (
            plan.entities[name]
            .changes.filter(action.is_in(REMOVALS))
            .join(desired, on="external_id", how="left")
            .filter(
                # a cascade deletes only rows the SIS no longer states (the others are
                # re-pointed by their update)
                ~(action == "delete")
                | ~pl.col("external_id").is_in(gone[name].implode())
                | pl.col("desired").is_not_null(),
                pl.col("desired").is_null() & (action != getattr(scenario.policy, entity.table))
                | pl.col("desired")
                & ((action != "inactivate") | (pl.col("desired_status") != "inactive")),
            )
        )
        assert unexplained.is_empty(), unexplained
        # and a row the SIS no longer sends does go with the user, course or resource it points at
        kept = scenario.current[name].filter(
            pl.col("external_id").is_in(gone[name].implode()),
            ~pl.col("external_id").is_in(desired["external_id"].implode()),
            ~pl.col(entity.id).is_in(plan.entities[name].changes[entity.id].implode()),
        )
        assert kept.is_empty(), kept


# the bug the fixed point found


def literal_frames(rows: Rows, schema_of) -> Frames:
    return {n: pl.DataFrame(rows.get(n, []), schema=schema_of(e)) for n, e in ENTITIES.items()}


def test_a_desired_enrollment_whose_row_points_at_a_deleted_user_is_repointed_not_deleted():
    # the SIS moved enrollment e0 from student u9 (who left) to student u0: e.g. a merge of
    # two records of one student, or a hand edit of the enrollment's user_id
    active = {"status": "active"}
    desired = literal_frames(
        {
            "user": [{"external_id": "or--u0"} | active],
            "course": [{"external_id": "or--k0"} | active],
            "enrollment": [
                {
                    "external_id": "or--e0",
                    "user_external_id": "or--u0",
                    "course_external_id": "or--k0",
                }
                | active
            ],
        },
        desired_schema,
    )
    synced = {"tenant": TENANT, "origin": "sync"} | active
    current = literal_frames(
        {
            "user": [
                {"user_id": 10, "external_id": "or--u0"} | synced,
                {"user_id": 19, "external_id": "or--u9"} | synced,
            ],
            "course": [{"course_id": 20, "external_id": "or--k0"} | synced],
            "enrollment": [
                {"enrollment_id": 30, "external_id": "or--e0", "user_id": 19, "course_id": 20}
                | synced
            ],
        },
        lambda e: e.schema,
    )
    plan = plan_of(desired, current, dict.fromkeys(ENTITIES, 100), Policy(users="delete"))
    assert plan.entities["user"].changes.select("user_id", "action").rows() == [(19, "delete")]
    # (it was deleted with u9, and the next run created it again under a new id)
    assert plan.entities["enrollment"].changes.select(
        "enrollment_id", "user_id", "action"
    ).rows() == [(30, 10, "update")]


# the state the sync refuses to guess about


@pytest.mark.parametrize("name", list(ENTITIES))
def test_a_managed_external_id_on_two_rows_is_refused_but_a_repeated_hand_made_one_is_not(name):
    entity = ENTITIES[name]
    row = {"tenant": TENANT, "status": "active", "origin": "sync"}
    empty = {n: pl.DataFrame(schema=desired_schema(e)) for n, e in ENTITIES.items()}
    current = {n: pl.DataFrame(schema=e.schema) for n, e in ENTITIES.items()}
    next_ids = dict.fromkeys(ENTITIES, 10)
    current[name] = pl.DataFrame(
        [
            row | {entity.id: 1, "external_id": "sis-7"},
            row | {entity.id: 2, "external_id": "sis-7"},
        ],
        schema=entity.schema,
    )
    assert plan_of(empty, current, next_ids, Policy()).change_count == 0
    current[name] = pl.DataFrame(
        [
            row | {entity.id: 3, "external_id": "or--x1"},
            row | {entity.id: 4, "external_id": "or--x1"},
        ],
        schema=entity.schema,
    )
    with pytest.raises(PlanError, match=rf"lms\.{entity.table} .*'or--x1'"):
        plan_of(empty, current, next_ids, Policy())
