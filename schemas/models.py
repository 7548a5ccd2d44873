"""One pandera DataFrameModel per OneRoster 1.1 file: the field reference, declared once.

Every column is text (a sourcedId such as `007` stays `007`). The models check what one row can
tell: required values, enumerations, formats, list syntax, unique sourcedIds. What needs other
rows or files (references, cycles) lives in `schemas.references`; what real exports get wrong
but whose meaning is clear (`TRUE`, `Scheduled`) is normalized with a warning by
`schemas.lenient` before these models see the data, so a failure here is always an error.

Each field's `metadata` says what kind of value it holds and, for references, which file it
points into; `schemas.spec` reads the file layout back from these models.
"""

from __future__ import annotations

import re

import pandera.polars as pa
import polars as pl

from rosterflow.schemas.vocabulary import (
    ENROLLMENT_ROLES,
    EXTENSION_PATTERN,
    SCORE_STATUSES,
    STATUS_VALUES,
    USER_ROLES,
    Kind,
)

# ASCII digits throughout: `\d` would admit other scripts' digits (a year `２０２７` or `٢٠٢٧`,
# which no reader of the value takes for one)
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# ISO 8601: a date, or a date and a real time of day with optional fraction and zone (`Z`,
# or an offset of hours with or without minutes: `+05`, `+0530`, `+05:30`); a `T` and `Z` in
# lowercase too, as RFC 3339 allows and the REST pull reads them. A time of day past 23:59:59
# (`25:61:61`, or ISO 8601:2004's `24:00:00`, which no parser reads) names no moment
_HOUR = r"(?:[01][0-9]|2[0-3])"
_MINUTE = r"[0-5][0-9]"
DATETIME_PATTERN = (
    rf"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}(?:[Tt ]{_HOUR}:{_MINUTE}(?::{_MINUTE}(?:[.,][0-9]+)?)?"
    rf"(?:[Zz]|[+-]{_HOUR}(?::?{_MINUTE})?)?)?$"
)
YEAR_PATTERN = r"^[0-9]{4}$"
# a decimal number: `8`, `-0.5`, `.5`, `10.`, `1.5e3` (ASCII digits: `\d` would admit other
# scripts' digits), never `8,5`, `1_000`, `NaN` or `inf`. `1e999` has the format yet no double
# holds it: `finite_number` refuses it
NUMBER_PATTERN = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
# comma-separated items, none of them empty
LIST_PATTERN = r"^\s*[^,\s][^,]*(?:,\s*[^,\s][^,]*)*$"
USER_IDS_PATTERN = r"^\s*\{[^{}:]+:[^{}]*\}(?:\s*,\s*\{[^{}:]+:[^{}]*\})*\s*$"
BOOLEAN_VALUES = ("true", "false")
# the check that a number is finite as a double; its methods' names start so too, as a model
# that inherits a check names it after its method. It fails as the column's format does (rule
# `number`: `schemas.validate` reports so a number column's check that is no other)
FINITE_NUMBER = "finite_number"


def _field(kind: Kind, required: bool = False, target: str | None = None, **checks) -> object:
    return pa.Field(
        nullable=not required,
        metadata={"kind": kind, "required": required, "target": target, **checks.pop("meta", {})},
        **checks,
    )


def sourced_id() -> object:
    return _field(Kind.ID, required=True, unique=True)


def status() -> object:
    # `inactive` is the OneRoster 1.0 value: accepted, with a warning from schemas.lenient
    return _field(Kind.STATUS, isin=(*STATUS_VALUES, "inactive"), meta={"values": STATUS_VALUES})


def date_last_modified() -> object:
    return _field(Kind.DATETIME, str_matches=DATETIME_PATTERN)


def text(required: bool = False) -> object:
    return _field(Kind.TEXT, required)


def enum(*values: str, required: bool = True) -> object:
    return _field(Kind.ENUM, required, isin=values, meta={"values": values})


def extensible_enum(*values: str, required: bool = True, also: tuple[str, ...] = ()) -> object:
    """A OneRoster 1.2 enumeration, which admits `ext:<name>` values beside its own; `also`
    names further values accepted (each with its warning elsewhere) yet not offered."""
    words = "|".join(re.escape(value) for value in (*values, *also))
    return _field(
        Kind.ENUM,
        required,
        str_matches=rf"^(?:{words}|{EXTENSION_PATTERN})$",
        # `also` is in the metadata so that a letter-case variant of it is read leniently too
        meta={"values": values, "also": also, "extensible": True},
    )


def date(required: bool = False) -> object:
    return _field(Kind.DATE, required, str_matches=DATE_PATTERN)


def year(required: bool = False) -> object:
    return _field(Kind.YEAR, required, str_matches=YEAR_PATTERN)


def boolean(required: bool = False) -> object:
    return _field(Kind.BOOL, required, isin=BOOLEAN_VALUES, meta={"values": BOOLEAN_VALUES})


