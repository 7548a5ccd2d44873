"""A first load plans its creates directly: an entity with no current row has every desired row
created (`transforms.plan._plan_creates`) without the full join. The plan must be exactly the
one the join gives on the same state: same rows, ids, references, actions, detail, managed
counts, audit rows and created id ranges.

Each plan is compared with the plan of the same state with the join always taken
(`_plan_joined` in place of `plan_entity`), on random desired and current states (an entity
without current rows takes the direct path, the others the join) and on generated districts
planned in full by `plan_run`, as a first sync plans them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.demo.district import generate_feed
from rosterflow.schemas.changes import Plan
from rosterflow.schemas.lms import ENTITIES, desired_schema
from rosterflow.schemas.reads import answered
from rosterflow.schemas.settings import Hierarchy, Identity, Settings
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.transforms import incremental
from rosterflow.transforms import plan as plan_module
from rosterflow.transforms.planning import plan_run
from tests.states import LiteralCurrent, records
from tests.transforms.test_plan_properties import (
    POLICIES,
    TENANT,
    Scenario,
    desired_states,
    plan_of,
    scenarios,
)

FIRST_RUN = "the tenant's first run: nothing stored to compare with"


@contextmanager
def joined_always() -> Iterator[None]:
    """Every entity planned by the full join, even one without current rows."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plan_module, "plan_entity", plan_module._plan_joined)
        patch.setattr(incremental, "plan_entity", plan_module._plan_joined)
        yield


def assert_same_plan(direct: Plan, joined: Plan) -> None:
    assert direct.tenant == joined.tenant
    assert list(direct.entities) == list(joined.entities)
    for name, entity_plan in direct.entities.items():
        other = joined.entities[name]
        assert entity_plan.managed_active == other.managed_active, name
        key = entity_plan.entity.id
        # apply and audit do not depend on the order of a plan's rows
        assert_frame_equal(entity_plan.changes.sort(key), other.changes.sort(key))
    assert_frame_equal(direct.summary(), joined.summary())
    order = ("entity", "entity_id")
    assert_frame_equal(direct.audit_rows(9).sort(order), joined.audit_rows(9).sort(order))
    assert_frame_equal(direct.created_ids(), joined.created_ids())


def empty_current() -> dict[str, pl.DataFrame]:
    return {name: pl.DataFrame(schema=entity.schema) for name, entity in ENTITIES.items()}


@st.composite
def first_loads(draw) -> Scenario:
    """A desired state against a tenant with no lms row, ids free from anywhere (other
    tenants may hold the ids below)."""
    desired = draw(desired_states())
    return Scenario(
        {n: pl.DataFrame(desired[n], schema=desired_schema(e)) for n, e in ENTITIES.items()},
        empty_current(),
        {name: draw(st.integers(1, 40)) for name in ENTITIES},
        draw(POLICIES),
    )


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(first_loads())
def test_a_first_load_plans_what_the_join_plans(scenario):
    direct = scenario.plan()
    with joined_always():
        joined = scenario.plan()
    assert_same_plan(direct, joined)
    for entity_plan in direct.entities.values():
        assert set(entity_plan.changes["action"]) <= {"create"}


@pytest.mark.slow  # (5-6 s; the first load alone is planned in the README's command)
@settings(max_examples=40, deadline=None)
@given(scenarios())
def test_entities_without_current_rows_plan_what_the_join_plans_among_others(scenario):
    """Some entities of a scenario have current rows and some none (their desired rows point
    at rows the join planned, updated or deleted): the plan is the join's all the same."""
    direct = plan_of(scenario.desired, scenario.current, scenario.next_ids, scenario.policy)
    with joined_always():
        joined = plan_of(scenario.desired, scenario.current, scenario.next_ids, scenario.policy)
    assert_same_plan(direct, joined)


SETTINGS = {
    "default": Settings(),
    "no base courses": Settings(
        hierarchy=Hierarchy(org_base_courses=False, session_base_courses=False)
    ),
    "login by email, adopting by email": Settings(identity=Identity(key="email", adopt_by="email")),
}


@pytest.mark.slow
@pytest.mark.parametrize(("students", "seed"), [(25, 0), (180, 3), (600, 11)])
@pytest.mark.parametrize("config", list(SETTINGS))
def test_a_generated_district_planned_in_full_into_an_empty_tenant_is_the_joins_plan(
    students, seed, config
):
    source = records(generate_feed(students, seed=seed), run_id=1)
    modes = dict.fromkeys(SYNCED_FILES, "bulk")
    first_free = {name: 1 + 1_000 * position for position, name in enumerate(ENTITIES)}

    def planned() -> Plan:
        run = answered(
            plan_run(TENANT, source, modes, SETTINGS[config], first_free, FIRST_RUN),
            LiteralCurrent(empty_current()).answer,
        )
        return run.plan

    direct = planned()
    with joined_always():
        joined = planned()
    assert_same_plan(direct, joined)
    assert direct.change_count == sum(p.changes.height for p in joined.entities.values()) > 0
