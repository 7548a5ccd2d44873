"""The explanation pages against the code they explain: what docs/explanation/sync.md says a
change set holds is every action and every reason the planner writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rosterflow.schemas.changes import ACTIONS
from rosterflow.schemas.lms import ENTITIES
from rosterflow.transforms import plan

ROOT = Path(__file__).resolve().parents[2]
SYNC_PAGE = ROOT / "docs/explanation/sync.md"


def reasons_the_planner_writes() -> set[str]:
    """Every `reason` a removal's detail can hold: the record marked or gone, or the row deleted
    with what it belongs to (worded per entity)."""
    cascaded = {
        f"{plan._belongs_to(entity)} it belongs to was deleted" for entity in ENTITIES.values()
    }
    return {plan.REASON_MARKED, plan.REASON_GONE} | cascaded


def page_text() -> str:
    """The page with its lines joined, as a reader sees a sentence that wraps."""
    return " ".join(SYNC_PAGE.read_text().split())


@pytest.mark.parametrize("reason", sorted(reasons_the_planner_writes()))
def test_the_sync_page_names_every_reason_a_removal_gives(reason):
    assert f"`{reason}`" in page_text()


@pytest.mark.parametrize("action", ACTIONS)
def test_the_sync_page_explains_every_action_of_a_change_set(action):
    rows = re.findall(r"^\| (.+?) \| .+ \|$", SYNC_PAGE.read_text(), re.MULTILINE)
    assert any(f"`{action}`" in row for row in rows), rows
