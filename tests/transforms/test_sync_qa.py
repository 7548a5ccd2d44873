"""QA of the course hierarchy's external IDs: an enrollment record must not take the external ID
of a base course's teacher enrollment."""

import polars as pl
import pytest

from rosterflow.schemas.changes import PlanError
from tests.feeds import _enrollment, frame, tiny_district
from tests.transforms.test_domain_edges import hierarchy_of


def with_enrollment(sourced_id: str) -> dict[str, pl.DataFrame]:
    district = tiny_district()
    student = frame("enrollments", _enrollment(sourced_id, "k1", "s1", "u-s2", "student"))
    return district | {"enrollments": pl.concat([district["enrollments"], student])}


@pytest.mark.parametrize(
    ("sourced_id", "course"),
    [
        ("tbc--s1--u-t1--Algebra I--teacher", "teacher base course of 'Algebra I' at s1"),
        ("sbc--s1--u-t1--t1--Algebra I--teacher", "session base course of 'Algebra I' at s1"),
    ],
)
def test_an_enrollment_whose_sourced_id_reads_as_a_base_teacher_enrollment_is_refused(
    sourced_id, course
):
    # `or--<sourcedId>` of this student enrollment is the external ID of teacher u-t1's
    # enrollment in their base course: two managed rows of one external ID
    with pytest.raises(PlanError) as refused:
        hierarchy_of(with_enrollment(sourced_id))
    assert str(refused.value) == (
        f"enrollments.csv: the enrollment of sourcedId {sourced_id!r} has the external ID of "
        f"teacher u-t1's enrollment in their {course}, 'or--{sourced_id}': a sourcedId holding "
        "'--' reads as the parts of it. Change that enrollment's sourcedId in the SIS, then "
        "sync again"
    )


def test_an_enrollment_ending_as_a_teacher_enrollment_of_no_base_course_is_derived():
    # no base course of teacher u-t2 teaching "Algebra I" at s1: nothing to share
    courses = hierarchy_of(with_enrollment("tbc--s1--u-t2--Algebra I--teacher"))
    assert "or--tbc--s1--u-t1--Algebra I" in courses["external_id"].to_list()
