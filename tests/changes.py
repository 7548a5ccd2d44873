"""Random changes to a district's OneRoster frames, as a SIS makes them between two exports.

Every change keeps the feed valid (references resolve, required fields are filled), so that a
test can sync the changed district and compare how it is planned. A change draws what it
touches from hypothesis' `data` object, so a failing example shrinks to a few small changes.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
from hypothesis import strategies as st

from rosterflow.schemas.settings import (
    POLICY_CHOICES,
    Hierarchy,
    Identity,
    Policy,
    Safety,
    Settings,
)

Frames = dict[str, pl.DataFrame]


def any_settings(safety: Safety) -> st.SearchStrategy[Settings]:
    """Settings with any policy and hierarchy, and the given guard."""
    return st.builds(
        Settings,
        policy=st.builds(
            Policy, **{table: st.sampled_from(choices) for table, choices in POLICY_CHOICES.items()}
        ),
        hierarchy=st.builds(
            Hierarchy, org_base_courses=st.booleans(), session_base_courses=st.booleans()
        ),
        safety=st.just(safety),
        # the keys every generated user has a login of their own under
        identity=st.builds(
            Identity,
            key=st.sampled_from(["sourcedId", "username"]),
            adopt_by=st.sampled_from(["none", "username", "email", "login"]),
            adopt_across_roles=st.booleans(),
        ),
    )


ADULT_ROLES = ("parent", "guardian", "relative")


def _pick(data, frame: pl.DataFrame, what: str) -> int | None:
    if frame.height == 0:
        return None
    return data.draw(st.integers(0, frame.height - 1), label=what)


def _set(frame: pl.DataFrame, condition: pl.Expr, **values) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(condition).then(pl.lit(value, pl.String)).otherwise(pl.col(column)).alias(column)
        for column, value in values.items()
    )


def _row(frame: pl.DataFrame, index: int) -> dict:
    return frame.row(index, named=True)


def _new_id(data, prefix: str) -> str:
    return f"{prefix}-new-{data.draw(st.integers(0, 10**6), label='new id')}"


def _schools(frames: Frames) -> pl.DataFrame:
    return frames["orgs"].filter(pl.col("type") == "school")


def _without_agent(users: pl.DataFrame, gone: str) -> pl.DataFrame:
    kept = (
        pl.col("agentSourcedIds")
        .str.split(",")
        .list.eval(pl.element().filter(pl.element() != gone))
        .list.join(",")
    )
    return users.with_columns(
        pl.when(kept == "").then(pl.lit(None, pl.String)).otherwise(kept).alias("agentSourcedIds")
    )


def _with_agent(users: pl.DataFrame, user: str, agent: str) -> pl.DataFrame:
    listed = pl.col("agentSourcedIds")
    return users.with_columns(
        pl.when(pl.col("sourcedId") != user)
        .then(listed)
        .when(listed.is_null())
        .then(pl.lit(agent))
        .when(listed.str.split(",").list.contains(agent))
        .then(listed)
        .otherwise(listed + "," + agent)
        .alias("agentSourcedIds")
    )


# --- the changes ------------------------------------------------------------------------------


def edit_user(frames: Frames, data) -> Frames:
    index = _pick(data, frames["users"], "user")
    column, value = data.draw(
        st.sampled_from(
            [
                ("givenName", "Ada"),
                ("familyName", "Lovelace"),
                ("email", "ada@example.org"),
                ("email", None),
                ("username", "ada.lovelace"),
                ("grades", "K"),
                ("grades", None),
            ]
        ),
        label="edit",
    )
    user = _row(frames["users"], index)["sourcedId"]
    if column == "username":  # a login under [identity] key = "username": another's never
        value = f"{value}.{user}"
    return frames | {"users": _set(frames["users"], pl.col("sourcedId") == user, **{column: value})}


def toggle_enabled(frames: Frames, data) -> Frames:
    user = _row(frames["users"], _pick(data, frames["users"], "user"))
    flipped = "false" if user["enabledUser"] != "false" else "true"
    users = _set(frames["users"], pl.col("sourcedId") == user["sourcedId"], enabledUser=flipped)
    return frames | {"users": users}


def remove_user(frames: Frames, data) -> Frames:
    user = _row(frames["users"], _pick(data, frames["users"], "user"))["sourcedId"]
    users = _without_agent(frames["users"].filter(pl.col("sourcedId") != user), user)
    enrollments = frames["enrollments"].filter(pl.col("userSourcedId") != user)
    return frames | {"users": users, "enrollments": enrollments}


def add_student(frames: Frames, data) -> Frames:
    users = frames["users"]
    students = users.filter(pl.col("role") == "student")
    template = _row(students, _pick(data, students, "student like"))
    schools = _schools(frames)
    school = _row(schools, _pick(data, schools, "school"))["sourcedId"]
    student = _new_id(data, "usr")
    row = template | {
        "sourcedId": student,
        "orgSourcedIds": school,
        "username": student,
        "agentSourcedIds": None,
    }
    users = pl.concat([users, pl.DataFrame([row], schema=users.schema)])
    adults = users.filter(pl.col("role").is_in(ADULT_ROLES))
    if adults.height and data.draw(st.booleans(), label="with a parent"):
        adult = _row(adults, _pick(data, adults, "parent"))["sourcedId"]
        users = _with_agent(_with_agent(users, student, adult), adult, student)
    frames = frames | {"users": users}
    classes = frames["classes"].filter(pl.col("schoolSourcedId") == school)
    if classes.height:
        frames = _enroll(
            frames, data, student, "student", _row(classes, _pick(data, classes, "class"))
        )
    return frames


def _enroll(frames: Frames, data, user: str, role: str, class_: dict, primary="false") -> Frames:
    enrollments = frames["enrollments"]
    row = {column: None for column in enrollments.columns} | {
        "sourcedId": _new_id(data, "enr"),
        "classSourcedId": class_["sourcedId"],
        "schoolSourcedId": class_["schoolSourcedId"],
        "userSourcedId": user,
        "role": role,
        "primary": primary,
        "beginDate": "2026-08-15",
    }
    if row["sourcedId"] in enrollments["sourcedId"]:
        return frames
    return frames | {
        "enrollments": pl.concat([enrollments, pl.DataFrame([row], schema=enrollments.schema)])
    }


def move_user(frames: Frames, data) -> Frames:
    users = frames["users"].filter(pl.col("role").is_in(["student", "teacher"]))
    user = _row(users, _pick(data, users, "mover"))["sourcedId"]
    schools = _schools(frames)
    school = _row(schools, _pick(data, schools, "new school"))["sourcedId"]
    moved = _set(frames["users"], pl.col("sourcedId") == user, orgSourcedIds=school)
    return frames | {"users": moved}


def drop_enrollment(frames: Frames, data) -> Frames:
    enrollment = _row(frames["enrollments"], _pick(data, frames["enrollments"], "enrollment"))
    kept = frames["enrollments"].filter(pl.col("sourcedId") != enrollment["sourcedId"])
    return frames | {"enrollments": kept}


def add_enrollment(frames: Frames, data) -> Frames:
    users = frames["users"].filter(pl.col("role").is_in(["student", "teacher"]))
    user = _row(users, _pick(data, users, "user"))
    class_ = _row(frames["classes"], _pick(data, frames["classes"], "class"))
    primary = "true" if user["role"] == "teacher" and data.draw(st.booleans()) else "false"
    return _enroll(frames, data, user["sourcedId"], user["role"], class_, primary)


def swap_teacher(frames: Frames, data) -> Frames:
    """A class's teacher enrollment now names another teacher."""
    teaching = frames["enrollments"].filter(pl.col("role") == "teacher")
    teachers = frames["users"].filter(pl.col("role") == "teacher")
    if not teaching.height or not teachers.height:
        return frames
    enrollment = _row(teaching, _pick(data, teaching, "teacher enrollment"))["sourcedId"]
    teacher = _row(teachers, _pick(data, teachers, "new teacher"))["sourcedId"]
    swapped = _set(frames["enrollments"], pl.col("sourcedId") == enrollment, userSourcedId=teacher)
    return frames | {"enrollments": swapped}


