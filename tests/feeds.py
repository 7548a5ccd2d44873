"""Small literal OneRoster feeds for tests: a valid district and ways to break it."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from rosterflow.schemas.spec import FILE_SPECS
from rosterflow.schemas.writer import feed_csv, manifest_csv, write_feed


def frame(name: str, *rows: dict[str, str | None]) -> pl.DataFrame:
    """A OneRoster frame from dict rows; unspecified columns are empty."""
    header = FILE_SPECS[name].header
    return pl.DataFrame(
        [{column: row.get(column) for column in header} for row in rows],
        schema={column: pl.String for column in header},
    )


def tiny_district() -> dict[str, pl.DataFrame]:
    """A state, a district, two schools, one year with two terms, two courses, three classes."""
    return {
        "orgs": frame(
            "orgs",
            {"sourcedId": "st", "name": "State", "type": "state"},
            {"sourcedId": "d1", "name": "District 1", "type": "district", "parentSourcedId": "st"},
            {"sourcedId": "s1", "name": "North High", "type": "school", "parentSourcedId": "d1"},
            {"sourcedId": "s2", "name": "South High", "type": "school", "parentSourcedId": "d1"},
        ),
        "academicSessions": frame(
            "academicSessions",
            {
                "sourcedId": "y1",
                "title": "2026-27",
                "type": "schoolYear",
                "startDate": "2026-08-15",
                "endDate": "2027-06-15",
                "schoolYear": "2027",
            },
            {
                "sourcedId": "t1",
                "title": "Fall",
                "type": "term",
                "startDate": "2026-08-15",
                "endDate": "2026-12-20",
                "parentSourcedId": "y1",
                "schoolYear": "2027",
            },
            {
                "sourcedId": "t2",
                "title": "Spring",
                "type": "term",
                "startDate": "2027-01-05",
                "endDate": "2027-06-15",
                "parentSourcedId": "y1",
                "schoolYear": "2027",
            },
        ),
        "courses": frame(
            "courses",
            {
                "sourcedId": "c-alg",
                "title": "Algebra I",
                "courseCode": "ALG1",
                "orgSourcedId": "s1",
                "schoolYearSourcedId": "y1",
                "grades": "09",
                "subjects": "Math",
                "subjectCodes": "M1",
            },
            {
                "sourcedId": "c-bio",
                "title": "Biology",
                "courseCode": "BIO",
                "orgSourcedId": "s2",
                "schoolYearSourcedId": "y1",
                "grades": "09,10",
            },
        ),
        "classes": frame(
            "classes",
            {
                "sourcedId": "k1",
                "title": "Algebra I - 1",
                "courseSourcedId": "c-alg",
                "classType": "scheduled",
                "schoolSourcedId": "s1",
                "termSourcedIds": "t1",
            },
            {
                "sourcedId": "k2",
                "title": "Algebra I - 2",
                "courseSourcedId": "c-alg",
                "classType": "scheduled",
                "schoolSourcedId": "s1",
                "termSourcedIds": "t1,t2",
            },
            {
                "sourcedId": "k3",
                "title": "Biology - 1",
                "courseSourcedId": "c-bio",
                "classType": "scheduled",
                "schoolSourcedId": "s2",
                "termSourcedIds": "t2",
            },
        ),
        "users": frame(
            "users",
            _user("u-t1", "teacher", "s1", given="Ada", family="Lovelace"),
            _user("u-t2", "teacher", "s2", given="Alan", family="Turing"),
            _user("u-s1", "student", "s1", given="Sam", family="Stone", agents="u-p1"),
            _user("u-s2", "student", "s1,s2", given="Kim", family="Lee"),
            _user("u-p1", "parent", "s1", given="Pat", family="Stone", agents="u-s1"),
        ),
        "enrollments": frame(
            "enrollments",
            _enrollment("e1", "k1", "s1", "u-t1", "teacher", "true"),
            _enrollment("e2", "k1", "s1", "u-s1", "student"),
            _enrollment("e3", "k2", "s1", "u-t1", "teacher", "true"),
            _enrollment("e4", "k2", "s1", "u-s2", "student"),
            _enrollment("e5", "k3", "s2", "u-t2", "teacher", "true"),
            _enrollment("e6", "k3", "s2", "u-s2", "student"),
        ),
    }


def with_resources(district: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """tiny_district with two resources, each assigned to a class and to its course."""
    return district | {
        "resources": frame(
            "resources",
            {
                "sourcedId": "r-alg",
                "vendorResourceId": "VR-ALG",
                "title": "Algebra I (digital edition)",
                "roles": "student,teacher",
                "importance": "primary",
                "vendorId": "publisher",
            },
            {"sourcedId": "r-lab", "vendorResourceId": "VR-LAB", "title": "Virtual Lab"},
        ),
        "classResources": frame(
            "classResources",
            {
                "sourcedId": "cr1",
                "title": "Unit 1",
                "classSourcedId": "k1",
                "resourceSourcedId": "r-alg",
            },
            {"sourcedId": "cr2", "classSourcedId": "k3", "resourceSourcedId": "r-lab"},
        ),
        "courseResources": frame(
            "courseResources",
            {"sourcedId": "kr1", "courseSourcedId": "c-alg", "resourceSourcedId": "r-alg"},
            {"sourcedId": "kr2", "courseSourcedId": "c-bio", "resourceSourcedId": "r-lab"},
        ),
    }


def _user(sid: str, role: str, orgs: str, *, given: str, family: str, agents: str | None = None):
    return {
        "sourcedId": sid,
        "enabledUser": "true",
        "orgSourcedIds": orgs,
        "role": role,
        "username": f"{given}.{family}".lower(),
        "givenName": given,
        "familyName": family,
        "email": f"{given}.{family}@example.org".lower(),
        "agentSourcedIds": agents,
    }


def _enrollment(sid, class_, school, user, role, primary="false"):
    return {
        "sourcedId": sid,
        "classSourcedId": class_,
        "schoolSourcedId": school,
        "userSourcedId": user,
        "role": role,
        "primary": primary,
    }


def without_students(frames: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """`frames` as a truncated export sends them: no students, and so no parent links."""
    return dict(frames) | {
        "users": frames["users"]
        .filter(pl.col("role") != "student")
        .with_columns(pl.lit(None, pl.String).alias("agentSourcedIds")),
        "enrollments": frames["enrollments"].filter(pl.col("role") != "student"),
    }


def with_cell(frames: Mapping[str, pl.DataFrame], name: str, row: int, column: str, value):
    """A copy of `frames` with one cell of one file changed (row 0 is on line 2)."""
    changed = dict(frames)
    changed[name] = frames[name].with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit(value, pl.String))
        .otherwise(pl.col(column))
        .alias(column)
    )
    return changed


def write_zip(path: Path, files: Mapping[str, bytes | str]) -> Path:
    """A zip with exactly these members (names as given, bytes as given)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data.encode() if isinstance(data, str) else data)
    return path


