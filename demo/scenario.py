"""What `rosterflow demo` writes and shows, short of syncing: a generated district of
`DEMO_STUDENTS` students as feed-1.zip, the same district a week later (`demo.week`) as
feed-2.zip, in a folder of their own beside the warehouse the demo syncs them into; and the
queries that show what the second sync did. The CLI runs the two syncs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rosterflow.demo.district import generate_feed
from rosterflow.demo.week import NEW_TEACHER, Cast, cast_of, describe_cast, week_later
from rosterflow.schemas.writer import write_feed

DEMO_FOLDER = Path("rosterflow-demo")
DEMO_STUDENTS = 2400  # four schools, two of them elementary: a student can move between them
DEMO_TENANT = "demo"
WAREHOUSE_NAME = "rosterflow.duckdb"
FEED_NAMES = ("feed-1.zip", "feed-2.zip")
PROPERTIES = {"source.systemCode": DEMO_TENANT, "source.systemName": "rosterflow demo"}


class DemoFolderError(Exception):
    """The demo's folder cannot take its files (a file by that name, a feed held open)."""


@dataclass(frozen=True)
class DemoSync:
    title: str
    feed: Path
    changes: list[str]  # what changed since the sync before, in words


@dataclass(frozen=True)
class DemoQuery:
    about: str  # what the rows show
    sql: str  # one read-only statement


@dataclass(frozen=True)
class Scenario:
    warehouse: Path
    tenant: str
    syncs: list[DemoSync]
    queries: list[DemoQuery]


def clear_folder(folder: Path) -> None:
    """Remove what an earlier demo left in `folder` (its feeds and warehouse), nothing else."""
    if folder.exists() and not folder.is_dir():
        raise DemoFolderError(f"{folder} is a file; the demo needs that name for its folder")
    for name in (*FEED_NAMES, WAREHOUSE_NAME, WAREHOUSE_NAME + ".wal"):
        try:
            (folder / name).unlink(missing_ok=True)
        except OSError as error:
            raise DemoFolderError(
                f"cannot replace {folder / name} ({error}); close it and run again"
            ) from None


def write_scenario(folder: Path = DEMO_FOLDER, students: int = DEMO_STUDENTS) -> Scenario:
    """Write the demo's two feeds into `folder`, replacing an earlier demo's files; the
    warehouse they are to be synced into is not made yet."""
    clear_folder(folder)
    district = generate_feed(students, seed=0)
    cast = cast_of(district)
    first, later = (
        write_feed(folder / FEED_NAMES[0], district, properties=PROPERTIES),
        write_feed(folder / FEED_NAMES[1], week_later(district, cast), properties=PROPERTIES),
    )
    return Scenario(
        warehouse=folder / WAREHOUSE_NAME,
        tenant=DEMO_TENANT,
        syncs=[
            DemoSync(
                f"1. The first sync of a district of {students:,} students ({first})", first, []
            ),
            DemoSync(f"2. A week later ({later})", later, describe_cast(district, cast)),
        ],
        queries=demo_queries(cast),
    )


def demo_queries(cast: Cast) -> list[DemoQuery]:
    """What to look at in the warehouse after the demo, one statement each."""
    teacher = f"{NEW_TEACHER['givenName']} {NEW_TEACHER['familyName']}"
    return [
        DemoQuery(
            "the second run's move of a student to another school",
            "select * from audit.changes where action = 'move';",
        ),
        DemoQuery(
            "that student's user row before and after the move",
            "select external_id, domain_id, valid_from, valid_to, opened_run_id "
            f"from history.users where external_id = 'or--{cast.mover}' order by valid_from;",
        ),
        DemoQuery(
            f"the teachers of the class {teacher} took over",
            "select u.given_name, u.family_name, e.role, e.is_primary, e.status "
            "from lms.enrollments e join lms.users u on u.user_id = e.user_id "
            "join lms.courses c on c.course_id = e.course_id "
            f"where c.external_id = 'or--{cast.class_id}' and e.role = 'teacher';",
        ),
    ]