def unmark_primary(frames: Frames, data) -> Frames:
    """A class whose teachers are no longer marked primary: file order picks its primary
    teacher; its first teacher row may also move to the end of the file."""
    class_ = _row(frames["classes"], _pick(data, frames["classes"], "class"))["sourcedId"]
    of_class = (pl.col("classSourcedId") == class_) & (pl.col("role") == "teacher")
    enrollments = _set(frames["enrollments"], of_class, primary="false")
    if data.draw(st.booleans(), label="first teacher row to the end"):
        first = enrollments.with_row_index("position").filter(of_class)["position"].head(1)
        at_end = pl.int_range(pl.len()).is_in(first.implode())
        enrollments = pl.concat([enrollments.filter(~at_end), enrollments.filter(at_end)])
    return frames | {"enrollments": enrollments}


def reparent_school(frames: Frames, data) -> Frames:
    """A school moves under another org: the state, another district or a new one."""
    orgs = frames["orgs"]
    schools = _schools(frames)
    school = _row(schools, _pick(data, schools, "school"))["sourcedId"]
    parents = orgs.filter(pl.col("type").is_in(["state", "district"]))
    if data.draw(st.booleans(), label="a new district"):
        district = _new_id(data, "org-d")
        state = orgs.filter(pl.col("type") == "state")["sourcedId"][0]
        row = {column: None for column in orgs.columns} | {
            "sourcedId": district,
            "name": "New District",
            "type": "district",
            "parentSourcedId": state,
        }
        orgs = pl.concat([orgs, pl.DataFrame([row], schema=orgs.schema)])
    else:
        district = _row(parents, _pick(data, parents, "new parent"))["sourcedId"]
    return frames | {"orgs": _set(orgs, pl.col("sourcedId") == school, parentSourcedId=district)}


