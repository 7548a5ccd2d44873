"""The course hierarchy: org base, teacher base and session base courses, then sections.

Pure: OneRoster frames in, desired frames out, in lazy Polars (one chain per step). External IDs
(docs/explanation/course-hierarchy.md):

    org base      or--obc--<org>--<course title>
    teacher base  or--tbc--<school>--<teacher>--<course title>
    session base  or--sbc--<school>--<teacher>--<term>--<course title>
    section       or--<class sourcedId>
"""

from __future__ import annotations

import polars as pl

from rosterflow.schemas.changes import PlanError
from rosterflow.schemas.settings import Hierarchy

# the prefix of every external ID the sync writes (`transforms.desired` builds on it too)
MANAGED = "or--"
# a corrupt warehouse (validation rejects org cycles) must not walk a chain forever
MAX_CHAIN_DEPTH = 64
# the columns of the desired courses (`course_hierarchy`), all text
DESIRED_COURSE_COLUMNS = (
    "external_id",
    "domain_external_id",
    "kind",
    "title",
    "base_course_external_id",
    "status",
    "teacher_id",
)


def _managed(*parts: str | pl.Expr) -> pl.Expr:
    """'or--' and the parts joined by '--'; null if any part is null."""
    columns = [pl.col(p) if isinstance(p, str) else p for p in parts]
    return pl.concat_str([pl.lit("or"), *columns], separator="--")


def org_base_external_id(org: str | pl.Expr, title: str | pl.Expr) -> pl.Expr:
    """The external ID of the org base course of `title` at `org`."""
    return _managed(pl.lit("obc"), org, title)


def teacher_base_external_id(
    school: str | pl.Expr, teacher: str | pl.Expr, title: str | pl.Expr
) -> pl.Expr:
    """The external ID of the teacher base course of `title` at `school`, teacher `teacher`."""
    return _managed(pl.lit("tbc"), school, teacher, title)


def session_base_external_id(
    school: str | pl.Expr, teacher: str | pl.Expr, term: str | pl.Expr, title: str | pl.Expr
) -> pl.Expr:
    """The external ID of the session base course of `title` at `school`, teacher `teacher`,
    term `term`."""
    return _managed(pl.lit("sbc"), school, teacher, term, title)


def class_sections(
    classes: pl.LazyFrame, courses: pl.LazyFrame, users: pl.LazyFrame, enrollments: pl.LazyFrame
) -> pl.LazyFrame:
    """One row per class of the SIS: its school, course title, primary teacher and first term.

    The primary teacher is the teacher enrollment marked primary=true, else the first teacher
    enrollment of the class in file order (run, then line), among the class's teaching
    enrollments (`_teaching`) of teachers who exist. A class listed in several terms uses its
    first term."""
    primary_teachers = (
        enrollments.filter(_teaching())
        .join(
            users.select(pl.col("sourcedId").alias("userSourcedId")), on="userSourcedId", how="semi"
        )
        .select(
            pl.col("classSourcedId").alias("class_id"),
            pl.col("userSourcedId").alias("teacher_id"),
            _marked_primary().alias("is_marked_primary"),
            "run_id",
            "line",
        )
        .sort("is_marked_primary", "run_id", "line", descending=[True, False, False])
        .group_by("class_id", maintain_order=True)
        .agg(pl.col("teacher_id").first())
    )
    return (
        classes.join(
            courses.select(
                pl.col("sourcedId").alias("courseSourcedId"), pl.col("title").alias("course_title")
            ),
            on="courseSourcedId",
            how="left",
        )
        .join(primary_teachers, left_on="sourcedId", right_on="class_id", how="left")
        .select(
            pl.col("sourcedId").alias("class_id"),
            pl.col("title").alias("class_title"),
            pl.col("schoolSourcedId").alias("school_id"),
            (pl.col("status") == "inactive").fill_null(False).alias("is_inactive"),
            "course_title",
            "teacher_id",
            pl.col("termSourcedIds")
            .str.split(",")
            .list.first()
            .str.strip_chars()
            .replace("", None)
            .alias("term_id"),
        )
    )


