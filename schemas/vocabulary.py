"""OneRoster 1.1 vocabularies and the kinds of values a column can hold."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    TEXT = "text"
    ID = "id"  # a sourcedId: non-empty, unique within its file
    STATUS = "status"
    DATETIME = "datetime"
    DATE = "date"
    YEAR = "year"
    BOOL = "bool"
    ENUM = "enum"
    LIST = "list"  # comma-separated items inside one field
    GRADES = "grades"  # a LIST of CEDS grade codes
    USER_IDS = "user_ids"  # a list of {type:identifier}
    REF = "ref"  # the sourcedId of a record in another file
    REF_LIST = "ref_list"  # a LIST of such sourcedIds


CEDS_GRADES = (
    "IT",
    "PR",
    "PK",
    "TK",
    "KG",
    "01",
    "02",
    "03",
    "04",
    "05",
    "06",
    "07",
    "08",
    "09",
    "10",
    "11",
    "12",
    "13",
    "PS",
    "UG",
    "Other",
)
STATUS_VALUES = ("active", "tobedeleted")
USER_ROLES = (
    "administrator",
    "aide",
    "guardian",
    "parent",
    "proctor",
    "relative",
    "student",
    "teacher",
)
ENROLLMENT_ROLES = ("administrator", "proctor", "student", "teacher")
OBSERVER_ROLES = ("parent", "guardian", "relative")