def retitle_course(frames: Frames, data) -> Frames:
    """A course gets a new title, or another course's (their hierarchies merge)."""
    courses = frames["courses"]
    course = _row(courses, _pick(data, courses, "course"))["sourcedId"]
    title = data.draw(
        st.sampled_from(["Quantum Basket Weaving", *courses["title"].unique().sort().head(3)]),
        label="title",
    )
    return frames | {"courses": _set(courses, pl.col("sourcedId") == course, title=title)}


def reassign_class(frames: Frames, data) -> Frames:
    """A class changes course, term, title or school."""
    classes = frames["classes"]
    class_ = _row(classes, _pick(data, classes, "class"))["sourcedId"]
    what = data.draw(st.sampled_from(["course", "term", "title", "school", "inactive"]))
    if what == "course":
        course = _row(frames["courses"], _pick(data, frames["courses"], "course"))["sourcedId"]
        values = {"courseSourcedId": course}
    elif what == "term":
        terms = frames["academicSessions"].filter(pl.col("type") != "schoolYear")
        values = {"termSourcedIds": _row(terms, _pick(data, terms, "term"))["sourcedId"]}
    elif what == "title":
        values = {"title": "Renamed Section"}
    elif what == "school":
        schools = _schools(frames)
        values = {"schoolSourcedId": _row(schools, _pick(data, schools, "school"))["sourcedId"]}
    else:
        values = {"status": "inactive"}  # the OneRoster 1.0 status: an inactive section
    return frames | {"classes": _set(classes, pl.col("sourcedId") == class_, **values)}


GRADE_LISTS = ("K-5", "09,10", "12", "Grade 5", None)


def regrade_class(frames: Frames, data) -> Frames:
    """A class or a course gets other grades, a range, grades that are none, or none (a class
    without grades takes its course's)."""
    name = data.draw(st.sampled_from(["classes", "courses"]), label="regrade")
    table = frames[name]
    record = _row(table, _pick(data, table, name))["sourcedId"]
    grades = data.draw(st.sampled_from(GRADE_LISTS), label="grades")
    return frames | {name: _set(table, pl.col("sourcedId") == record, grades=grades)}


def remove_user_keeping_enrollments(frames: Frames, data) -> tuple[Frames, dict[str, str]]:
    """A user leaves while enrollments.csv is not sent: their enrollments stay among the stored
    records, pointing at nobody, until a bulk enrollments file arrives."""
    removed = remove_user(frames, data)
    return removed, {"enrollments": "absent"}


def remove_class_keeping_enrollments(frames: Frames, data) -> tuple[Frames, dict[str, str]]:
    """A class leaves while enrollments.csv is not sent (as above)."""
    return remove_class(frames, data), {"enrollments": "absent"}


def remove_class(frames: Frames, data) -> Frames:
    class_ = _row(frames["classes"], _pick(data, frames["classes"], "class"))["sourcedId"]
    return frames | {
        "classes": frames["classes"].filter(pl.col("sourcedId") != class_),
        "enrollments": frames["enrollments"].filter(pl.col("classSourcedId") != class_),
        "classResources": frames["classResources"].filter(pl.col("classSourcedId") != class_),
    }