def _teaching() -> pl.Expr:
    """A teacher enrollment the SIS has not ended: an enrollment of status `inactive` (the 1.0
    value, accepted with a warning) is a teacher who left the class; their section enrollment
    is inactive, so they must not stay its primary teacher, enrolled in its base courses."""
    return (pl.col("role") == "teacher") & pl.col("status").ne_missing(pl.lit("inactive"))


def _marked_primary() -> pl.Expr:
    """An enrollment marked primary (`primary` is "true"; empty is not)."""
    return (pl.col("primary") == "true").fill_null(False)


def order_deciding_teachers(enrollments: pl.LazyFrame) -> pl.LazyFrame:
    """The `run_id, line` of the teacher enrollments whose file order may decide their
    class's primary teacher (`class_sections`): among a class's teaching enrollments
    (`_teaching`), those marked primary when it has two or more, or all of them when it has
    none marked and two or more. Any other order of the teacher enrollments gives every class
    the same primary teacher. Whether each teacher exists is not asked (a join with every user:
    0.1 s at a million students), which can only add enrollments whose order need not have
    mattered."""
    return (
        enrollments.filter(_teaching())
        .select("classSourcedId", _marked_primary().alias("is_marked_primary"), "run_id", "line")
        .filter(
            pl.col("is_marked_primary") == pl.col("is_marked_primary").max().over("classSourcedId")
        )
        # over the first rank alone (a window of a window took ten times as long)
        .filter(pl.len().over("classSourcedId") > 1)
        .select("run_id", "line")
    )


def org_chains(orgs: pl.DataFrame, schools: pl.Series) -> pl.DataFrame:
    """One row per (school, org on the chain from that school up to its root), with the org's
    distance from the school (0: the school itself); schools not among the orgs have none."""
    parents = orgs.select(
        pl.col("sourcedId").alias("org_id"), pl.col("parentSourcedId").alias("parent_id")
    )
    step = parents.join(schools.to_frame("org_id"), on="org_id", how="semi").select(
        pl.col("org_id").alias("school_id"), "org_id", "parent_id", pl.lit(0).alias("depth")
    )
    chains = [step]
    # a bounded walk up the tree: one self-join per level (a district's tree is 3 or 4 deep)
    while step.height and step["depth"][0] < MAX_CHAIN_DEPTH:
        step = (
            step.select(
                "school_id",
                pl.col("parent_id").alias("org_id"),
                (pl.col("depth") + 1).alias("depth"),
            )
            .join(parents, on="org_id", how="inner")
            .select("school_id", "org_id", "parent_id", "depth")
        )
        chains.append(step)
    return pl.concat(chains).select("school_id", "org_id", "depth")


def course_hierarchy(
    orgs: pl.DataFrame,
    courses: pl.DataFrame,
    classes: pl.DataFrame,
    users: pl.DataFrame,
    enrollments: pl.DataFrame,
    hierarchy: Hierarchy,
) -> pl.DataFrame:
    """Desired courses: `external_id, domain_external_id, kind, title, base_course_external_id,
    status, teacher_id` (the primary teacher of a teacher or session base course)."""
    sections = class_sections(
        classes.lazy(), courses.lazy(), users.lazy(), enrollments.lazy()
    ).collect()
    desired = courses_of_sections(orgs, sections, hierarchy)
    refuse_shared_external_ids(desired)
    refuse_enrollments_sharing_teacher_ids(desired, enrollments)
    return desired


