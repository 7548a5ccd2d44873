"""notebooks/roster_history.py's student search where a name's accents are stored otherwise
than typed: a SIS may send `José` as `Jose` and a combining acute accent (U+0301), which
prints as the `José` a keyboard types (one character, U+00E9), and the search must find each
by the other."""

from __future__ import annotations

from pathlib import Path

import pytest

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district, with_cell
from tests.notebooks.school_changes import roster_history_run

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

DECOMPOSED = "Jose\u0301"  # u-s1's given name as the SIS sent it
COMPOSED = "Zo\u00eb"  # u-s2's


@pytest.fixture(scope="module")
def students_found(tmp_path_factory):
    """The sourcedIds the notebook's student search finds for each text searched."""
    folder: Path = tmp_path_factory.mktemp("accents")
    district = with_cell(tiny_district(), "users", 2, "givenName", DECOMPOSED)
    district = with_cell(district, "users", 3, "givenName", COMPOSED)
    warehouse = folder / "rosterflow.duckdb"
    result = run_sync(write_feed(folder / "d.zip", district), warehouse, Settings(), "t")
    assert result.outcome == "applied", result.message
    with roster_history_run(warehouse, "notebook_roster_history_accents") as (module, defs):

        def found(search: str) -> set[str]:
            rows = module.WAREHOUSE.query(defs["STUDENTS_SQL"], tenant="t", search=search)
            return set(rows["external_id"])

        yield found


@pytest.mark.parametrize(
    ("search", "student"),
    [
        ("Jos\u00e9", "or--u-s1"),  # typed composed, sent decomposed
        ("JOS\u00c9", "or--u-s1"),  # in capitals too
        (DECOMPOSED, "or--u-s1"),
        ("Zoe\u0308", "or--u-s2"),  # typed decomposed (as macOS may paste it), sent composed
        (COMPOSED, "or--u-s2"),
    ],
)
def test_a_name_is_found_however_its_accents_are_stored(students_found, search, student):
    assert students_found(search) == {student}
