"""The changes `rosterflow demo` makes to a district between its two syncs, as frame edits.

Each edit takes OneRoster frames (file name -> frame, all String columns, as `generate_feed`
returns them) and returns new ones; nothing is changed in place. `cast_of` picks who takes part,
so that the edits stay plain functions of explicit IDs that tests can call on tiny districts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from rosterflow.schemas.spec import FILE_SPECS

Frames = Mapping[str, pl.DataFrame]

NEW_TEACHER = {"sourcedId": "usr-tch-new", "givenName": "Grace", "familyName": "Hopper"}


class DemoError(Exception):
    """The district lacks what a demo change needs (e.g. two schools teaching the same grade)."""


@dataclass(frozen=True)
class Cast:
    leaver: str  # a student who leaves the district
    mover: str  # a student who moves to another school ...
    new_school: str
    classmate: str  # ... and takes the classes of this student of the new school
    class_id: str  # the class the new teacher takes over as primary teacher


def _without(names: pl.Expr, sourced_id: str) -> pl.Expr:
    """A comma-separated ID list without `sourced_id`, in the same order; null when empty."""
    kept = names.str.split(",").list.eval(pl.element().filter(pl.element() != sourced_id))
    return pl.when(kept.list.len() > 0).then(kept.list.join(",")).otherwise(None)


def student_leaves(frames: Frames, student: str) -> dict[str, pl.DataFrame]:
    """The student is gone: their user row, their enrollments, and the links agents (parents,
    guardians) hold to them."""
    users = frames["users"]
    linked = pl.col("agentSourcedIds").str.split(",").list.contains(student).fill_null(False)
    return {
        **frames,
        "users": users.filter(pl.col("sourcedId") != student).with_columns(
            pl.when(linked)
            .then(_without(pl.col("agentSourcedIds"), student))
            .otherwise(pl.col("agentSourcedIds"))
            .alias("agentSourcedIds")
        ),
        "enrollments": frames["enrollments"].filter(pl.col("userSourcedId") != student),
    }


def student_moves(
    frames: Frames, student: str, new_school: str, classmate: str
) -> dict[str, pl.DataFrame]:
    """The student now attends `new_school` only, enrolled in the classes `classmate` (a student
    there) takes as a student, instead of their old ones."""
    enrollments = frames["enrollments"]
    new_enrollments = enrollments.filter(
        (pl.col("userSourcedId") == classmate) & (pl.col("role") == "student")
    ).with_columns(
        pl.format("enr-{}-{}", pl.lit(student), pl.col("classSourcedId")).alias("sourcedId"),
        pl.lit(student).alias("userSourcedId"),
        pl.lit("false").alias("primary"),
    )
    if new_enrollments.height == 0:
        raise DemoError(f"{classmate} has no classes to copy for {student}")
    return {
        **frames,
        "users": frames["users"].with_columns(
            pl.when(pl.col("sourcedId") == student)
            .then(pl.lit(new_school))
            .otherwise(pl.col("orgSourcedIds"))
            .alias("orgSourcedIds")
        ),
        "enrollments": pl.concat(
            [enrollments.filter(pl.col("userSourcedId") != student), new_enrollments]
        ),
    }


def teacher_arrives(
    frames: Frames, class_id: str, teacher: Mapping[str, str] = NEW_TEACHER
) -> dict[str, pl.DataFrame]:
    """A new teacher at the class's school becomes its primary teacher; the enrollment of the
    old primary teacher in that class ends (they keep their other classes)."""
    sourced_id, given, family = teacher["sourcedId"], teacher["givenName"], teacher["familyName"]
    enrollments = frames["enrollments"]
    old_primary = (
        (pl.col("classSourcedId") == class_id)
        & (pl.col("role") == "teacher")
        & (pl.col("primary") == "true")
    )
    replaced = enrollments.filter(old_primary)
    if replaced.height == 0:
        raise DemoError(f"class {class_id} has no primary teacher to replace")
    new_enrollment = replaced.head(1).with_columns(
        pl.lit(f"enr-{sourced_id}-{class_id}").alias("sourcedId"),
        pl.lit(sourced_id).alias("userSourcedId"),
    )
    handle = f"{given}.{family}".lower()
    new_user = (
        frames["classes"]
        .filter(pl.col("sourcedId") == class_id)
        .select(
            pl.lit(sourced_id).alias("sourcedId"),
            pl.lit("true").alias("enabledUser"),
            pl.col("schoolSourcedId").alias("orgSourcedIds"),
            pl.lit("teacher").alias("role"),
            pl.lit(handle).alias("username"),
            pl.lit(given).alias("givenName"),
            pl.lit(family).alias("familyName"),
            pl.lit(f"{handle}@example.org").alias("email"),
        )
    )
    return {
        **frames,
        "users": pl.concat([frames["users"], _as_file("users", new_user)]),
        "enrollments": pl.concat([enrollments.filter(~old_primary), new_enrollment]),
    }


def _as_file(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with the spec's columns in order, all String, the missing ones null."""
    return frame.select(
        pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, pl.String).alias(c)
        for c in FILE_SPECS[name].header
    )