def add_class(frames: Frames, data) -> Frames:
    """A new section of an existing course, with a teacher (marked primary or not)."""
    classes = frames["classes"]
    template = _row(classes, _pick(data, classes, "class like"))
    class_ = template | {"sourcedId": _new_id(data, "cls"), "title": "New Section"}
    frames = frames | {
        "classes": pl.concat([classes, pl.DataFrame([class_], schema=classes.schema)])
    }
    teachers = frames["users"].filter(pl.col("role") == "teacher")
    if teachers.height:
        teacher = _row(teachers, _pick(data, teachers, "teacher"))["sourcedId"]
        primary = data.draw(st.sampled_from(["true", "false"]), label="primary")
        frames = _enroll(frames, data, teacher, "teacher", class_, primary)
    return frames


ASSIGNED_TO = {
    "classResources": ("classes", "classSourcedId"),
    "courseResources": ("courses", "courseSourcedId"),
}


def edit_resource(frames: Frames, data) -> Frames:
    resources = frames["resources"]
    resource = _row(resources, _pick(data, resources, "resource"))["sourcedId"]
    column, value = data.draw(
        st.sampled_from([("title", "Atlas"), ("importance", "secondary"), ("roles", None)]),
        label="edit",
    )
    return frames | {
        "resources": _set(resources, pl.col("sourcedId") == resource, **{column: value})
    }


def remove_resource(frames: Frames, data) -> Frames:
    """A resource leaves, and every assignment of it."""
    resource = _row(frames["resources"], _pick(data, frames["resources"], "resource"))["sourcedId"]
    return (
        frames
        | {
            name: frames[name].filter(pl.col("resourceSourcedId") != resource)
            for name in ASSIGNED_TO
        }
        | {"resources": frames["resources"].filter(pl.col("sourcedId") != resource)}
    )


def remove_resource_keeping_assignments(frames: Frames, data) -> tuple[Frames, dict[str, str]]:
    """A resource leaves, and its assignments with it, while the assignment files are not
    sent: the stored assignments point at nothing until they are (and then hold none)."""
    return remove_resource(frames, data), dict.fromkeys(ASSIGNED_TO, "absent")


def assign_resource(frames: Frames, data) -> Frames:
    """A resource is assigned to one more class or course."""
    name = data.draw(st.sampled_from(sorted(ASSIGNED_TO)), label="assignment file")
    target_file, column = ASSIGNED_TO[name]
    targets, resources = frames[target_file], frames["resources"]
    if not targets.height or not resources.height:
        return frames
    row = {
        "sourcedId": _new_id(data, "asg"),
        "title": data.draw(st.sampled_from(["Atlas", None]), label="title"),
        column: _row(targets, _pick(data, targets, "assigned to"))["sourcedId"],
        "resourceSourcedId": _row(resources, _pick(data, resources, "resource"))["sourcedId"],
    }
    assigned = pl.DataFrame([row]).select(
        pl.col(c).cast(pl.String) if c in row else pl.lit(None, pl.String).alias(c)
        for c in frames[name].columns
    )
    return frames | {name: pl.concat([frames[name], assigned])}


def unassign_resource(frames: Frames, data) -> Frames:
    name = data.draw(st.sampled_from(sorted(ASSIGNED_TO)), label="assignment file")
    index = _pick(data, frames[name], "assignment")
    if index is None:
        return frames
    gone = _row(frames[name], index)["sourcedId"]
    return frames | {name: frames[name].filter(pl.col("sourcedId") != gone)}


def link_adult(frames: Frames, data) -> Frames:
    """A parent, guardian or relative is linked to a student, or unlinked, on one side or both."""
    users = frames["users"]
    students = users.filter(pl.col("role") == "student")
    adults = users.filter(pl.col("role").is_in(ADULT_ROLES))
    if not students.height or not adults.height:
        return frames
    student = _row(students, _pick(data, students, "student"))["sourcedId"]
    adult = _row(adults, _pick(data, adults, "adult"))["sourcedId"]
    if data.draw(st.booleans(), label="unlink"):
        ends = (pl.col("sourcedId") == student) | (pl.col("sourcedId") == adult)
        unlinked = pl.concat(
            [
                _without_agent(_without_agent(users.filter(ends), adult), student),
                users.filter(~ends),
            ]
        )
        order = users.select("sourcedId").with_row_index("position")
        users = unlinked.join(order, on="sourcedId").sort("position").drop("position")
    else:
        users = _with_agent(users, student, adult)
        if data.draw(st.booleans(), label="both sides"):
            users = _with_agent(users, adult, student)
    return frames | {"users": users}


def reorder(frames: Frames, data) -> Frames:
    """The same records in another order."""
    name = data.draw(st.sampled_from(sorted(frames)), label="file")
    seed = data.draw(st.integers(0, 1000), label="shuffle")
    return frames | {name: frames[name].sample(fraction=1.0, shuffle=True, seed=seed)}


