"""A deterministic synthetic school district as OneRoster 1.1 frames: `generate_feed(students, seed)`.

The district is one state, `students / 20k` districts, `students / 600` schools (at least two, so a
student can move between them), each school elementary (KG-05), middle (06-08) or high (09-12).
Every school offers its level's course catalogue; each student takes the core courses of their
grade plus one to three electives (about six classes), and a course is split into sections of
20-30 students. Sections are taught by the school's teachers (one per about 20 students) in
contiguous blocks, so a teacher sticks to neighbouring courses of the catalogue; a few sections
are co-taught. Students come in families of one or more siblings, each family with one or two
parents or guardians, and the student <-> adult links are written on both sides.

Everything is vectorized: one lazy chain per step, built with Polars expressions (no numpy; no
Python loop over rows). Randomness is a counter-based hash written out in expressions (SplitMix64
over the row's integer keys, offset by the seed and the purpose of the draw) rather than a stateful
generator or Polars' own `hash` (documented as unstable across versions): a draw depends only on
(seed, purpose, keys), never on row order, and draws for different purposes are independent.
Every order-dependent operation (numbering, ranking) follows a sort on unique keys, so the output
is identical for identical (students, seed). `write_district` writes it as a feed, 1.1 or 1.2
(`rosterflow generate`).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from rosterflow.schemas.spec import FILE_SPECS
from rosterflow.schemas.v12 import as_v12
from rosterflow.schemas.writer import write_feed

STUDENTS_PER_DISTRICT = 20_000
STUDENTS_PER_SCHOOL = 600
STUDENTS_PER_TEACHER = 20
CO_TAUGHT_SHARE = 0.08
TWO_SCHOOL_STUDENT_SHARE = 0.02
TWO_SCHOOL_TEACHER_SHARE = 0.05
DISABLED_SHARE = 0.01
CLASS_RESOURCE_SHARE = 0.25

# --- randomness: a pure function of (seed, purpose, integer keys) ---------------------------

# odd multipliers that spread each key over all 64 bits before the keys are summed
_KEY_MULTIPLIERS = (0x9E3779B97F4A7C15, 0xD6E8FEB86659FD93, 0xA0761D6478BD642F)
_MIX_1 = 0xBF58476D1CE4E5B9
_MIX_2 = 0x94D049BB133111EB


def _u64(value: int) -> pl.Expr:
    return pl.lit(value, pl.UInt64)


def _splitmix(state: pl.Expr) -> pl.Expr:
    # SplitMix64's finalizer, a bijection with full avalanche; UInt64 arithmetic in Polars wraps,
    # and `//` by 2^k is a right shift. Each round doubles the expression tree, so it is applied
    # once to the combined keys rather than once per key.
    state = (state ^ (state // _u64(1 << 30))) * _u64(_MIX_1)
    state = (state ^ (state // _u64(1 << 27))) * _u64(_MIX_2)
    return state ^ (state // _u64(1 << 31))


def _stream(seed: int, purpose: str) -> int:
    """A 64-bit starting point per (seed, purpose), so that draws for different purposes are independent."""
    digest = hashlib.blake2b(f"{seed}/{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _draw(seed: int, purpose: str, *keys: str | pl.Expr) -> pl.Expr:
    """A uniform float in [0, 1) for each row, determined by the row's integer `keys` (at most 3)."""
    state = _u64(_stream(seed, purpose))
    for key, multiplier in zip(keys, _KEY_MULTIPLIERS, strict=False):
        key_expr = pl.col(key) if isinstance(key, str) else key
        state = state + key_expr.cast(pl.UInt64) * _u64(multiplier)
    # the top 53 bits are exactly representable as a float
    return (_splitmix(state) // _u64(1 << 11)).cast(pl.Float64) / float(1 << 53)


def _below(n: int | pl.Expr, draw: pl.Expr) -> pl.Expr:
    """An integer in [0, n) from a uniform draw."""
    return (draw * n).floor().cast(pl.Int64)


def _pick(options: Sequence[str], draw: pl.Expr) -> pl.Expr:
    """One of `options`, uniformly."""
    return pl.lit(pl.Series(list(options), dtype=pl.String)).gather(_below(len(options), draw))


def _weighted(choices: Sequence[tuple[str | int, float]], draw: pl.Expr) -> pl.Expr:
    """One of the values of `choices` with the given probabilities (which sum to 1)."""
    *head, (last, _) = choices
    expr = pl.lit(last)
    bound = sum(p for _, p in head)
    for value, probability in reversed(head):
        bound -= probability
        expr = pl.when(draw < bound + probability).then(pl.lit(value)).otherwise(expr)
    return expr


# --- names ----------------------------------------------------------------------------------

GIVEN_NAMES = (
    "Aaliyah",
    "Aiden",
    "Amelia",
    "Andrew",
    "Aria",
    "Ava",
    "Benjamin",
    "Brooklyn",
    "Caleb",
    "Camila",
    "Carter",
    "Charlotte",
    "Chloé",
    "Daniel",
    "David",
    "Dylan",
    "Elijah",
    "Ella",
    "Emily",
    "Emma",
    "Ethan",
    "Evelyn",
    "Gabriel",
    "Grace",
    "Hannah",
    "Harper",
    "Henry",
    "Isaac",
    "Isabella",
    "Jack",
    "Jackson",
    "Jacob",
    "James",
    "Jayden",
    "Jose",
    "José",
    "Joshua",
    "Julian",
    "Layla",
    "Leah",
    "Liam",
    "Lily",
    "Logan",
    "Lucas",
    "Luna",
    "Madison",
    "Mason",
    "Mateo",
    "Maya",
    "Mia",
    "Michael",
    "Nathan",
    "Noah",
    "Nora",
    "Olivia",
    "Owen",
    "Priya",
    "Riley",
    "Samuel",
    "Scarlett",
    "Sebastian",
    "Sofia",
    "Sophia",
    "Thomas",
    "Valentina",
    "Victoria",
    "Wei",
    "William",
    "Wyatt",
    "Zoe",
    "Zoë",
    "Aisha",
    "Omar",
    "Fatima",
    "Kenji",
    "Mei",
    "Dmitri",
    "Ingrid",
    "Kwame",
    "Ananya",
)
FAMILY_NAMES = (
    "Adams",
    "Allen",
    "Anderson",
    "Baker",
    "Brown",
    "Campbell",
    "Carter",
    "Chen",
    "Clark",
    "Collins",
    "Davis",
    "Díaz",
    "Edwards",
    "Evans",
    "Flores",
    "García",
    "Gomez",
    "Green",
    "Hall",
    "Harris",
    "Hernández",
    "Hill",
    "Jackson",
    "Johnson",
    "Jones",
    "Kim",
    "King",
    "Lee",
    "Lewis",
    "López",
    "Martin",
    "Martínez",
    "Miller",
    "Mitchell",
    "Moore",
    "Morales",
    "Murphy",
    "Nelson",
    "Nguyen",
    "O'Brien",
    "Okafor",
    "Parker",
    "Patel",
    "Pérez",
    "Phillips",
    "Ramirez",
    "Reyes",
    "Roberts",
    "Robinson",
    "Rodriguez",
    "Sanchez",
    "Scott",
    "Smith",
    "Smith-Jones",
    "Stewart",
    "Taylor",
    "Thomas",
    "Thompson",
    "Torres",
    "Turner",
    "Walker",
    "White",
    "Williams",
    "Wilson",
    "Wright",
    "Young",
    "Yamamoto",
    "Kowalski",
    "Schmidt",
    "Müller",
    "Ivanova",
    "Haddad",
    "Mensah",
    "Singh",
    "Cohen",
    "Rossi",
)
STATE_NAMES = ("Cascadia", "Columbia", "Franklin", "Jefferson", "Superior", "Sequoyah")
PLACE_NAMES = (
    "Ashford",
    "Bayview",
    "Brookside",
    "Cedar Falls",
    "Clearwater",
    "Eastbrook",
    "Fairview",
    "Glenwood",
    "Greenfield",
    "Harbor City",
    "Highland",
    "Lakeside",
    "Maplewood",
    "Millbrook",
    "North Valley",
    "Oakdale",
    "Pine Ridge",
    "Riverside",
    "Rockport",
    "Silver Lake",
    "Springfield",
    "Stonebridge",
    "Westfield",
    "Willow Creek",
)
SCHOOL_NAMESAKES = (
    "Lincoln",
    "Washington",
    "Jefferson",
    "Roosevelt",
    "Kennedy",
    "Franklin",
    "Madison",
    "Adams",
    "Hamilton",
    "Carver",
    "Douglass",
    "Earhart",
    "Edison",
    "Emerson",
    "Keller",
    "King",
    "Marshall",
    "Parks",
    "Ride",
    "Sequoia",
    "Tubman",
    "Whitman",
    "Oak Grove",
    "Pinecrest",
    "Meadowbrook",
    "Sunnyside",
    "Hillcrest",
    "Lakeview",
    "Valley View",
    "Cedar Ridge",
    "Eagle Point",
    "Mountain View",
)


def _slug(name: str) -> str:
    """Ascii letters and digits only, lowercase: `García` -> `garcia`, `O'Brien` -> `obrien`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_name.lower() if c.isalnum())


def _name_columns(prefix: str, names: Sequence[str], draw: pl.Expr) -> list[pl.Expr]:
    """`{prefix}` (the name) and `{prefix}_slug` (for usernames and emails) from one draw."""
    index = _below(len(names), draw)
    slugs = [_slug(n) for n in names]
    return [
        pl.lit(pl.Series(list(names), dtype=pl.String)).gather(index).alias(prefix),
        pl.lit(pl.Series(slugs, dtype=pl.String)).gather(index).alias(f"{prefix}_slug"),
    ]


# --- the calendar -----------------------------------------------------------------------------

SCHOOL_YEAR = "2027"
YEAR_ID = "as-2027"
TERM_IDS = ("as-2027-s1", "as-2027-s2")
# sourcedId, title, type, startDate, endDate, parentSourcedId
_SESSIONS = (
    (YEAR_ID, "2026-2027", "schoolYear", "2026-08-15", "2027-06-15", None),
    (TERM_IDS[0], "Fall 2026", "semester", "2026-08-15", "2026-12-18", YEAR_ID),
    (TERM_IDS[1], "Spring 2027", "semester", "2027-01-05", "2027-06-15", YEAR_ID),
    ("as-2027-q1", "Quarter 1", "gradingPeriod", "2026-08-15", "2026-10-16", TERM_IDS[0]),
    ("as-2027-q2", "Quarter 2", "gradingPeriod", "2026-10-19", "2026-12-18", TERM_IDS[0]),
    ("as-2027-q3", "Quarter 3", "gradingPeriod", "2027-01-05", "2027-03-19", TERM_IDS[1]),
    ("as-2027-q4", "Quarter 4", "gradingPeriod", "2027-03-22", "2027-06-15", TERM_IDS[1]),
)


def _academic_sessions() -> pl.DataFrame:
    return pl.DataFrame(
        _SESSIONS,
        schema=["sourcedId", "title", "type", "startDate", "endDate", "parentSourcedId"],
        orient="row",
    ).with_columns(schoolYear=pl.lit(SCHOOL_YEAR))


def _term_spans() -> pl.DataFrame:
    """A section's terms -> its dates: one row per semester and one for the whole year."""
    dates = {row[0]: (row[3], row[4]) for row in _SESSIONS}
    (first, second) = TERM_IDS
    return pl.DataFrame(
        {
            "term_slot": [0, 1, 2],  # 2 = a full-year section, taught in both semesters
            "termSourcedIds": [first, second, f"{first},{second}"],
            "beginDate": [dates[first][0], dates[second][0], dates[first][0]],
            "endDate": [dates[first][1], dates[second][1], dates[second][1]],
        }
    )


# --- the course catalogue ---------------------------------------------------------------------

LEVEL_GRADES = {
    "elementary": ("KG", "01", "02", "03", "04", "05"),
    "middle": ("06", "07", "08"),
    "high": ("09", "10", "11", "12"),
}
# elementary schools are the most numerous and the smallest, high schools the largest
LEVEL_PATTERN = ("high", "elementary", "middle", "elementary", "elementary")
LEVEL_SIZE = {"elementary": 0.8, "middle": 1.1, "high": 1.6}
SCHOOL_KIND = {"elementary": "Elementary School", "middle": "Middle School", "high": "High School"}
SUBJECT_CODES = {
    "Mathematics": "MATH",
    "English Language Arts": "ELA",
    "Science": "SCI",
    "Social Studies": "SOC",
    "World Languages": "WL",
    "Fine Arts": "ART",
    "Physical Education": "PE",
    "Health": "HLTH",
    "Computer Science": "CS",
    "Homeroom": "HR",
}


@dataclass(frozen=True)
class _Course:
    level: str
    title: str
    subjects: tuple[str, ...]
    grades: tuple[str, ...]
    core: bool  # every student of these grades takes it; else an elective
    full_year: bool = False  # one section spans both semesters
    homeroom: bool = False


def _core(level: str, title: str, subject: str, grade: str, *, homeroom: bool = False) -> _Course:
    """A course every student of `grade` takes (a homeroom lasts the whole year)."""
    return _Course(level, title, (subject,), (grade,), True, full_year=homeroom, homeroom=homeroom)


def _elective(
    level: str, title: str, subjects: str, grades: Sequence[str], *, full_year: bool = False
) -> _Course:
    return _Course(level, title, tuple(subjects.split(",")), tuple(grades), False, full_year)


def _catalogue() -> tuple[_Course, ...]:
    elementary, middle, high = (LEVEL_GRADES[level] for level in ("elementary", "middle", "high"))
    courses: list[_Course] = []
    for grade in elementary:
        label = "Kindergarten" if grade == "KG" else f"Grade {int(grade)}"
        courses += [
            _core("elementary", f"{label} Homeroom", "Homeroom", grade, homeroom=True),
            _core("elementary", f"{label} Reading", "English Language Arts", grade),
            _core("elementary", f"{label} Mathematics", "Mathematics", grade),
            _core("elementary", f"{label} Science", "Science", grade),
        ]
    courses += [
        _elective("elementary", "Art", "Fine Arts", elementary),
        _elective("elementary", "Music", "Fine Arts", elementary),
        _elective("elementary", "Physical Education", "Physical Education", elementary),
        _elective("elementary", "Library Media", "English Language Arts", elementary),
    ]
    for grade, math in zip(middle, ("Math 6", "Math 7", "Pre-Algebra"), strict=True):
        courses += [
            _core("middle", f"English {int(grade)}", "English Language Arts", grade),
            _core("middle", math, "Mathematics", grade),
            _core("middle", f"Science {int(grade)}", "Science", grade),
            _core("middle", f"Social Studies {int(grade)}", "Social Studies", grade),
        ]
    courses += [
        _elective("middle", "Art", "Fine Arts", middle),
        _elective("middle", "Band", "Fine Arts", middle, full_year=True),
        _elective("middle", "Choir", "Fine Arts", middle),
        _elective("middle", "Physical Education", "Physical Education", middle),
        _elective("middle", "Health", "Health", middle),
        _elective("middle", "Spanish I", "World Languages", ("07", "08")),
        _elective("middle", "Computer Science Discoveries", "Computer Science", middle),
    ]
    high_cores = (
        ("English 9", "Algebra I", "Biology", "World Geography"),
        ("English 10", "Geometry", "Chemistry", "World History"),
        ("English 11", "Algebra II", "Physics", "U.S. History"),
        ("English 12", "Precalculus", "Environmental Science", "Government"),
    )
    core_subjects = ("English Language Arts", "Mathematics", "Science", "Social Studies")
    for grade, titles in zip(high, high_cores, strict=True):
        courses += [
            _core("high", title, subject, grade)
            for title, subject in zip(titles, core_subjects, strict=True)
        ]
    courses += [
        _elective("high", "Spanish I", "World Languages", ("09", "10")),
        _elective("high", "Spanish II", "World Languages", ("10", "11", "12")),
        _elective("high", "French I", "World Languages", ("09", "10", "11")),
        _elective("high", "French II", "World Languages", ("10", "11", "12")),
        _elective("high", "Art I", "Fine Arts", high),
        _elective("high", "Concert Band", "Fine Arts", high, full_year=True),
        _elective("high", "Physical Education", "Physical Education", ("09", "10")),
        _elective("high", "Health", "Health", ("09", "10")),
        _elective("high", "Computer Science Principles", "Computer Science", ("10", "11", "12")),
        _elective("high", "Psychology", "Social Studies", ("11", "12")),
        _elective("high", "Economics", "Social Studies", ("12",)),
        _elective("high", "Journalism", "English Language Arts", ("10", "11", "12")),
        # two subjects in one list field
        _elective("high", "AP Biology", "Science,Advanced Placement", ("11", "12"), full_year=True),
        _elective(
            "high", "AP Calculus AB", "Mathematics,Advanced Placement", ("12",), full_year=True
        ),
    ]
    return tuple(courses)


def _catalogue_frame() -> pl.DataFrame:
    catalogue = _catalogue()
    return pl.DataFrame(
        {
            "catalogue_no": list(range(len(catalogue))),
            "level": [c.level for c in catalogue],
            "title": [c.title for c in catalogue],
            "courseCode": [
                f"{SUBJECT_CODES[c.subjects[0]]}-{c.level[0].upper()}{number + 101}"
                for number, c in enumerate(catalogue)
            ],
            # a homeroom has no subject
            "subjects": [None if c.homeroom else ",".join(c.subjects) for c in catalogue],
            "grade_list": [list(c.grades) for c in catalogue],
            "core": [c.core for c in catalogue],
            "full_year": [c.full_year for c in catalogue],
            "homeroom": [c.homeroom for c in catalogue],
        },
        schema_overrides={"subjects": pl.String},
    )


# --- the steps: each one lazy chain, collected once (lazy evaluation also lets Polars share the
# repeated subexpressions of `_draw`) ---------------------------------------------------------


def _run_position(*keys: str) -> pl.Expr:
    """0-based position of each row within its run of equal `keys`, in a frame sorted by them.

    The same as `int_range(len()).over(keys)` but linear, without hashing 200k small groups.
    """
    row = pl.int_range(pl.len())
    starts = pl.any_horizontal(*(pl.col(k).ne_missing(pl.col(k).shift(1)) for k in keys))
    return row - pl.when(starts).then(row).forward_fill()


def _schools(students: int, seed: int) -> pl.DataFrame:
    """One row per school: its district, level, name, and the range of student numbers it holds."""
    n_schools = max(2, round(students / STUDENTS_PER_SCHOOL))
    n_districts = max(1, min(n_schools, round(students / STUDENTS_PER_DISTRICT)))
    district_place = _stream(seed, "district-place") % len(PLACE_NAMES)
    namesake = _stream(seed, "school-namesake") % len(SCHOOL_NAMESAKES)
    weight = pl.col("level").replace_strict(LEVEL_SIZE, return_dtype=pl.Float64) * (
        0.75 + 0.5 * _draw(seed, "school-size", "school_no")
    )
    return (
        pl.LazyFrame({"school_no": pl.int_range(n_schools, eager=True)})
        .with_columns(district_no=pl.col("school_no") * n_districts // n_schools)
        .with_columns(local_no=pl.int_range(pl.len()).over("district_no"))
        .with_columns(
            level=pl.lit(pl.Series(LEVEL_PATTERN)).gather(pl.col("local_no") % len(LEVEL_PATTERN)),
            district_place=pl.lit(pl.Series(PLACE_NAMES)).gather(
                (pl.col("district_no") + district_place) % len(PLACE_NAMES)
            ),
            # step through the namesakes so that neighbouring schools differ
            namesake=pl.lit(pl.Series(SCHOOL_NAMESAKES)).gather(
                (pl.col("school_no") * 7 + namesake) % len(SCHOOL_NAMESAKES)
            ),
        )
        .with_columns(
            # schools hold contiguous ranges of student numbers: [first_student, end_student)
            end_student=(weight.cum_sum() / weight.sum() * students).round().cast(pl.Int64),
            school_id=pl.format("org-s-{}", pl.col("school_no") + 1),
            district_id=pl.format("org-d-{}", pl.col("district_no") + 1),
            name=pl.format(
                "{} {}",
                pl.col("namesake"),
                pl.col("level").replace_strict(SCHOOL_KIND, return_dtype=pl.String),
            ),
            domain=pl.format(
                "{}.example.org", pl.col("district_place").str.to_lowercase().str.replace(" ", "")
            ),
        )
        .with_columns(
            first_student=pl.col("end_student").shift(1, fill_value=0),
            # the next school, for the few users who list two
            second_school_id=pl.col("school_id").shift(-1, fill_value=pl.col("school_id").first()),
        )
        .collect()
    )


def _orgs(schools: pl.DataFrame, seed: int) -> pl.DataFrame:
    state_name = STATE_NAMES[_stream(seed, "state") % len(STATE_NAMES)]
    state = pl.LazyFrame(
        {
            "sourcedId": ["org-st-1"],
            "name": [f"{state_name} Department of Education"],
            "type": ["state"],
            "identifier": ["99"],
            "parentSourcedId": [None],
        },
        schema_overrides={"parentSourcedId": pl.String},
    )
    districts = (
        schools.lazy()
        .group_by("district_no", "district_id", "district_place")
        .agg()
        .sort("district_no")
        .select(
            pl.col("district_id").alias("sourcedId"),
            pl.format("{} Unified School District", "district_place").alias("name"),
            pl.lit("district").alias("type"),
            pl.format("99{}", _zfill(pl.col("district_no") + 1, 5)).alias("identifier"),
            pl.lit("org-st-1").alias("parentSourcedId"),
        )
    )
    school_rows = schools.lazy().select(
        pl.col("school_id").alias("sourcedId"),
        "name",
        pl.lit("school").alias("type"),
        pl.format(
            "99{}{}", _zfill(pl.col("district_no") + 1, 5), _zfill(pl.col("school_no") + 1, 5)
        ).alias("identifier"),
        pl.col("district_id").alias("parentSourcedId"),
    )
    return pl.concat([state, districts, school_rows]).collect()


def _zfill(number: pl.Expr, width: int) -> pl.Expr:
    return number.cast(pl.String).str.zfill(width)


def _roster(students: int, schools: pl.DataFrame, seed: int) -> pl.DataFrame:
    """One row per student: school, grade, family and name (no ids of other users yet)."""
    level_grades = pl.LazyFrame(
        [
            (level, grade_no, grade, len(grades))
            for level, grades in LEVEL_GRADES.items()
            for grade_no, grade in enumerate(grades)
        ],
        schema=["level", "grade_no", "grade", "n_grades"],
        orient="row",
    )
    school_of = schools["end_student"].search_sorted(
        pl.int_range(students, eager=True), side="right"
    )
    return (
        pl.LazyFrame({"student_no": pl.int_range(students, eager=True), "school_no": school_of})
        .with_columns(pl.col("school_no").cast(pl.Int64))
        .join(
            schools.lazy().select(
                "school_no", "district_no", "school_id", "second_school_id", "level", "domain"
            ),
            on="school_no",
        )
        .join(level_grades.select("level", "n_grades").unique(), on="level")
        .with_columns(grade_no=_below(pl.col("n_grades"), _draw(seed, "grade", "student_no")))
        .join(level_grades.select("level", "grade_no", "grade"), on=["level", "grade_no"])
        # families: walk each district's students in a random order; a student starts a new
        # family with probability 0.7, else is the next sibling (about 1.4 children a family,
        # possibly at different schools of the district)
        .with_columns(family_order=_draw(seed, "family-order", "student_no"))
        .sort("district_no", "family_order", "student_no")
        .with_columns(
            family_no=(
                (_draw(seed, "new-family", "student_no") < 0.7)
                | pl.col("district_no").ne_missing(pl.col("district_no").shift(1))
            ).cum_sum()
            - 1
        )
        .with_columns(
            *_name_columns("givenName", GIVEN_NAMES, _draw(seed, "student-given", "student_no")),
            *_name_columns("familyName", FAMILY_NAMES, _draw(seed, "family-name", "family_no")),
            middleName=pl.when(_draw(seed, "student-has-middle", "student_no") < 0.4).then(
                _pick(GIVEN_NAMES, _draw(seed, "student-middle", "student_no"))
            ),
            two_schools=_draw(seed, "student-two-schools", "student_no") < TWO_SCHOOL_STUDENT_SHARE,
            enabled=_draw(seed, "student-enabled", "student_no") >= DISABLED_SHARE,
            sourcedId=pl.format("usr-stu-{}", pl.col("student_no") + 1),
        )
        .sort("student_no")
        .drop("n_grades", "grade_no", "family_order")
        .collect()
    )


def _courses(schools: pl.DataFrame) -> pl.DataFrame:
    """Every school offers its level's whole catalogue."""
    return (
        schools.lazy()
        .select("school_no", "school_id", "level")
        .join(_catalogue_frame().lazy(), on="level")
        .sort("school_no", "catalogue_no")
        .with_columns(
            course_no=pl.int_range(pl.len()),
            grades=pl.col("grade_list").list.join(","),
        )
        .with_columns(course_id=pl.format("crs-{}", pl.col("course_no") + 1))
        .collect()
    )


def _course_choices(roster: pl.DataFrame, courses: pl.DataFrame, seed: int) -> pl.DataFrame:
    """One row per (student, course taken): every core course of the grade, plus 1-3 electives."""
    electives_wanted = _weighted(
        [(1, 0.25), (2, 0.5), (3, 0.25)], _draw(seed, "electives", "student_no")
    )
    offered = (
        courses.lazy()
        .select("school_no", "course_no", "core", "grade_list")
        .explode("grade_list")
        .rename({"grade_list": "grade"})
    )
    return (
        roster.lazy()
        .select("student_no", "school_no", "grade")
        .join(offered, on=["school_no", "grade"])
        # the electives a student takes are their most preferred ones
        .with_columns(preference=_draw(seed, "elective-preference", "student_no", "course_no"))
        .sort("student_no", "core", "preference", "course_no")
        .filter(pl.col("core") | (_run_position("student_no", "core") < electives_wanted))
        .select("student_no", "school_no", "course_no")
        .collect()
    )


def _sections(choices: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Split each course's students into sections of 20-30: one row per (student, section)."""
    class_size = 20 + _below(11, _draw(seed, "class-size", "course_no"))
    return (
        choices.lazy()
        .with_columns(seat_order=_draw(seed, "seat", "student_no", "course_no"))
        .sort("course_no", "seat_order", "student_no")
        .with_columns(
            seat=_run_position("course_no"),
            n_sections=(pl.len().over("course_no") / class_size).ceil().cast(pl.Int64),
        )
        # deal the students out round-robin so that sections are even
        .with_columns(section=pl.col("seat") % pl.col("n_sections"))
        .select("student_no", "course_no", "section")
        .collect()
    )


def _teacher_counts(schools: pl.DataFrame) -> pl.LazyFrame:
    """Teachers per school (at least two, so that a class can be co-taught) and the first's number."""
    return (
        schools.lazy()
        .select(
            "school_no",
            n_teachers=pl.max_horizontal(
                pl.lit(2, pl.Int64),
                ((pl.col("end_student") - pl.col("first_student")) / STUDENTS_PER_TEACHER)
                .ceil()
                .cast(pl.Int64),
            ),
        )
        .sort("school_no")
        .with_columns(first_teacher=pl.col("n_teachers").cum_sum() - pl.col("n_teachers"))
    )


def _classes(
    seats: pl.DataFrame, courses: pl.DataFrame, schools: pl.DataFrame, seed: int
) -> pl.DataFrame:
    """One row per section, with its teacher (and the co-teacher of a few)."""
    period = 1 + _below(7, _draw(seed, "period", "class_no"))
    return (
        seats.lazy()
        .select("course_no", "section")
        .unique()
        .join(courses.lazy(), on="course_no")
        .sort("school_no", "course_no", "section")
        .with_columns(class_no=pl.int_range(pl.len()))
        .with_columns(
            # semester sections alternate between the terms; a full-year one spans both
            term_slot=pl.when(pl.col("full_year"))
            .then(2)
            .otherwise((pl.col("section") + pl.col("course_no")) % 2)
            .cast(pl.Int64),
            class_id=pl.format("cls-{}", pl.col("class_no") + 1),
            class_title=pl.format("{} - {}", "title", pl.col("section") + 1),
            classCode=pl.format("{}-{}", "courseCode", _zfill(pl.col("section") + 1, 2)),
            classType=pl.when(pl.col("homeroom"))
            .then(pl.lit("homeroom"))
            .otherwise(pl.lit("scheduled")),
            location=pl.when(pl.col("subjects") == "Physical Education")
            .then(pl.lit("Gymnasium"))
            .otherwise(pl.format("Room {}", 100 + _below(60, _draw(seed, "room", "class_no")))),
            # a homeroom meets first thing; a few sections are a double period
            periods=pl.when(pl.col("homeroom"))
            .then(pl.lit("HR"))
            .when((_draw(seed, "double-period", "class_no") < 0.05) & (period < 7))
            .then(pl.format("{},{}", period, period + 1))
            .otherwise(period.cast(pl.String)),
        )
        .join(_term_spans().lazy(), on="term_slot")
        .join(_teacher_counts(schools), on="school_no")
        # teachers take contiguous blocks of their school's sections in catalogue order, so each
        # teaches a few neighbouring courses; class titles are unique within a school, hence
        # within any one teacher's classes
        .sort("class_no")
        .with_columns(
            teacher_local=_run_position("school_no")
            * pl.col("n_teachers")
            // pl.len().over("school_no")
        )
        .with_columns(
            teacher_no=pl.col("first_teacher") + pl.col("teacher_local"),
            co_teacher_no=pl.when(_draw(seed, "co-taught", "class_no") < CO_TAUGHT_SHARE).then(
                pl.col("first_teacher")
                + (
                    pl.col("teacher_local")
                    + 1
                    + _below(pl.col("n_teachers") - 1, _draw(seed, "co-teacher", "class_no"))
                )
                % pl.col("n_teachers")
            ),
        )
        .collect()
    )


def _bool_text(condition: pl.Expr) -> pl.Expr:
    """OneRoster's lowercase `true` / `false`."""
    return pl.when(condition).then(pl.lit("true")).otherwise(pl.lit("false"))


def _enabled(seed: int, role: str, key: str) -> pl.Expr:
    return _bool_text(_draw(seed, f"{role}-enabled", key) >= DISABLED_SHARE).alias("enabledUser")


def _teacher_users(schools: pl.DataFrame, seed: int) -> pl.DataFrame:
    return (
        _teacher_counts(schools)
        .with_columns(teacher_local=pl.int_ranges(0, "n_teachers"))
        .explode("teacher_local")
        .with_columns(teacher_no=pl.col("first_teacher") + pl.col("teacher_local"))
        .join(
            schools.lazy().select("school_no", "school_id", "second_school_id", "domain"),
            on="school_no",
        )
        .sort("teacher_no")
        .with_columns(
            *_name_columns("givenName", GIVEN_NAMES, _draw(seed, "teacher-given", "teacher_no")),
            *_name_columns("familyName", FAMILY_NAMES, _draw(seed, "teacher-family", "teacher_no")),
            number=pl.col("teacher_no") + 1,
        )
        .select(
            pl.format("usr-tch-{}", "number").alias("sourcedId"),
            _enabled(seed, "teacher", "teacher_no"),
            pl.when(_draw(seed, "teacher-two-schools", "teacher_no") < TWO_SCHOOL_TEACHER_SHARE)
            .then(pl.format("{},{}", "school_id", "second_school_id"))
            .otherwise("school_id")
            .alias("orgSourcedIds"),
            pl.lit("teacher").alias("role"),
            pl.format("{}.{}{}", "givenName_slug", "familyName_slug", "number").alias("username"),
            pl.format("{{LDAP:{}}}", 200_000 + pl.col("number")).alias("userIds"),
            "givenName",
            "familyName",
            pl.when(_draw(seed, "teacher-has-middle", "teacher_no") < 0.3)
            .then(_pick(GIVEN_NAMES, _draw(seed, "teacher-middle", "teacher_no")))
            .alias("middleName"),
            pl.format("T{}", _zfill(pl.col("number"), 6)).alias("identifier"),
            # every teacher has an address: a platform warns about a teacher without one
            pl.format("{}.{}{}@{}", "givenName_slug", "familyName_slug", "number", "domain").alias(
                "email"
            ),
        )
        .collect()
    )


def _adults(roster: pl.DataFrame, seed: int) -> pl.DataFrame:
    """One row per parent or guardian (with `family_no`): each family has one or two."""
    return (
        roster.lazy()
        .group_by("family_no")
        .agg(
            pl.first("familyName"),
            pl.first("familyName_slug"),
            # an adult's schools are the schools of their children
            pl.col("school_id").unique().sort().str.join(",").alias("orgSourcedIds"),
            pl.col("sourcedId").sort_by("student_no").str.join(",").alias("agentSourcedIds"),
        )
        .with_columns(adult=pl.int_ranges(0, 1 + (_draw(seed, "two-adults", "family_no") < 0.55)))
        .explode("adult")
        .sort("family_no", "adult")
        .with_columns(parent_no=pl.int_range(pl.len()))
        .with_columns(
            *_name_columns("givenName", GIVEN_NAMES, _draw(seed, "adult-given", "parent_no")),
            *_name_columns("ownName", FAMILY_NAMES, _draw(seed, "adult-family", "parent_no")),
            # a family's second adult sometimes has a family name of their own
            own_name=(pl.col("adult") == 1) & (_draw(seed, "adult-own-name", "parent_no") < 0.15),
            number=pl.col("parent_no") + 1,
        )
        .with_columns(
            familyName=pl.when("own_name").then("ownName").otherwise("familyName"),
            familyName_slug=pl.when("own_name").then("ownName_slug").otherwise("familyName_slug"),
        )
        .select(
            "family_no",
            pl.format("usr-par-{}", "number").alias("sourcedId"),
            _enabled(seed, "adult", "parent_no"),
            "orgSourcedIds",
            _weighted(
                [("parent", 0.85), ("guardian", 0.12), ("relative", 0.03)],
                _draw(seed, "adult-role", "parent_no"),
            ).alias("role"),
            pl.format("{}.{}.p{}", "givenName_slug", "familyName_slug", "number").alias("username"),
            "givenName",
            "familyName",
            pl.when(_draw(seed, "adult-email", "parent_no") < 0.9)
            .then(pl.format("{}.{}{}@example.com", "givenName_slug", "familyName_slug", "number"))
            .alias("email"),
            # 555-0100..0199 are the numbers reserved for fiction
            pl.when(_draw(seed, "adult-phone", "parent_no") < 0.7)
            .then(
                pl.format(
                    "({}) 555-01{}",
                    200 + _below(700, _draw(seed, "area-code", "parent_no")),
                    _zfill(_below(100, _draw(seed, "line", "parent_no")), 2),
                )
            )
            .alias("phone"),
            "agentSourcedIds",
            "parent_no",
        )
        .collect()
    )


def _student_users(roster: pl.DataFrame, adults: pl.DataFrame) -> pl.DataFrame:
    agents = (
        adults.lazy()
        .group_by("family_no")
        .agg(pl.col("sourcedId").sort_by("parent_no").str.join(",").alias("agentSourcedIds"))
    )
    return (
        roster.lazy()
        .join(agents, on="family_no")
        .with_columns(number=pl.col("student_no") + 1)
        .sort("student_no")
        .select(
            "sourcedId",
            _bool_text(pl.col("enabled")).alias("enabledUser"),
            pl.when("two_schools")
            .then(pl.format("{},{}", "school_id", "second_school_id"))
            .otherwise("school_id")
            .alias("orgSourcedIds"),
            pl.lit("student").alias("role"),
            pl.format(
                "{}{}{}", pl.col("givenName_slug").str.slice(0, 1), "familyName_slug", "number"
            ).alias("username"),
            pl.format(
                "{{LDAP:{}}},{{SIS:S{}}}", 1_000_000 + pl.col("number"), _zfill(pl.col("number"), 7)
            ).alias("userIds"),
            "givenName",
            "familyName",
            "middleName",
            pl.format("S{}", _zfill(pl.col("number"), 7)).alias("identifier"),
            pl.format(
                "{}{}{}@students.{}",
                pl.col("givenName_slug").str.slice(0, 1),
                "familyName_slug",
                "number",
                "domain",
            ).alias("email"),
            "agentSourcedIds",
            pl.col("grade").alias("grades"),
        )
        .collect()
    )


def _administrator_users(schools: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Two at each district office and a principal at each school."""
    offices = (
        schools.lazy()
        .group_by("district_no", "district_id")
        .agg(pl.first("domain"))
        .with_columns(slot=pl.int_ranges(0, 2))
        .explode("slot")
        .select("district_no", "domain", org_id=pl.col("district_id"), order=pl.col("slot"))
    )
    principals = schools.lazy().select(
        "district_no", "domain", org_id=pl.col("school_id"), order=pl.col("school_no") + 2
    )
    return (
        pl.concat([offices, principals])
        .sort("district_no", "order")
        .with_columns(admin_no=pl.int_range(pl.len()))
        .with_columns(
            *_name_columns("givenName", GIVEN_NAMES, _draw(seed, "admin-given", "admin_no")),
            *_name_columns("familyName", FAMILY_NAMES, _draw(seed, "admin-family", "admin_no")),
            number=pl.col("admin_no") + 1,
        )
        .select(
            pl.format("usr-adm-{}", "number").alias("sourcedId"),
            pl.lit("true").alias("enabledUser"),
            pl.col("org_id").alias("orgSourcedIds"),
            pl.lit("administrator").alias("role"),
            pl.format("{}.{}.a{}", "givenName_slug", "familyName_slug", "number").alias("username"),
            pl.format("{{LDAP:{}}}", 100_000 + pl.col("number")).alias("userIds"),
            "givenName",
            "familyName",
            pl.format("A{}", _zfill(pl.col("number"), 6)).alias("identifier"),
            pl.format("{}.{}@{}", "givenName_slug", "familyName_slug", "domain").alias("email"),
        )
        .collect()
    )


def _course_rows(courses: pl.DataFrame) -> pl.DataFrame:
    return courses.select(
        pl.col("course_id").alias("sourcedId"),
        pl.lit(YEAR_ID).alias("schoolYearSourcedId"),
        "title",
        "courseCode",
        "grades",
        pl.col("school_id").alias("orgSourcedId"),
        "subjects",
    )


def _class_rows(classes: pl.DataFrame) -> pl.DataFrame:
    return classes.select(
        pl.col("class_id").alias("sourcedId"),
        pl.col("class_title").alias("title"),
        "grades",
        pl.col("course_id").alias("courseSourcedId"),
        "classCode",
        "classType",
        "location",
        pl.col("school_id").alias("schoolSourcedId"),
        "termSourcedIds",
        "subjects",
        "periods",
    )


def _resources(courses: pl.DataFrame) -> pl.DataFrame:
    """The digital edition of each catalogue course the district's schools offer."""
    return (
        courses.select("catalogue_no", "title")
        .unique("catalogue_no")
        .sort("catalogue_no")
        .select(
            pl.format("res-{}", pl.col("catalogue_no") + 1).alias("sourcedId"),
            pl.format("VR-{}", _zfill(pl.col("catalogue_no") + 1, 4)).alias("vendorResourceId"),
            pl.format("{} (digital edition)", "title").alias("title"),
            pl.lit("student,teacher").alias("roles"),
            pl.lit("primary").alias("importance"),
            pl.lit("publisher").alias("vendorId"),
        )
    )


def _course_resources(courses: pl.DataFrame) -> pl.DataFrame:
    """Every course is assigned its digital edition."""
    return courses.select(
        pl.format("crsres-{}", pl.col("course_no") + 1).alias("sourcedId"),
        pl.col("title"),
        pl.col("course_id").alias("courseSourcedId"),
        pl.format("res-{}", pl.col("catalogue_no") + 1).alias("resourceSourcedId"),
    )


def _class_resources(classes: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Some sections are also assigned the edition themselves (a teacher's own choice)."""
    return classes.filter(_draw(seed, "class-resource", "class_no") < CLASS_RESOURCE_SHARE).select(
        pl.format("clsres-{}", pl.col("class_no") + 1).alias("sourcedId"),
        pl.col("class_title").alias("title"),
        pl.col("class_id").alias("classSourcedId"),
        pl.format("res-{}", pl.col("catalogue_no") + 1).alias("resourceSourcedId"),
    )


def _enrollments(seats: pl.DataFrame, classes: pl.DataFrame) -> pl.DataFrame:
    """Each section's primary teacher, its co-teacher if any, then its students."""
    sections = classes.lazy().select(
        "class_no", "course_no", "section", "class_id", "school_id", "beginDate", "endDate"
    )
    teachers = (
        classes.lazy()
        .select(
            "class_no",
            teacher_no=pl.concat_list("teacher_no", "co_teacher_no").list.drop_nulls(),
            position=pl.int_ranges(0, 1 + pl.col("co_teacher_no").is_not_null()),
        )
        .explode("teacher_no", "position")
        .join(sections, on="class_no")
        .select(
            "class_no",
            "class_id",
            "school_id",
            pl.format("usr-tch-{}", pl.col("teacher_no") + 1).alias("userSourcedId"),
            pl.lit("teacher").alias("role"),
            _bool_text(pl.col("position") == 0).alias("primary"),
            "beginDate",
            "endDate",
            order="position",
        )
    )
    learners = (
        seats.lazy()
        .join(sections, on=["course_no", "section"])
        .select(
            "class_no",
            "class_id",
            "school_id",
            pl.format("usr-stu-{}", pl.col("student_no") + 1).alias("userSourcedId"),
            pl.lit("student").alias("role"),
            pl.lit("false").alias("primary"),
            "beginDate",
            "endDate",
            order=pl.col("student_no") + 2,  # after the teachers
        )
    )
    return (
        pl.concat([teachers, learners])
        .sort("class_no", "order")
        .select(
            pl.format("enr-{}", pl.int_range(1, pl.len() + 1)).alias("sourcedId"),
            pl.col("class_id").alias("classSourcedId"),
            pl.col("school_id").alias("schoolSourcedId"),
            "userSourcedId",
            "role",
            "primary",
            "beginDate",
            "endDate",
        )
        .collect()
    )


def _as_file(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The spec's columns in order, all String; a column no step fills is null."""
    header = FILE_SPECS[name].header
    unknown = set(frame.columns) - set(header)
    if unknown:
        raise ValueError(f"{name}: columns outside the spec: {sorted(unknown)}")
    return frame.select(
        pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, pl.String).alias(c)
        for c in header
    )


def generate_feed(students: int, seed: int = 0) -> dict[str, pl.DataFrame]:
    """A synthetic district with `students` students, the same for the same (students, seed).

    Returns OneRoster file name (the manifest's entity name: orgs, academicSessions, courses,
    classes, users, enrollments, resources, classResources, courseResources) -> frame whose
    columns are all String, named and ordered as in `FILE_SPECS[name].header`, with nulls for
    empty values (status and dateLastModified are always empty: these are bulk files). Every
    reference resolves within the frames.
    """
    if students < 1:
        raise ValueError(f"a district needs at least one student, not {students}")
    schools = _schools(students, seed)
    roster = _roster(students, schools, seed)
    courses = _courses(schools)
    seats = _sections(_course_choices(roster, courses, seed), seed)
    classes = _classes(seats, courses, schools, seed)
    adults = _adults(roster, seed)
    users = pl.concat(
        [
            _administrator_users(schools, seed),
            _teacher_users(schools, seed),
            _student_users(roster, adults),
            adults.drop("family_no", "parent_no"),
        ],
        how="diagonal",
    )
    frames = {
        "orgs": _orgs(schools, seed),
        "academicSessions": _academic_sessions(),
        "courses": _course_rows(courses),
        "classes": _class_rows(classes),
        "users": users,
        "enrollments": _enrollments(seats, classes),
        "resources": _resources(courses),
        "classResources": _class_resources(classes, seed),
        "courseResources": _course_resources(courses),
    }
    return {name: _as_file(name, frame) for name, frame in frames.items()}


def write_district(
    out: str | Path, students: int, seed: int = 0, version: str = "1.1"
) -> dict[str, pl.DataFrame]:
    """Write the district of `generate_feed(students, seed)` as a OneRoster `version` feed (1.1,
    or 1.2 with the roles in roles.csv) at `out`: a zip for a `.zip` name, else a folder.
    Returns the frames written."""
    frames = generate_feed(students, seed=seed)
    if version == "1.2":
        frames = as_v12(frames)
    write_feed(
        out,
        frames,
        properties={
            "source.systemCode": f"demo-{seed}",
            "source.systemName": "rosterflow generator",
        },
        version=version,
    )
    return frames
