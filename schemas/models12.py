"""One pandera DataFrameModel per OneRoster 1.2 file (CSV binding 1.2.1), declared as
`schemas.models` declares 1.1, with the same helpers, so a 1.2 row breaks the same rules with
the same issues.

What 1.2 changes in the files rosterflow reads (1EdTech, "OneRoster: CSV Binding 1.2.1", 2023;
cross-checked with LongsightGroup/oneroster's 1.2.1 tables and the Japan profile's exporters):

- users.csv loses `orgSourcedIds` and `role` and gains `userMasterIdentifier`,
  `preferredGivenName`, `preferredMiddleName`, `preferredFamilyName`, `primaryOrgSourcedId`
  and `pronouns` at its end. A user's roles, each at an org, are rows of the new roles.csv.
- userProfiles.csv (a user's accounts on other systems) and userResources.csv are new.
- academicSessions, orgs, courses, classes, enrollments, demographics, resources, classResources
  and courseResources keep their 1.1 columns; their enumerations admit `ext:<name>` values.
- The gradebook files change (categories.weight, lineItems.academicSessionSourcedId for
  gradingPeriodSourcedId and schoolSourcedId, results' new flags) and five are new.

The models of unchanged files are the 1.1 models with the 1.2 enumerations.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from rosterflow.schemas import models as v11
from rosterflow.schemas.models import (
    FINITE_NUMBER,
    OneRosterModel,
    boolean,
    date,
    extensible_enum,
    grades,
    is_calendar_date,
    is_finite_number,
    items,
    number,
    ref,
    refs,
    text,
    user_ids,
)
from rosterflow.schemas.vocabulary import ENROLLMENT_ROLES, ROLE_TYPES, ROLES_12, SCORE_STATUSES


class AcademicSessions(v11.AcademicSessions):
    """academicSessions.csv (1.2): as in 1.1; `type` admits ext: values."""

    type: str = extensible_enum("gradingPeriod", "semester", "schoolYear", "term")

    class Config:
        name = "academicSessions"


class Orgs(v11.Orgs):
    """orgs.csv (1.2): as in 1.1; `type` admits ext: values."""

    type: str = extensible_enum("department", "school", "district", "local", "state", "national")

    class Config:
        name = "orgs"


class Classes(v11.Classes):
    """classes.csv (1.2): as in 1.1; `classType` admits ext: values."""

    classType: str = extensible_enum("homeroom", "scheduled")

    class Config:
        name = "classes"


class Enrollments(v11.Enrollments):
    """enrollments.csv (1.2): as in 1.1; `role` admits ext: values (which a sync refuses)."""

    role: str = extensible_enum(*ENROLLMENT_ROLES)

    class Config:
        name = "enrollments"


class Users(OneRosterModel):
    """users.csv (1.2): one row per person; roles and orgs are in roles.csv."""

    enabledUser: str = boolean(required=True)
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
    userMasterIdentifier: str = text()
    preferredGivenName: str = text()
    preferredMiddleName: str = text()
    preferredFamilyName: str = text()
    primaryOrgSourcedId: str = ref("orgs")
    pronouns: str = text()

    class Config:
        name = "users"


class Roles(OneRosterModel):
    """roles.csv (1.2): one row per role a user holds at an org; `primary` marks the user's role."""

    userSourcedId: str = ref("users", required=True)
    roleType: str = v11.enum(*ROLE_TYPES)
    # `administrator`, the 1.1 word, is read with a warning (schemas.v12)
    role: str = extensible_enum(*ROLES_12, also=("administrator",))
    beginDate: str = date()
    endDate: str = date()
    orgSourcedId: str = ref("orgs", required=True)
    userProfileSourcedId: str = ref("userProfiles")

    @pa.check("beginDate", "endDate", name="calendar_date")
    def calendar_date_fields(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return is_calendar_date(data)

    class Config:
        name = "roles"


class UserProfiles(OneRosterModel):
    """userProfiles.csv (1.2): one row per account of a user on another system."""

    userSourcedId: str = ref("users", required=True)
    profileType: str = text(required=True)
    vendorId: str = text(required=True)
    applicationId: str = text()
    description: str = text()
    credentialType: str = text(required=True)
    username: str = text(required=True)
    password: str = text()

    class Config:
        name = "userProfiles"


class UserResources(OneRosterModel):
    """userResources.csv (1.2): one row per resource assigned to a user."""

    userSourcedId: str = ref("users", required=True)
    orgSourcedId: str = ref("orgs")
    classSourcedId: str = ref("classes")
    resourceSourcedId: str = ref("resources", required=True)

    class Config:
        name = "userResources"


class Resources(v11.Resources):
    """resources.csv (1.2): as in 1.1."""

    class Config:
        name = "resources"


class Categories(v11.Categories):
    """categories.csv (1.2): 1.1's, with a weight."""

    weight: str = number()

    @pa.check("weight", name=FINITE_NUMBER)
    def finite_number_weight(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return is_finite_number(data)

    class Config:
        name = "categories"


class LineItems(OneRosterModel):
    """lineItems.csv (1.2): a gradebook column; its session may be any kind, and it names a school."""

    title: str = text(required=True)
    description: str = text()
    assignDate: str = date(required=True)
    dueDate: str = date(required=True)
    classSourcedId: str = ref("classes", required=True)
    categorySourcedId: str = ref("categories", required=True)
    academicSessionSourcedId: str = ref("academicSessions", required=True)
    resultValueMin: str = number()
    resultValueMax: str = number()
    schoolSourcedId: str = ref("orgs", required=True)

    @pa.check("assignDate", "dueDate", name="calendar_date")
    def calendar_date_fields(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return is_calendar_date(data)

    @pa.check("resultValueMin", "resultValueMax", name=FINITE_NUMBER)
    def finite_number_range(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return is_finite_number(data)

    class Config:
        name = "lineItems"


class Results(v11.Results):
    """results.csv (1.2): 1.1's, with a text score, the class and four flags; `scoreStatus`
    admits ext: values."""

    scoreStatus: str = extensible_enum(*SCORE_STATUSES)
    textScore: str = text()
    classSourcedId: str = ref("classes")
    inProgress: str = boolean()
    incomplete: str = boolean()
    late: str = boolean()
    missing: str = boolean()

    class Config:
        name = "results"


class ScoreScales(OneRosterModel):
    """scoreScales.csv (1.2): one row per score scale."""

    title: str = text(required=True)
    type: str = text(required=True)
    orgSourcedId: str = ref("orgs", required=True)
    courseSourcedId: str = ref("courses", required=True)
    classSourcedId: str = ref("classes", required=True)
    scoreScaleValue: str = items(required=True)

    class Config:
        name = "scoreScales"


class LineItemLearningObjectiveIds(OneRosterModel):
    """lineItemLearningObjectiveIds.csv (1.2): a learning objective of a line item."""

    lineItemSourcedId: str = ref("lineItems", required=True)
    source: str = text(required=True)
    learningObjectiveId: str = text(required=True)

    class Config:
        name = "lineItemLearningObjectiveIds"


class LineItemScoreScales(OneRosterModel):
    """lineItemScoreScales.csv (1.2): a score scale of a line item."""

    title: str = text()
    lineItemSourcedId: str = ref("lineItems", required=True)
    scoreScaleSourcedId: str = ref("scoreScales", required=True)

    class Config:
        name = "lineItemScoreScales"


class ResultLearningObjectiveIds(OneRosterModel):
    """resultLearningObjectiveIds.csv (1.2): a result's score on a learning objective."""

    resultSourcedId: str = ref("results", required=True)
    source: str = text(required=True)
    learningObjectiveId: str = text(required=True)
    score: str = number()
    textScore: str = text()

    @pa.check("score", name=FINITE_NUMBER)
    def finite_number_score(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return is_finite_number(data)

    class Config:
        name = "resultLearningObjectiveIds"


class ResultScoreScales(OneRosterModel):
    """resultScoreScales.csv (1.2): a score scale of a result."""

    title: str = text()
    resultSourcedId: str = ref("results", required=True)
    scoreScaleSourcedId: str = ref("scoreScales", required=True)

    class Config:
        name = "resultScoreScales"


MODELS_12: dict[str, type[OneRosterModel]] = {
    model.Config.name: model
    for model in (
        AcademicSessions,
        Categories,
        Classes,
        v11.ClassResources,
        v11.Courses,
        v11.CourseResources,
        v11.Demographics,
        Enrollments,
        LineItemLearningObjectiveIds,
        LineItems,
        LineItemScoreScales,
        Orgs,
        Resources,
        ResultLearningObjectiveIds,
        Results,
        ResultScoreScales,
        Roles,
        ScoreScales,
        UserProfiles,
        UserResources,
        Users,
    )
}