def cast_of(frames: Frames) -> Cast:
    """Who takes part in the demo, chosen by sorted IDs so the same district gives the same cast.

    The mover is a student of one school whose grade another school also teaches (a move
    between two elementary schools, not from a high school into an elementary one); the
    classmate is a student of that grade at the new school."""
    users = frames["users"]
    students = users.filter(
        (pl.col("role") == "student") & ~pl.col("orgSourcedIds").str.contains(",")
    ).select("sourcedId", "orgSourcedIds", "grades", "agentSourcedIds")
    moves = (
        students.join(students, on="grades", suffix="_there")
        .filter(pl.col("orgSourcedIds") != pl.col("orgSourcedIds_there"))
        .sort("sourcedId", "sourcedId_there")
    )
    if moves.height == 0:
        raise DemoError("no two schools of the district teach the same grade; nobody can move")
    move = moves.row(0, named=True)
    mover, new_school, classmate = (
        move["sourcedId"],
        move["orgSourcedIds_there"],
        move["sourcedId_there"],
    )
    leavers = students.filter(
        pl.col("agentSourcedIds").is_not_null() & ~pl.col("sourcedId").is_in([mover, classmate])
    ).sort("sourcedId")
    if leavers.height == 0:
        raise DemoError("no other student with a parent or guardian to leave the district")
    taught = (
        frames["enrollments"]
        .filter((pl.col("role") == "teacher") & (pl.col("primary") == "true"))
        .group_by("classSourcedId")
        .agg(pl.len().alias("primary_teachers"))
        .filter(pl.col("primary_teachers") == 1)
        .sort("classSourcedId")
    )
    if taught.height == 0:
        raise DemoError("no class has a primary teacher to replace")
    return Cast(leavers["sourcedId"][0], mover, new_school, classmate, taught["classSourcedId"][0])


def week_later(frames: Frames, cast: Cast) -> dict[str, pl.DataFrame]:
    """The district after a realistic week: one student leaves, one moves school, and a new
    teacher takes over a class."""
    frames = student_leaves(frames, cast.leaver)
    frames = student_moves(frames, cast.mover, cast.new_school, cast.classmate)
    return teacher_arrives(frames, cast.class_id)


def describe_cast(frames: Frames, cast: Cast) -> list[str]:
    """What `week_later` does to the district, in words, for the demo's output."""
    users, orgs, classes = frames["users"], frames["orgs"], frames["classes"]

    def user(sourced_id: str) -> str:
        row = users.filter(pl.col("sourcedId") == sourced_id).row(0, named=True)
        return f"{row['givenName']} {row['familyName']} ({sourced_id})"

    def org(sourced_id: str) -> str:
        return orgs.filter(pl.col("sourcedId") == sourced_id)["name"].item()

    old_school = users.filter(pl.col("sourcedId") == cast.mover)["orgSourcedIds"].item()
    taught = classes.filter(pl.col("sourcedId") == cast.class_id).row(0, named=True)
    old_teacher = (
        frames["enrollments"]
        .filter(
            (pl.col("classSourcedId") == cast.class_id)
            & (pl.col("role") == "teacher")
            & (pl.col("primary") == "true")
        )["userSourcedId"]
        .item()
    )
    teacher = f"{NEW_TEACHER['givenName']} {NEW_TEACHER['familyName']} ({NEW_TEACHER['sourcedId']})"
    return [
        f"{user(cast.leaver)} left the district, with their enrollments and parent links",
        f"{user(cast.mover)} moved from {org(old_school)} to {org(cast.new_school)}, "
        f"into the classes of a student there, {user(cast.classmate)}",
        f"{teacher} joined {org(taught['schoolSourcedId'])} and took over "
        f"{taught['title']} ({cast.class_id}) from {user(old_teacher)}",
    ]