def number(required: bool = False) -> object:
    return _field(Kind.NUMBER, required, str_matches=NUMBER_PATTERN)


def items(required: bool = False) -> object:
    return _field(Kind.LIST, required, str_matches=LIST_PATTERN)


def grades() -> object:
    return _field(Kind.GRADES, str_matches=LIST_PATTERN)


def user_ids() -> object:
    return _field(Kind.USER_IDS, str_matches=USER_IDS_PATTERN)


def ref(target: str, required: bool = False) -> object:
    return _field(Kind.REF, required, target)


def refs(target: str, required: bool = False) -> object:
    return _field(Kind.REF_LIST, required, target, str_matches=LIST_PATTERN)


def calendar_date(value: pl.Expr) -> pl.Expr:
    """The first ten characters name a real day (2023-02-30 does not, nor one of year 0000,
    which DuckDB stores as 1 BC and Python's dates cannot hold: a query of lms.enrollments
    failed on it); null passes."""
    day = value.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    return value.is_null() | (day.dt.year() > 0).fill_null(False)


def in_calendar(value: pl.Expr, pattern: str = DATE_PATTERN) -> pl.Expr:
    """A value in the format `pattern` (a date, or a date-time that starts with one) names a
    real day; a value not in the format passes, its format check alone reports it (one error
    per bad value), and null passes."""
    return value.is_null() | ~value.str.contains(pattern) | calendar_date(value)


def as_date(value: pl.Expr) -> pl.Expr:
    """A date value as a Date: null unless it is in the format YYYY-MM-DD and a real day."""
    return pl.when(value.str.contains(DATE_PATTERN)).then(
        value.str.to_date("%Y-%m-%d", strict=False)
    )


def is_calendar_date(data: pa.PolarsData, pattern: str = DATE_PATTERN) -> pl.LazyFrame:
    return data.lazyframe.select(in_calendar(pl.col(data.key), pattern))


def as_number(value: pl.Expr) -> pl.Expr:
    """A number value as a Float64: null unless it is in the number format and finite as a
    double (a score, a range or a weight is a double on the platform and in the REST binding's
    JSON, where `1e999` would be infinity, which JSON cannot write)."""
    number = value.cast(pl.Float64, strict=False)
    return pl.when(value.str.contains(NUMBER_PATTERN) & number.is_finite()).then(number)


def finite_number(value: pl.Expr) -> pl.Expr:
    """A value in the number format is finite as a double (`1e999`, `-1e400` or 400 nines are
    not); a value not in the format passes, its format check alone reports it (one error per
    bad value), and null passes. `1e-999` is finite: it reads as 0."""
    return value.is_null() | ~value.str.contains(NUMBER_PATTERN) | as_number(value).is_not_null()


