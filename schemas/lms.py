"""The lms tables as the sync sees them: ids, the fields the SIS owns, and references.

A desired frame (built by `transforms`) names each reference by external ID, in a column named
like the id column with `_id` replaced by `_external_id` (`domain_id` <- `domain_external_id`);
planning resolves those to ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

MANAGED_PREFIX = "or-"


@dataclass(frozen=True)
class Entity:
    name: str  # as written in audit.changes.entity
    table: str  # lms.<table>, history.<table>
    id: str
    owned: tuple[str, ...]  # fields the SIS owns: compared, written, and reverted if hand-edited
    references: dict[str, str]  # id field -> referenced entity
    schema: dict[str, pl.DataType]  # the lms columns, in table order

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema)


def external_column(id_field: str) -> str:
    return id_field.removesuffix("_id") + "_external_id"


def _schema(id_field: str, fields: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    return (
        {id_field: pl.Int64(), "tenant": pl.String(), "external_id": pl.String()}
        | fields
        | {"status": pl.String(), "origin": pl.String(), "updated_run_id": pl.Int64()}
    )


S, N, B, D = pl.String(), pl.Int64(), pl.Boolean(), pl.Date()  # text, number, flag, day

DOMAIN = Entity(
    "domain",
    "domains",
    "domain_id",
    ("name", "kind", "parent_domain_id", "status"),
    {"parent_domain_id": "domain"},
    _schema("domain_id", {"name": S, "kind": S, "parent_domain_id": N}),
)
USER = Entity(
    "user",
    "users",
    "user_id",
    (
        "domain_id",
        "role",
        "username",
        "given_name",
        "family_name",
        "email",
        "grade_level",
        "login",
        "status",
    ),
    {"domain_id": "domain"},
    _schema(
        "user_id",
        {
            "domain_id": N,
            "role": S,
            "username": S,
            "given_name": S,
            "family_name": S,
            "email": S,
            "grade_level": S,
            "login": S,
        },
    ),
)
COURSE = Entity(
    "course",
    "courses",
    "course_id",
    ("domain_id", "kind", "title", "base_course_id", "status"),
    {"domain_id": "domain", "base_course_id": "course"},
    _schema("course_id", {"domain_id": N, "kind": S, "title": S, "base_course_id": N}),
)
ENROLLMENT = Entity(
    "enrollment",
    "enrollments",
    "enrollment_id",
    ("user_id", "course_id", "role", "is_primary", "begin_date", "end_date", "status"),
    {"user_id": "user", "course_id": "course"},
    _schema(
        "enrollment_id",
        {"user_id": N, "course_id": N, "role": S, "is_primary": B, "begin_date": D, "end_date": D},
    ),
)
OBSERVER = Entity(
    "observer",
    "observers",
    "observer_id",
    ("observer_user_id", "student_user_id", "relationship", "status"),
    {"observer_user_id": "user", "student_user_id": "user"},
    _schema("observer_id", {"observer_user_id": N, "student_user_id": N, "relationship": S}),
)

RESOURCE = Entity(
    "resource",
    "resources",
    "resource_id",
    (
        "vendor_resource_id",
        "title",
        "roles",
        "importance",
        "vendor_id",
        "application_id",
        "status",
    ),
    {},
    _schema(
        "resource_id",
        {
            "vendor_resource_id": S,
            "title": S,
            "roles": S,
            "importance": S,
            "vendor_id": S,
            "application_id": S,
        },
    ),
)
# a resource assigned to a class (course_id: the class's section) or to a course (course_id:
# the org base course of the course's title at the course's org; docs/explanation/resources.md)
CLASS_RESOURCE, COURSE_RESOURCE = (
    Entity(
        f"{scope}_resource",
        f"{scope}_resources",
        f"{scope}_resource_id",
        ("resource_id", "course_id", "title", "status"),
        {"resource_id": "resource", "course_id": "course"},
        _schema(f"{scope}_resource_id", {"resource_id": N, "course_id": N, "title": S}),
    )
    for scope in ("class", "course")
)

# in dependency order: an entity only references entities before it (or itself)
ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        DOMAIN,
        USER,
        COURSE,
        ENROLLMENT,
        OBSERVER,
        RESOURCE,
        CLASS_RESOURCE,
        COURSE_RESOURCE,
    )
}

# an entity whose row is deleted takes with it the managed rows that point at it and that the
# SIS no longer states (an enrollment of a deleted user, a resource's class assignment)
CASCADING = ("user", "course", "resource")


def desired_schema(entity: Entity) -> dict[str, pl.DataType]:
    """The columns a desired frame of `entity` has."""
    return {"external_id": pl.String()} | {
        (external_column(f) if f in entity.references else f): (
            pl.String() if f in entity.references else entity.schema[f]
        )
        for f in entity.owned
    }