CHANGES: tuple[Callable[[Frames, object], Frames | tuple[Frames, dict]], ...] = (
    edit_user,
    toggle_enabled,
    remove_user,
    remove_user_keeping_enrollments,
    remove_class_keeping_enrollments,
    add_student,
    move_user,
    drop_enrollment,
    add_enrollment,
    swap_teacher,
    unmark_primary,
    reparent_school,
    retitle_course,
    reassign_class,
    regrade_class,
    remove_class,
    add_class,
    link_adult,
    edit_resource,
    remove_resource,
    remove_resource_keeping_assignments,
    assign_resource,
    unassign_resource,
    reorder,
)


def change(frames: Frames, data, count: int) -> tuple[Frames, list[str], dict[str, str]]:
    """`frames` with `count` random changes applied, their names, and the modes some files
    must be sent in (a change may need a file not to be sent)."""
    names, forced = [], {}
    for _ in range(count):
        making = data.draw(st.sampled_from(CHANGES), label="change")
        made = making(frames, data)
        frames, needs = made if isinstance(made, tuple) else (made, {})
        forced |= needs
        names.append(making.__name__)
    return frames, names, forced


# --- how the changed district is sent -------------------------------------------------------


def as_delta(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """A delta file taking `before` to `after`: the records new or changed (`active`) and the
    ones that went (`tobedeleted`)."""
    sent = after.join(before, on=after.columns, how="anti", nulls_equal=True).with_columns(
        pl.col("status").fill_null("active"),
        pl.lit("2027-01-02T00:00:00Z").alias("dateLastModified"),
    )
    gone = before.join(after.select("sourcedId"), on="sourcedId", how="anti").select(
        pl.col("sourcedId"),
        pl.lit("tobedeleted").alias("status"),
        pl.lit("2027-01-02T00:00:00Z").alias("dateLastModified"),
    )
    return pl.concat([sent, gone], how="diagonal").select(after.columns)


def sent_as(
    data, before: Frames, after: Frames, forced: dict[str, str] | None = None
) -> tuple[Frames, dict[str, str]]:
    """The files of the changed district and their modes: a changed file in bulk or as a
    delta, an unchanged one in bulk or absent, unless `forced` says."""
    files, modes = {}, {}
    for name, frame in after.items():
        unchanged = frame.equals(before[name])
        mode = (forced or {}).get(name) or data.draw(
            st.sampled_from(["bulk", "absent"] if unchanged else ["bulk", "delta"]),
            label=f"{name} sent",
        )
        modes[name] = mode
        if mode == "bulk":
            files[name] = frame
        elif mode == "delta":
            files[name] = as_delta(before[name], frame)
    return files, modes


# --- accounts made by hand, for adoption --------------------------------------------------------


def _spelt_otherwise(data, value: str | None) -> str | None:
    """`value` as a person may have typed it into the platform: in another letter case, with
    spaces around it."""
    if value is None:
        return None
    spelling = data.draw(st.sampled_from(["as is", "upper", "spaced"]), label="spelling")
    return {"as is": value, "upper": value.upper(), "spaced": f"  {value} "}[spelling]


def hand_made_accounts(data, before: Frames, after: Frames, first_id: int, tenant: str) -> list:
    """Accounts made by hand in the platform for some of the users new in `after`: their
    username, email and login spelt otherwise, sometimes two accounts for one user, sometimes
    of another role. lms.users rows (origin manual), ids from `first_id` on."""
    new = after["users"].join(before["users"].select("sourcedId"), on="sourcedId", how="anti")
    accounts = []
    for user in new.iter_rows(named=True):  # the few users a change adds
        for _ in range(data.draw(st.integers(0, 2), label="accounts made by hand")):
            accounts.append(
                {
                    "user_id": first_id + len(accounts),
                    "tenant": tenant,
                    "external_id": data.draw(
                        st.sampled_from([None, f"hand-{first_id + len(accounts)}"]),
                        label="external id",
                    ),
                    "role": data.draw(st.sampled_from([user["role"], "teacher"]), label="role"),
                    "username": _spelt_otherwise(data, user["username"]),
                    "given_name": "Made",
                    "family_name": "By Hand",
                    "email": _spelt_otherwise(data, user["email"]),
                    "login": _spelt_otherwise(
                        data,
                        user[data.draw(st.sampled_from(["sourcedId", "username"]), label="login")],
                    ),
                    "status": "active",
                    "origin": "manual",
                }
            )
    return accounts
