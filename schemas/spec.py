"""The layout of every OneRoster 1.1 and 1.2 file, read back from the pandera models.

`FILE_SPECS[name]` gives a file's columns in spec order with each column's kind, whether a value
is required, its enumeration and the file it references. Readers, the lenient normalizer and
the cross-file checks all work from this table, so a column's rules are declared once, in
`schemas.models` (1.1) and `schemas.models12` (1.2). Source: docs/reference/oneroster-1.1.md
and, for 1.2, 1EdTech's "OneRoster: CSV Binding 1.2.1".
"""

from __future__ import annotations

from dataclasses import dataclass

from rosterflow.schemas.models import MODELS, OneRosterModel
from rosterflow.schemas.models12 import MODELS_12
from rosterflow.schemas.vocabulary import (  # noqa: F401  (re-exported: the vocabulary belongs to the spec)
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
    extensible: bool = False  # a 1.2 enumeration that admits ext:<name> values
    # values accepted beside the enumeration, each with a warning of its own, yet not offered
    # (roles.csv's 1.1 word `administrator`)
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileSpec:
    name: str  # the entity name used in the manifest (`file.<name>`)
    columns: tuple[Column, ...]
    version: str = "1.1"  # the OneRoster version whose file this is

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


def _file_spec(name: str, models: dict[str, type[OneRosterModel]], version: str) -> FileSpec:
    schema = models[name].to_schema()
    columns = tuple(
        Column(
            column_name,
            Kind(column.metadata["kind"]),
            column.metadata["required"],
            tuple(column.metadata.get("values", ())),
            column.metadata["target"],
            column.metadata.get("extensible", False),
            tuple(column.metadata.get("also", ())),
        )
        for column_name, column in schema.columns.items()
    )
    return FileSpec(name, columns, version)


FILE_SPECS: dict[str, FileSpec] = {name: _file_spec(name, MODELS, "1.1") for name in sorted(MODELS)}
# OneRoster 1.2's 21 files; a 1.2 feed is read into the 1.1 files' shape (schemas.v12)
FILE_SPECS_12: dict[str, FileSpec] = {
    name: _file_spec(name, MODELS_12, "1.2") for name in sorted(MODELS_12)
}
SPECS_BY_VERSION: dict[str, dict[str, FileSpec]] = {"1.1": FILE_SPECS, "1.2": FILE_SPECS_12}
MODELS_BY_VERSION: dict[str, dict[str, type[OneRosterModel]]] = {"1.1": MODELS, "1.2": MODELS_12}

# The files a learning-platform sync reads; the others are validated and otherwise ignored.
SYNCED_FILES = (
    "orgs",
    "academicSessions",
    "courses",
    "classes",
    "users",
    "enrollments",
    "resources",
    "classResources",
    "courseResources",
)

# Column names of OneRoster 1.0, so that a header error can say what went wrong.
ONEROSTER_10_COLUMNS = ("agents", "schoolYearId", "grade", "termSourcedId", "birthdate")
ONEROSTER_12_FILES = tuple(
    spec.file_name for name, spec in FILE_SPECS_12.items() if name not in FILE_SPECS
)
# The 1.1 users.csv columns that 1.2 moved into roles.csv, so that a header error can say so.
ONEROSTER_11_USER_COLUMNS = ("orgSourcedIds", "role")
# OneRoster 1.2 (2022) had this users.csv column after `password`; the 1.2.1 errata (2023)
# removed it (a user's resources are rows of userResources.csv): read, then left out.
LEGACY_USERS_12_COLUMN = "resourceSourcedIds"

MANIFEST_FILE = "manifest.csv"
MANIFEST_HEADER = ("propertyName", "value")
MANIFEST_MODES = ("bulk", "delta", "absent")
