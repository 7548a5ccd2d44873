"""QA of the safety guards' messages: the adoption share is shown as precisely as the removal
shares, so that a share just above its limit does not read as the limit itself."""

from __future__ import annotations

import polars as pl

from rosterflow.schemas.changes import EntityPlan, Plan
from rosterflow.schemas.lms import ENROLLMENT, USER
from rosterflow.schemas.settings import Identity, Safety
from rosterflow.transforms.adoption import MATCH_SCHEMA, Adoption
from rosterflow.transforms.guard import refusal
from tests.transforms.test_guard import CHANGE_SCHEMA, NO_RELOGINS, NO_SCHOOLS

NO_CHANGES = pl.DataFrame(schema=CHANGE_SCHEMA)


def adopting(adopted: int, tenant_users: int) -> Adoption:
    """`adopted` accounts made by hand taken over, of the tenant's `tenant_users` users."""
    return Adoption(
        matches=pl.DataFrame(
            {
                "user_id": range(9000, 9000 + adopted),
                "external_id": [f"or--u{i}" for i in range(adopted)],
                "external_id_before": [f"hand-{i}" for i in range(adopted)],
            },
            schema=MATCH_SCHEMA,
        ),
        tenant_users=tenant_users,
    )


def held_for_adoptions(adoption: Adoption, limit: float) -> str | None:
    nothing_removed = Plan(
        "district",
        {
            "user": EntityPlan(USER, NO_CHANGES, 100),
            "enrollment": EntityPlan(ENROLLMENT, NO_CHANGES, 100),
        },
    )
    return refusal(
        nothing_removed,
        NO_SCHOOLS,
        NO_RELOGINS,
        Safety(max_adoption_share=limit),
        Identity(key="username", adopt_by="username"),
        adoption,
    )


def test_an_adoption_share_just_above_its_limit_reads_above_it():
    """201 of 1,000 is above 0.2: shown as 20%, the message read as held at the limit."""
    message = held_for_adoptions(adopting(201, 1000), 0.2)

    assert message is not None
    assert "would adopt 201 of the tenant's 1,000 users (20.1%)" in message
    assert "above [safety] max_adoption_share = 0.2" in message


def test_an_adoption_share_above_a_limit_under_one_percent_shows_its_decimals():
    message = held_for_adoptions(adopting(9, 1000), 0.005)

    assert message is not None and "(0.9%)" in message


def test_an_adoption_share_at_its_limit_is_not_held():
    assert held_for_adoptions(adopting(3, 10), 0.3) is None
    assert held_for_adoptions(adopting(3, 10), 0.29) is not None