def courses_of_sections(
    orgs: pl.DataFrame, sections: pl.DataFrame, hierarchy: Hierarchy
) -> pl.DataFrame:
    """The desired courses (`course_hierarchy`) of these sections (`class_sections`): theirs,
    and the base courses they make, unchecked. Those of some of the classes are the rows of the
    whole hierarchy that those classes make (`transforms.incremental` derives a part so)."""
    chains = org_chains(orgs, sections["school_id"].drop_nulls().unique()).lazy()
    titled = sections.lazy().filter(pl.col("course_title").is_not_null())
    org_base_keys = (
        titled.select("school_id", "course_title")
        .unique()
        .join(chains, on="school_id", how="inner")
        .join(
            chains.select(
                "school_id",
                pl.col("org_id").alias("parent_org_id"),
                (pl.col("depth") - 1).alias("depth"),
            ),
            on=["school_id", "depth"],
            how="left",
        )
        .select("org_id", "course_title", "parent_org_id")
        .unique()
        .filter(pl.lit(hierarchy.org_base_courses))
    )
    org_bases = org_base_keys.select(
        org_base_external_id("org_id", "course_title").alias("external_id"),
        _managed("org_id").alias("domain_external_id"),
        pl.lit("org_base").alias("kind"),
        pl.col("course_title").alias("title"),
        org_base_external_id("parent_org_id", "course_title").alias("base_course_external_id"),
        pl.lit(None, pl.String).alias("teacher_id"),
    )
    org_base_ids = org_bases.select(
        pl.col("external_id").alias("org_base_id"), pl.lit(True).alias("has_org_base")
    )
    teacher_bases = (
        titled.filter(pl.col("teacher_id").is_not_null())
        .select("school_id", "teacher_id", "course_title")
        .unique()
        .with_columns(org_base_external_id("school_id", "course_title").alias("org_base_id"))
        .join(org_base_ids, on="org_base_id", how="left")
        .select(
            teacher_base_external_id("school_id", "teacher_id", "course_title").alias(
                "external_id"
            ),
            _managed("school_id").alias("domain_external_id"),
            pl.lit("teacher_base").alias("kind"),
            pl.col("course_title").alias("title"),
            pl.when("has_org_base").then("org_base_id").alias("base_course_external_id"),
            "teacher_id",
        )
    )
    session_bases = (
        titled.filter(
            pl.col("teacher_id").is_not_null()
            & pl.col("term_id").is_not_null()
            & pl.lit(hierarchy.session_base_courses)
        )
        .select("school_id", "teacher_id", "term_id", "course_title")
        .unique()
        .select(
            session_base_external_id("school_id", "teacher_id", "term_id", "course_title").alias(
                "external_id"
            ),
            _managed("school_id").alias("domain_external_id"),
            pl.lit("session_base").alias("kind"),
            pl.col("course_title").alias("title"),
            teacher_base_external_id("school_id", "teacher_id", "course_title").alias(
                "base_course_external_id"
            ),
            "teacher_id",
        )
    )
    bases = pl.concat([org_bases, teacher_bases, session_bases])
    # a section's own session, teacher or org base course exists exactly when the parts of its
    # external ID do (and the setting builds that level): each section with a term and a
    # teacher makes its session base, each with a teacher its teacher base, and a school that
    # is one of the orgs heads its own chain, so it has the org base of each of its titles
    known = pl.all_horizontal(pl.col("school_id", "course_title").is_not_null())
    has_teacher = known & pl.col("teacher_id").is_not_null()
    has_sbc = has_teacher & pl.col("term_id").is_not_null() & pl.lit(hierarchy.session_base_courses)
    has_obc = (
        known
        & pl.col("school_id").is_in(orgs["sourcedId"].implode())
        & pl.lit(hierarchy.org_base_courses)
    )
    section_courses = sections.lazy().select(
        _managed("class_id").alias("external_id"),
        _managed("school_id").alias("domain_external_id"),
        pl.lit("section").alias("kind"),
        pl.col("class_title").alias("title"),
        pl.when(has_sbc)
        .then(session_base_external_id("school_id", "teacher_id", "term_id", "course_title"))
        .when(has_teacher)
        .then(teacher_base_external_id("school_id", "teacher_id", "course_title"))
        .when(has_obc)
        .then(org_base_external_id("school_id", "course_title"))
        .alias("base_course_external_id"),
        pl.when("is_inactive").then(pl.lit("inactive")).otherwise(pl.lit("active")).alias("status"),
        pl.lit(None, pl.String).alias("teacher_id"),
    )
    return (
        pl.concat(
            [bases.with_columns(pl.lit("active").alias("status")), section_courses],
            how="diagonal",
        )
        .select(DESIRED_COURSE_COLUMNS)
        .collect()
    )


