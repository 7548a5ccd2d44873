"""The desired lms state, computed from the SIS's records (the source state).

Every managed row gets `external_id = 'or--' || sourcedId` (CONTRACT §3); observer links and
base courses follow the schemes in the README. Each function is pure: frames in, frame out.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from schemas.settings import Hierarchy
from schemas.spec import OBSERVER_ROLES
from transforms.hierarchy import base_course_enrollments, course_hierarchy
from warehouse.entities import ENTITIES, desired_schema

MANAGED = "or--"


def managed_id(column: str) -> pl.Expr:
    return pl.lit(MANAGED) + pl.col(column)


def _status(inactive: pl.Expr) -> pl.Expr:
    return pl.when(inactive).then(pl.lit("inactive")).otherwise(pl.lit("active"))


def _first_item(column: str) -> pl.Expr:
    return pl.col(column).str.split(",").list.first().str.strip_chars()


def desired_domains(orgs: pl.LazyFrame) -> pl.LazyFrame:
    return orgs.select(
        managed_id("sourcedId").alias("external_id"),
        pl.col("name"),
        pl.col("type").alias("kind"),
        managed_id("parentSourcedId").alias("parent_domain_external_id"),
        _status(pl.col("status") == "inactive").fill_null("active").alias("status"),
    )


def desired_users(users: pl.LazyFrame) -> pl.LazyFrame:
    """Users in the domain of their first org; `enabledUser=false` makes an inactive user.

    Administrators are ordinary users: the sync never grants platform administration.
    """
    return users.select(
        managed_id("sourcedId").alias("external_id"),
        (pl.lit(MANAGED) + _first_item("orgSourcedIds")).alias("domain_external_id"),
        pl.col("role"),
        pl.col("username"),
        pl.col("givenName").alias("given_name"),
        pl.col("familyName").alias("family_name"),
        pl.col("email"),
        _status((pl.col("enabledUser") == "false") | (pl.col("status") == "inactive"))
        .fill_null("active")
        .alias("status"),
    )


def desired_section_enrollments(
    enrollments: pl.LazyFrame, users: pl.LazyFrame, classes: pl.LazyFrame
) -> pl.LazyFrame:
    """One enrollment per enrollment row whose user and class exist."""
    return (
        enrollments.join(
            users.select(pl.col("sourcedId").alias("userSourcedId")), on="userSourcedId", how="semi"
        )
        .join(
            classes.select(pl.col("sourcedId").alias("classSourcedId")),
            on="classSourcedId",
            how="semi",
        )
        .select(
            managed_id("sourcedId").alias("external_id"),
            managed_id("userSourcedId").alias("user_external_id"),
            managed_id("classSourcedId").alias("course_external_id"),
            pl.col("role"),
            (pl.col("primary") == "true").fill_null(False).alias("is_primary"),
            pl.col("beginDate").str.to_date("%Y-%m-%d", strict=False).alias("begin_date"),
            pl.col("endDate").str.to_date("%Y-%m-%d", strict=False).alias("end_date"),
            _status(pl.col("status") == "inactive").fill_null("active").alias("status"),
        )
    )


def desired_observers(users: pl.LazyFrame) -> pl.LazyFrame:
    """One link per (parent/guardian/relative, student) pair named on either side.

    external_id: `or--obs--<observer sourcedId>--<student sourcedId>`.
    """
    people = users.select("sourcedId", "role")
    named = (
        users.select("sourcedId", "role", pl.col("agentSourcedIds").str.split(",").alias("agent"))
        .explode("agent")
        .with_columns(pl.col("agent").str.strip_chars())
        .filter(pl.col("agent").is_not_null() & (pl.col("agent") != ""))
        .join(people.rename({"sourcedId": "agent", "role": "agent_role"}), on="agent", how="inner")
    )
    observer_names_student = named.filter(
        pl.col("role").is_in(OBSERVER_ROLES) & (pl.col("agent_role") == "student")
    ).select(
        pl.col("sourcedId").alias("observer"),
        pl.col("agent").alias("student"),
        pl.col("role").alias("relationship"),
    )
    student_names_observer = named.filter(
        (pl.col("role") == "student") & pl.col("agent_role").is_in(OBSERVER_ROLES)
    ).select(
        pl.col("agent").alias("observer"),
        pl.col("sourcedId").alias("student"),
        pl.col("agent_role").alias("relationship"),
    )
    return (
        pl.concat([observer_names_student, student_names_observer])
        .unique(["observer", "student"])
        .select(
            pl.format("or--obs--{}--{}", "observer", "student").alias("external_id"),
            managed_id("observer").alias("observer_user_external_id"),
            managed_id("student").alias("student_user_external_id"),
            pl.col("relationship"),
            pl.lit("active").alias("status"),
        )
    )


def desired_state(
    source: Mapping[str, pl.DataFrame], hierarchy: Hierarchy
) -> dict[str, pl.DataFrame]:
    """Everything the lms should hold for a tenant, from its source state: entity name ->
    desired frame (columns: warehouse.entities.desired_schema)."""
    orgs, users, classes = (source[n].lazy() for n in ("orgs", "users", "classes"))
    courses = course_hierarchy(
        source["orgs"],
        source["courses"],
        source["classes"],
        source["users"],
        source["enrollments"],
        hierarchy,
    )
    enrollments = pl.concat(
        [
            desired_section_enrollments(source["enrollments"].lazy(), users, classes),
            base_course_enrollments(courses.lazy()),
        ]
    )
    frames = {
        "domain": desired_domains(orgs),
        "user": desired_users(users),
        "course": courses.lazy().drop("teacher_id"),
        "enrollment": enrollments,
        "observer": desired_observers(users),
    }
    collected = pl.collect_all(
        [
            frame.select(list(desired_schema(ENTITIES[name]))).cast(desired_schema(ENTITIES[name]))
            for name, frame in frames.items()
        ]
    )
    return dict(zip(frames, collected, strict=True))
