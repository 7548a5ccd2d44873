"""OneRoster 1.1 and 1.2 vocabularies and the kinds of values a column can hold."""

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
    NUMBER = "number"  # a float of the bindings: a score, a line item's range, a weight
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
# a result's scoreStatus (results.csv), in 1.1 and 1.2
SCORE_STATUSES = ("exempt", "fully graded", "not submitted", "partially graded", "submitted")

# OneRoster 1.2 (CSV binding 1.2.1): a user's roles are rows of roles.csv
ROLE_TYPES = ("primary", "secondary")
ROLES_12 = (
    "aide",
    "counselor",
    "districtAdministrator",
    "guardian",
    "parent",
    "principal",
    "proctor",
    "relative",
    "siteAdministrator",
    "student",
    "systemAdministrator",
    "teacher",
)
# each 1.2 role as the 1.1 role a learning platform knows: the administrators of 1.2, principals
# and counselors are staff who neither teach nor learn, which 1.1 calls administrator (and a
# sync never grants platform administration, so the wider word grants nothing)
ROLES_12_AS_11 = {
    "aide": "aide",
    "counselor": "administrator",
    "districtAdministrator": "administrator",
    "guardian": "guardian",
    "parent": "parent",
    "principal": "administrator",
    "proctor": "proctor",
    "relative": "relative",
    "siteAdministrator": "administrator",
    "student": "student",
    "systemAdministrator": "administrator",
    "teacher": "teacher",
    # the 1.1 word, which roles.csv admits with a warning (role.v11): read as itself, never as
    # no role (a primary `administrator` row made a user of no role)
    "administrator": "administrator",
}
# the way back, for writing a 1.1 roster as 1.2: a 1.1 role that 1.2 names otherwise (any of
# 1.2's administrators reads back as 1.1's); the other roles keep their name
ROLES_11_AS_12 = {"administrator": "siteAdministrator"}
# 1.2 enumerations may be extended with values of the form ext:<name>
EXTENSION_PATTERN = r"ext:\S+"
