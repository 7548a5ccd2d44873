"""The platform's gradebook as rosterflow reads it, and what a grades run sends of it.

`lms.line_items` and `lms.scores` are written by the learning platform, never by a sync (they
are no `schemas.lms.Entity`). `transforms.gradebook` turns them into `Gradebook`: the OneRoster
gradebook records to send (categories, lineItems, results) and the exclusions, one row per line
item or score not sent with its reason. An export writes the records as a feed; a push sends
the same records to the SIS's REST API, each as its JSON body (`transforms.gradebook_push`),
and keeps what the SIS answered (`PUSH_OUTCOME_SCHEMA`).

Stable sourcedIds, so that a second export updates what the first sent and never duplicates:
a line item is `li-<line_item_id>`, a result `res-<line_item_id>-<user_id>` (the platform's ids,
which never change; the student's first user_id, should a sync have deleted the student and
made them again: `warehouse.gradebook.USERS_SQL`), a category `cat-<its title in UTF-8, as hex>` (the title trimmed; safe in
a URL) or `cat-default` for the line items without one.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

S, N, F, D, T, B = pl.String(), pl.Int64(), pl.Float64(), pl.Date(), pl.Datetime("us"), pl.Boolean()

# the columns of lms.line_items and lms.scores, as read (warehouse/migrations/007_gradebook.sql)
LINE_ITEM_SCHEMA: dict[str, pl.DataType] = {
    "line_item_id": N,
    "tenant": S,
    "course_id": N,
    "title": S,
    "due_date": D,
    "points_possible": F,
    "min_score": F,
    "category": S,
    "description": S,
    "assign_date": D,
    "status": S,
}
SCORE_SCHEMA: dict[str, pl.DataType] = {
    "line_item_id": N,
    "user_id": N,
    "score": F,
    "graded_at": T,
    "status": S,
    "comment": S,
    "text_score": S,
    "late": B,
    "missing": B,
}
# what the export reads of the sync's lms tables and of the SIS's stored records
COURSE_SCHEMA: dict[str, pl.DataType] = {"course_id": N, "external_id": S, "kind": S, "title": S}
USER_SCHEMA: dict[str, pl.DataType] = {"user_id": N, "external_id": S}
ENROLLMENT_SCHEMA: dict[str, pl.DataType] = {
    "user_id": N,
    "course_id": N,
    "external_id": S,
    "role": S,
    "status": S,
}
CLASS_SCHEMA: dict[str, pl.DataType] = {
    "sourcedId": S,
    "termSourcedIds": S,
    "schoolSourcedId": S,
}
SESSION_SCHEMA: dict[str, pl.DataType] = {"sourcedId": S, "startDate": S, "endDate": S}

LINE_ITEM_PREFIX, RESULT_PREFIX, CATEGORY_PREFIX = "li-", "res-", "cat-"
DEFAULT_CATEGORY = "cat-default"
DEFAULT_CATEGORY_TITLE = "General"

# why a line item or a score is not sent (audit.grade_exclusions.reason)
REASONS: dict[str, str] = {
    "line_item.unknown_course": "its course_id is none of the tenant's courses",
    "line_item.hand_made_course": "its course was made by hand in the platform: the SIS does "
    "not know it",
    "line_item.not_a_section": "its course is a base course of the hierarchy, not a class's "
    "section",
    "line_item.class_not_in_sis": "its section's class is no longer among the SIS's records",
    "line_item.inactive": "its status is inactive (a draft or hidden column)",
    "line_item.no_title": "its title is empty: OneRoster requires one",
    "line_item.not_a_number": "its min_score or points_possible is NaN or infinite: no number "
    "OneRoster can send",
    "line_item.range_order": "its min_score is above its points_possible: no score lies in "
    "that range",
    "line_item.not_a_date": "its due_date or assign_date is a day no OneRoster date says "
    "(YYYY-MM-DD: a year beyond 9999)",
    "line_item.control_character": "its title, description or category holds a control "
    "character, which no OneRoster value may",
    "result.line_item_not_sent": "its line item is not sent",
    "result.not_enrolled": "the user is not actively enrolled as a student in the section (as "
    "the SIS last said)",
    "result.not_a_number": "the score is NaN or infinite: no number OneRoster can send",
    "result.out_of_range": "the score is outside the line item's range (min_score to "
    "points_possible)",
    "result.not_a_date": "its graded_at is a day no OneRoster date says (YYYY-MM-DD: a year "
    "beyond 9999)",
    "result.control_character": "its comment or text score holds a control character, which "
    "no OneRoster value may",
}

EXCLUSION_SCHEMA: dict[str, pl.DataType] = {
    "entity": S,  # lineItem | result
    "sourcedId": S,  # the sourcedId it would have been sent with
    "line_item_id": N,
    "user_id": N,  # a result's student
    "reason": S,  # a key of REASONS
    "message": S,
}

GRADEBOOK_FILES = ("categories", "lineItems", "results")


@dataclass(frozen=True)
class Gradebook:
    """What a grades run sends: one frame per OneRoster gradebook file, all text, holding the
    columns of both versions (`transforms.gradebook.gradebook_files` picks one version's), and
    what it does not send (`EXCLUSION_SCHEMA`)."""

    categories: pl.LazyFrame
    line_items: pl.LazyFrame
    results: pl.LazyFrame
    exclusions: pl.LazyFrame

    def files(self) -> dict[str, pl.LazyFrame]:
        """The records to send, per OneRoster file name."""
        return {
            "categories": self.categories,
            "lineItems": self.line_items,
            "results": self.results,
        }


# --- a push: the records as the REST binding's JSON, and what the SIS answered ---------------

# OneRoster file -> the key of one record's JSON body (`{"lineItem": {...}}`), in the order a
# push sends them: a line item names its category, a result its line item
JSON_KEYS = {"categories": "category", "lineItems": "lineItem", "results": "result"}
# the file a record names in each reference column, as the GUIDRef's `type`
REF_TYPES = {
    "academicSessions": "academicSession",
    "categories": "category",
    "classes": "class",
    "lineItems": "lineItem",
    "orgs": "org",
    "users": "user",
}

# one record to push: `entity` a JSON key, `parent` the sourcedId of the record it names
# that is sent before it (a line item's category, a result's line item), `record` its JSON
# without dateLastModified (the text whose hash says whether it changed)
PUSH_RECORD_SCHEMA: dict[str, pl.DataType] = {
    "entity": S,
    "sourcedId": S,
    "parent": S,
    "record": S,
}
# what became of each record a push sent or held back (audit.grade_pushes)
PUSH_OUTCOME_SCHEMA: dict[str, pl.DataType] = {
    "entity": S,
    "sourcedId": S,
    "status": N,  # the HTTP status the SIS answered; null: held back, never sent
    # sent | refused | held | unanswered (no answer came, to the push that stopped or to a
    # try before a retry the SIS refused: may be stored)
    "outcome": S,
    # a refusal: what the SIS said (else its status's phrase); held: why; unanswered: the
    # stop, or what the SIS said of the retry it refused, then REFUSED_RETRY
    "reason": S,
}
# the end of the reason of a record whose retry the SIS refused after a try of it got no answer
REFUSED_RETRY = " (a retry refused; a try before it got no answer: the SIS may hold the record)"