def refuse_shared_external_ids(courses: pl.DataFrame) -> None:
    """Refuse desired courses two of which have one external ID. Its parts are joined by '--',
    so a sourcedId or course title holding '--' can read as other parts: the teacher base of
    teacher `t--a` and title `X` and that of teacher `t` and title `a--X` are both
    `or--tbc--<school>--t--a--X`. Written, they would be two managed rows of one external ID,
    which every later run refuses (`transforms.plan`): the run is refused before, naming them."""
    shared = courses.filter(pl.col("external_id").is_duplicated())
    if shared.height == 0:
        return
    org = pl.col("domain_external_id").str.strip_prefix(MANAGED)
    described = (
        shared.sort("external_id", "kind", "title", "teacher_id", nulls_last=True)
        .select(
            "external_id",
            pl.when(pl.col("kind") == "section")
            .then(
                pl.format(
                    "the section of class {}", pl.col("external_id").str.strip_prefix(MANAGED)
                )
            )
            .when(pl.col("kind") == "org_base")
            .then(pl.format("the org base course of '{}' at {}", "title", org))
            .otherwise(
                pl.format(
                    "the {} course of '{}' at {}, teacher {}",
                    pl.col("kind").str.replace("_", " "),
                    "title",
                    org,
                    "teacher_id",
                )
            )
            .alias("course"),
        )
        .group_by("external_id", maintain_order=True)
        .agg("course")
    )
    external_id, named = described.row(0)
    more = described.height - 1
    others = f" (and {more:,} more such external ID{'s' if more > 1 else ''})" if more else ""
    raise PlanError(
        f"the course hierarchy gives {' and '.join(named)} one external ID, {external_id!r}"
        f"{others}: a sourcedId or course title holding '--' reads as two parts of it. Change "
        "one of those course titles (or sourcedIds) in the SIS, then sync again"
    )


def refuse_enrollments_sharing_teacher_ids(
    courses: pl.DataFrame, enrollments: pl.DataFrame
) -> None:
    """Refuse enrollment records whose external ID is that of a base course's teacher
    enrollment (`base_course_enrollments`): enrollment `tbc--s1--t--Math--teacher` would be
    `or--tbc--s1--t--Math--teacher`, teacher t's enrollment in their teacher base course of
    "Math" at s1. Written, they would be two managed rows of one external ID, which every later
    run refuses (`transforms.plan`): the run is refused before, naming them. `courses` are the
    desired courses (`course_hierarchy`), `enrollments` records with their `sourcedId`."""
    # a string test of every sourcedId; only those ending as a teacher enrollment's are joined
    suspects = enrollments.select(
        pl.col("sourcedId").filter(pl.col("sourcedId").str.ends_with("--teacher"))
    )
    if suspects.height == 0:
        return
    shared = (
        courses.filter(pl.col("teacher_id").is_not_null())
        .select(
            (pl.col("external_id").str.strip_prefix(MANAGED) + "--teacher").alias("sourcedId"),
            "external_id",
            "kind",
            "title",
            pl.col("domain_external_id").str.strip_prefix(MANAGED).alias("school"),
            "teacher_id",
        )
        .join(suspects, on="sourcedId", how="semi")
        .sort("sourcedId")
    )
    if shared.height == 0:
        return
    first = shared.row(0, named=True)
    more = shared.height - 1
    others = f" (and {more:,} more such enrollment{'s' if more > 1 else ''})" if more else ""
    raise PlanError(
        f"enrollments.csv: the enrollment of sourcedId {first['sourcedId']!r} has the external "
        f"ID of teacher {first['teacher_id']}'s enrollment in their "
        f"{first['kind'].replace('_', ' ')} course of {first['title']!r} at {first['school']}, "
        f"{first['external_id'] + '--teacher'!r}{others}: a sourcedId holding '--' reads as "
        "the parts of it. Change that enrollment's sourcedId in the SIS, then sync again"
    )


def base_course_enrollments(courses: pl.LazyFrame) -> pl.LazyFrame:
    """The primary teacher of each teacher and session base course, enrolled as its teacher."""
    return courses.filter(pl.col("teacher_id").is_not_null()).select(
        (pl.col("external_id") + "--teacher").alias("external_id"),
        ("or--" + pl.col("teacher_id")).alias("user_external_id"),
        pl.col("external_id").alias("course_external_id"),
        pl.lit("teacher").alias("role"),
        pl.lit(True).alias("is_primary"),
        pl.lit(None, pl.Date).alias("begin_date"),
        pl.lit(None, pl.Date).alias("end_date"),
        pl.lit("active").alias("status"),
    )
