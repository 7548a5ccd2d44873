"""docs/how-to/query.md: every SQL recipe runs as written, with the parameters the page gives
it, against a warehouse syncs wrote (tests/notebooks/school_changes.py), and answers its
question there: a deleted section's roster, a school deleted since, a status change or a name
change that is no school change, a version made by hand, a date's end."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import ModuleType

import duckdb
import polars as pl
import pytest

from tests.notebooks.school_changes import (
    ADOPTED,
    DELETED_SECTION,
    FIRST_DAY,
    LAST_DAY,
    LEAVER,
    RENAMED,
    RETURNER,
    SCHOOL_NAMES,
    SECOND_DAY,
    TENANT,
    TIMES,
    roster_history_run,
)

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs/how-to/query.md"
MADISON, EMERSON, RIVERSIDE = SCHOOL_NAMES.values()


@dataclass(frozen=True)
class Recipe:
    sql: str
    params: dict  # the `params={...}` the page gives below it


def recipes() -> list[Recipe]:
    """Each SQL block of the page, with the parameters in the paragraph after it."""
    found = re.findall(r"```sql\n(.*?)```\n\n([^\n]*(?:\n[^\n]+)*)", PAGE.read_text(), re.DOTALL)
    return [
        Recipe(sql, ast.literal_eval(re.search(r"params=(\{.*?\})", after)[1]))
        for sql, after in found
    ]


def statements(sql: str) -> list[str]:
    return [s for s in sql.split(";") if s.strip()]


RECIPES = recipes()
ROSTER, SCHOOL_CHANGES, RUN_CHANGES = RECIPES


@pytest.fixture(scope="module")
def con(school_changes_warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(school_changes_warehouse), read_only=True) as con:
        yield con


def run(con: duckdb.DuckDBPyConnection, recipe: Recipe, **params: object) -> pl.DataFrame:
    (statement,) = statements(recipe.sql)
    return con.sql(statement, params={**recipe.params, **params}).pl()


def test_the_page_has_its_three_recipes():
    assert len(RECIPES) == 3


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: ", ".join(r.params))
def test_a_recipe_runs_with_the_parameters_the_page_gives_it(con, recipe: Recipe):
    """DuckDB refuses a parameter a statement does not use (`excess parameters`) as one
    missing: the page names exactly the statement's."""
    for statement in statements(recipe.sql):
        assert set(re.findall(r"\$(\w+)", statement)) == set(recipe.params)
        assert con.sql(statement, params=recipe.params).fetchall()


def test_the_parameters_example_fits_the_first_recipe():
    intro = PAGE.read_text().split("## Questions analysts ask")[0]
    example = ast.literal_eval(re.search(r"params=(\{.*?\})", intro)[1])
    assert example == ROSTER.params


def test_a_roster_is_the_end_of_its_day_even_of_a_section_deleted_since(con):
    """LEAVER left at 18:00 on the first day and came back at 06:00 on the second; the section
    was deleted on the last day."""

    def students(day: date) -> set[str]:
        roster = run(con, ROSTER, class_sourced_id=DELETED_SECTION, on=day.isoformat())
        return set(roster.filter(pl.col("role") == "student").get_column("external_id"))

    first, second = students(FIRST_DAY), students(SECOND_DAY)
    assert first and f"or--{LEAVER}" not in first  # after the day's last run
    assert second == first | {f"or--{LEAVER}"}
    assert students(LAST_DAY) == set()


@pytest.fixture(scope="module")
def notebook(school_changes_warehouse: Path) -> Iterator[tuple[ModuleType, dict]]:
    """notebooks/roster_history.py run on the warehouse, and its cells' definitions."""
    with roster_history_run(school_changes_warehouse, "docs_roster_history") as run:
        yield run


@pytest.mark.parametrize("day", [FIRST_DAY, SECOND_DAY, LAST_DAY], ids=str)
def test_the_roster_recipe_and_the_notebook_agree_on_a_date(con, notebook, day: date):
    module, defs = notebook
    ((course_id,),) = con.sql(
        "select distinct course_id from history.courses where external_id = $id",
        params={"id": f"or--{DELETED_SECTION}"},
    ).fetchall()
    shown = module.WAREHOUSE.query(
        defs["ROSTER_SQL"], tenant=TENANT, course_id=course_id, day=day, include_inactive=False
    )
    recipe = run(con, ROSTER, class_sourced_id=DELETED_SECTION, on=day.isoformat())
    assert sorted(recipe.select("external_id", "role").rows()) == sorted(
        shown.select("user_external_id", "role").rows()
    )


@pytest.mark.parametrize(
    ("student", "changes"),
    [
        # back to an earlier school
        (RETURNER, [(TIMES[0], MADISON, 1), (TIMES[1], EMERSON, 2), (TIMES[2], MADISON, 3)]),
        # not its inactivation; a reactivation into a school deleted since
        (LEAVER, [(TIMES[0], MADISON, 1), (TIMES[2], RIVERSIDE, 3), (TIMES[5], EMERSON, 6)]),
        # not a new name
        (RENAMED, [(TIMES[0], MADISON, 1)]),
        # not the version made by hand (at Emerson), which has no `since`
        (ADOPTED, [(TIMES[2], MADISON, 3)]),
    ],
)
def test_school_changes_are_the_versions_that_changed_school(
    con, student: str, changes: list[tuple[datetime, str, int]]
):
    found = run(con, SCHOOL_CHANGES, student_sourced_id=student)
    assert found.rows() == changes