def is_finite_number(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(finite_number(pl.col(data.key)))


class OneRosterModel(pa.DataFrameModel):
    sourcedId: str = sourced_id()
    status: str = status()
    dateLastModified: str = date_last_modified()

    @pa.check("dateLastModified", name="calendar_date")
    def calendar_date_modified(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return is_calendar_date(data, DATETIME_PATTERN)

    class Config:
        strict = True
        ordered = True


class AcademicSessions(OneRosterModel):
    """academicSessions.csv: one row per session (school year, term, semester, grading period)."""

    title: str = text(required=True)
    type: str = enum("gradingPeriod", "semester", "schoolYear", "term")
    startDate: str = date(required=True)
    endDate: str = date(required=True)
    parentSourcedId: str = ref("academicSessions")
    schoolYear: str = year(required=True)

    @pa.check("startDate", "endDate", name="calendar_date")
    def calendar_date_fields(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return is_calendar_date(data)

    class Config:
        name = "academicSessions"


class Categories(OneRosterModel):
    """categories.csv: one row per gradebook category."""

    title: str = text(required=True)

    class Config:
        name = "categories"


class Classes(OneRosterModel):
    """classes.csv: one row per class (a section of a course in a school and terms)."""

    title: str = text(required=True)
    grades: str = grades()
    courseSourcedId: str = ref("courses", required=True)
    classCode: str = text()
    classType: str = enum("homeroom", "scheduled")
    location: str = text()
    schoolSourcedId: str = ref("orgs", required=True)
    termSourcedIds: str = refs("academicSessions", required=True)
    subjects: str = items()
    subjectCodes: str = items()
    periods: str = items()

    class Config:
        name = "classes"


class ClassResources(OneRosterModel):
    """classResources.csv: one row per resource assigned to a class."""

    title: str = text()
    classSourcedId: str = ref("classes", required=True)
    resourceSourcedId: str = ref("resources", required=True)

    class Config:
        name = "classResources"


class Courses(OneRosterModel):
    """courses.csv: one row per course of the catalogue."""

    schoolYearSourcedId: str = ref("academicSessions")
    title: str = text(required=True)
    courseCode: str = text()
    grades: str = grades()
    orgSourcedId: str = ref("orgs", required=True)
    subjects: str = items()
    subjectCodes: str = items()

    class Config:
        name = "courses"


class CourseResources(OneRosterModel):
    """courseResources.csv: one row per resource assigned to a course."""

    title: str = text()
    courseSourcedId: str = ref("courses", required=True)
    resourceSourcedId: str = ref("resources", required=True)

    class Config:
        name = "courseResources"


class Demographics(OneRosterModel):
    """demographics.csv: one row per user (sourcedId is the user's)."""

    birthDate: str = date()
    sex: str = text()
    americanIndianOrAlaskaNative: str = boolean()
    asian: str = boolean()
    blackOrAfricanAmerican: str = boolean()
    nativeHawaiianOrOtherPacificIslander: str = boolean()
    white: str = boolean()
    demographicRaceTwoOrMoreRaces: str = boolean()
    hispanicOrLatinoEthnicity: str = boolean()
    countryOfBirthCode: str = text()
    stateOfBirthAbbreviation: str = text()
    cityOfBirth: str = text()
    publicSchoolResidenceStatus: str = text()

    @pa.check("birthDate", name="calendar_date")
    def calendar_date_birth(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return is_calendar_date(data)

    class Config:
        name = "demographics"


class Enrollments(OneRosterModel):
    """enrollments.csv: one row per user in a class with a role."""

    classSourcedId: str = ref("classes", required=True)
    schoolSourcedId: str = ref("orgs", required=True)
    userSourcedId: str = ref("users", required=True)
    role: str = enum(*ENROLLMENT_ROLES)
    primary: str = boolean()
    beginDate: str = date()
    endDate: str = date()

    @pa.check("beginDate", "endDate", name="calendar_date")
    def calendar_date_fields(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return is_calendar_date(data)

    class Config:
        name = "enrollments"


class LineItems(OneRosterModel):
    """lineItems.csv: one row per gradebook column of a class."""

    title: str = text(required=True)
    description: str = text()
    assignDate: str = date(required=True)
    dueDate: str = date(required=True)
    classSourcedId: str = ref("classes", required=True)
    categorySourcedId: str = ref("categories", required=True)
    gradingPeriodSourcedId: str = ref("academicSessions", required=True)
    resultValueMin: str = number()
    resultValueMax: str = number()

    @pa.check("assignDate", "dueDate", name="calendar_date")
    def calendar_date_fields(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return is_calendar_date(data)

    @pa.check("resultValueMin", "resultValueMax", name=FINITE_NUMBER)
    def finite_number_range(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return is_finite_number(data)

    class Config:
        name = "lineItems"


class Orgs(OneRosterModel):
    """orgs.csv: one row per organization (state, district, school, ...)."""

    name: str = text(required=True)
    type: str = enum("department", "school", "district", "local", "state", "national")
    identifier: str = text()
    parentSourcedId: str = ref("orgs")

    class Config:
        name = "orgs"


class Resources(OneRosterModel):
    """resources.csv: one row per learning resource."""

    vendorResourceId: str = text(required=True)
    title: str = text()
    roles: str = items()
    importance: str = text()
    vendorId: str = text()
    applicationId: str = text()

    class Config:
        name = "resources"


class Results(OneRosterModel):
    """results.csv: one row per score of a student on a line item."""

    lineItemSourcedId: str = ref("lineItems", required=True)
    studentSourcedId: str = ref("users", required=True)
    scoreStatus: str = enum(*SCORE_STATUSES)
    score: str = number()
    scoreDate: str = date(required=True)
    comment: str = text()

    @pa.check("scoreDate", name="calendar_date")
    def calendar_date_score(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return is_calendar_date(data)

    @pa.check("score", name=FINITE_NUMBER)
    def finite_number_score(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return is_finite_number(data)

    class Config:
        name = "results"


class Users(OneRosterModel):
    """users.csv: one row per person (students, teachers, parents, administrators, ...)."""

    enabledUser: str = boolean(required=True)
    orgSourcedIds: str = refs("orgs", required=True)
    role: str = enum(*USER_ROLES)
    username: str = text(required=True)
    userIds: str = user_ids()
    givenName: str = text(required=True)
    familyName: str = text(required=True)
    middleName: str = text()
    identifier: str = text()
    email: str = text()
    sms: str = text()
    phone: str = text()
    agentSourcedIds: str = refs("users")
    grades: str = grades()
    password: str = text()

    class Config:
        name = "users"


MODELS: dict[str, type[OneRosterModel]] = {
    model.Config.name: model
    for model in (
        AcademicSessions,
        Categories,
        Classes,
        ClassResources,
        Courses,
        CourseResources,
        Demographics,
        Enrollments,
        LineItems,
        Orgs,
        Resources,
        Results,
        Users,
    )
}
