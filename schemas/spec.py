"""The layout of every OneRoster 1.1 file, read back from the pandera models.

`FILE_SPECS[name]` gives a file's columns in spec order with each column's kind, whether a value
is required, its enumeration and the file it references. Readers, the lenient normalizer and
the cross-file checks all work from this table, so a column's rules are declared once, in
`schemas.models`. Source: ../shared/oneroster/REFERENCE.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.models import MODELS
from schemas.vocabulary import (  # noqa: F401  (re-exported: the vocabulary belongs to the spec)
    CEDS_GRADES,
    ENROLLMENT_ROLES,
    OBSERVER_ROLES,
    STATUS_VALUES,
    USER_ROLES,
    Kind,
)


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = Kind.TEXT
    required: bool = False
    values: tuple[str, ...] = ()  # the enumeration, for ENUM, STATUS and BOOL
    target: str | None = None  # the referenced file, for REF and REF_LIST


@dataclass(frozen=True)
class FileSpec:
    name: str  # the entity name used in the manifest (`file.<name>`)
    columns: tuple[Column, ...]

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv"

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def of_kind(self, *kinds: Kind) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.kind in kinds)


def _file_spec(name: str) -> FileSpec:
    schema = MODELS[name].to_schema()
    columns = tuple(
        Column(
            column_name,
            Kind(column.metadata["kind"]),
            column.metadata["required"],
            tuple(column.metadata.get("values", ())),
            column.metadata["target"],
        )
        for column_name, column in schema.columns.items()
    )
    return FileSpec(name, columns)


FILE_SPECS: dict[str, FileSpec] = {name: _file_spec(name) for name in sorted(MODELS)}

# The files a learning-platform sync reads; the others are validated and otherwise ignored.
SYNCED_FILES = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")

# Column names of OneRoster 1.0, so that a header error can say what went wrong.
ONEROSTER_10_COLUMNS = ("agents", "schoolYearId", "grade", "termSourcedId", "birthdate")
ONEROSTER_12_FILES = ("roles.csv", "userProfiles.csv", "userResources.csv")

MANIFEST_FILE = "manifest.csv"
MANIFEST_HEADER = ("propertyName", "value")
MANIFEST_MODES = ("bulk", "delta", "absent")