def feed_files(
    frames: Mapping[str, pl.DataFrame], modes: Mapping[str, str] | None = None
) -> dict[str, bytes]:
    """The members of a feed as bytes, for tests that then corrupt one of them."""
    modes = {name: "bulk" for name in frames} | dict(modes or {})
    files = {"manifest.csv": manifest_csv(modes)}
    files |= {FILE_SPECS[n].file_name: feed_csv(n, f) for n, f in frames.items()}
    return files


__all__ = ["feed_files", "frame", "tiny_district", "with_cell", "write_feed", "write_zip"]


def faq_district() -> dict[str, pl.DataFrame]:
    """The platform FAQ's example: a state, two districts, three schools, three teachers, two
    terms per teacher and ten sections of one course title ("Math 6").

    S1 and S2 are in D1, S3 in D2; teacher Tn teaches at Sn. Sections per teacher and term:
    T1 fall 2 + spring 2, T2 fall 2 + spring 1, T3 fall 1 + spring 2. Each section has one
    student; section k-t1-fall-1 also has a co-teacher (T1 is marked primary).
    """
    orgs = frame(
        "orgs",
        {"sourcedId": "ST", "name": "State", "type": "state"},
        {"sourcedId": "D1", "name": "District 1", "type": "district", "parentSourcedId": "ST"},
        {"sourcedId": "D2", "name": "District 2", "type": "district", "parentSourcedId": "ST"},
        {"sourcedId": "S1", "name": "School 1", "type": "school", "parentSourcedId": "D1"},
        {"sourcedId": "S2", "name": "School 2", "type": "school", "parentSourcedId": "D1"},
        {"sourcedId": "S3", "name": "School 3", "type": "school", "parentSourcedId": "D2"},
    )
    sessions = frame(
        "academicSessions",
        {
            "sourcedId": "Y",
            "title": "Year",
            "type": "schoolYear",
            "startDate": "2026-08-15",
            "endDate": "2027-06-15",
            "schoolYear": "2027",
        },
        {
            "sourcedId": "fall",
            "title": "Fall",
            "type": "term",
            "startDate": "2026-08-15",
            "endDate": "2026-12-20",
            "parentSourcedId": "Y",
            "schoolYear": "2027",
        },
        {
            "sourcedId": "spring",
            "title": "Spring",
            "type": "term",
            "startDate": "2027-01-05",
            "endDate": "2027-06-15",
            "parentSourcedId": "Y",
            "schoolYear": "2027",
        },
    )
    courses = frame(
        "courses",
        *(
            {
                "sourcedId": f"C{n}",
                "title": "Math 6",
                "courseCode": "M6",
                "orgSourcedId": f"S{n}",
                "schoolYearSourcedId": "Y",
            }
            for n in (1, 2, 3)
        ),
    )
    plan = {1: {"fall": 2, "spring": 2}, 2: {"fall": 2, "spring": 1}, 3: {"fall": 1, "spring": 2}}
    sections = [
        (n, term, k)
        for n, terms in plan.items()
        for term, count in terms.items()
        for k in range(1, count + 1)
    ]
    classes = frame(
        "classes",
        *(
            {
                "sourcedId": f"k-t{n}-{term}-{k}",
                "title": f"Math 6 - T{n} {term} {k}",
                "courseSourcedId": f"C{n}",
                "classType": "scheduled",
                "schoolSourcedId": f"S{n}",
                "termSourcedIds": term,
            }
            for n, term, k in sections
        ),
    )
    users = frame(
        "users",
        *(_user(f"T{n}", "teacher", f"S{n}", given=f"Teacher{n}", family="Faq") for n in (1, 2, 3)),
        _user("T9", "teacher", "S1", given="Co", family="Teacher"),
        *(
            _user(f"P{i}", "student", f"S{n}", given=f"Pupil{i}", family="Faq")
            for i, (n, _, _) in enumerate(sections)
        ),
    )
    enrollments = frame(
        "enrollments",
        *(
            _enrollment(f"e-t-{i}", f"k-t{n}-{term}-{k}", f"S{n}", f"T{n}", "teacher", "true")
            for i, (n, term, k) in enumerate(sections)
        ),
        *(
            _enrollment(f"e-s-{i}", f"k-t{n}-{term}-{k}", f"S{n}", f"P{i}", "student")
            for i, (n, term, k) in enumerate(sections)
        ),
        _enrollment("e-co", "k-t1-fall-1", "S1", "T9", "teacher", "false"),
    )
    return {
        "orgs": orgs,
        "academicSessions": sessions,
        "courses": courses,
        "classes": classes,
        "users": users,
        "enrollments": enrollments,
    }
