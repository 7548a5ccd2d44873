"""`rosterflow grades push` against a SIS that stores a PUT and loses its answer (a gateway's
504), then refuses the retry with a 4xx of the record's own (a 409 Conflict: the record is
there already): the push recorded the record as refused, a refusal stores nothing, so a score
set back to what the SIS last acknowledged was never sent again and the SIS kept the score it
stored. The client passed out the try that may have been stored only with the errors it
raised after retries, not with an answer it does not retry. A PUT so answered is recorded as
unanswered, the push goes on, and the next push sends the record again; so too when the retry
was answered 401, a new token fetched, and the PUT then refused."""

from __future__ import annotations

import asyncio

import pytest
import stamina
from pydantic import SecretStr

from rosterflow.demo.api import serving
from rosterflow.schemas.gradebook import REFUSED_RETRY
from rosterflow.sis.client import RetryPolicy, SisClient
from rosterflow.sis.credentials import Credentials
from rosterflow.sis.errors import StatusError
from rosterflow.sis.push import put_records
from tests.flows.test_grades_qa2 import categories, push, set_back_and_pushed
from tests.flows.test_grades_qa3 import LosingThenAnswering
from tests.gradebooks import graded_warehouse
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("wide")]

POLICY = RetryPolicy(attempts=2, wait_initial=0.01, wait_max=1.0, timeout=5.0)


@pytest.fixture
def synced(tmp_path) -> Warehouse:
    return graded_warehouse(tmp_path)


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param((409, "the result exists"), id="409"),
        pytest.param((422, "lineItem li-101 is closed"), id="422", marks=pytest.mark.slow),
    ],
)
def test_a_put_stored_unanswered_then_refused_is_sent_again(synced, refusal):
    """The teacher gives 9 on one column and 7 on another; the 9's PUT is stored, answered
    504, and its retry refused. The teacher sets it back to 8, what the SIS last
    acknowledged: the next push sent nothing, and the SIS kept the 9."""
    api = LosingThenAnswering("1.1", refusal)
    with serving(api) as root, stamina.set_testing(True, attempts=2):
        url = root + api.base_path
        assert push(synced, url).exit_code == 0
        synced.execute("update lms.scores set score = 9 where line_item_id = 101")
        synced.execute("update lms.scores set score = 7 where line_item_id = 102")
        api.lost = frozenset({"res-101-2"})

        refused = push(synced, url)

        assert refused.exit_code == 1, refused.output  # a record's refusal: the push goes on
        assert api.records["results"]["res-101-2"]["score"] == 9.0
        assert api.records["results"]["res-102-3"]["score"] == 7.0
        status, description = refusal
        assert synced.query(
            "select sourced_id, status, outcome, reason from audit.grade_pushes "
            "where grade_run_id = 2 order by sourced_id"
        ).rows() == [
            ("res-101-2", status, "unanswered", description + REFUSED_RETRY),
            ("res-102-3", 200, "sent", None),
        ]

        pushed = set_back_and_pushed(synced, url, api)
        assert "sent 0 categories, 0 line items, 1 result" in pushed


class LosingThenRevoking(LosingThenAnswering):
    """`LosingThenAnswering` that revokes every token it issued as it stores the PUT it loses
    the answer of: the retry is answered 401, and the one after a new token refused."""

    def _serve(self, method, path, query, body):
        answer = super()._serve(method, path, query, body)
        if answer[0] == 504:
            self._tokens.clear()
        return answer


def test_a_put_stored_unanswered_then_refused_after_a_new_token_is_unanswered():
    """504 (stored), 401 (the token revoked), a new token, then 409: the try before the new
    token is the one the SIS may hold."""
    sis = LosingThenRevoking(
        "1.1", (409, "the category exists"), client=("district-7", "S3cret-Value")
    )
    sis.lost = frozenset({"cat-a"})

    async def run(root: str):
        credentials = Credentials(
            "oauth2", "district-7", SecretStr("S3cret-Value"), root + "/token"
        )
        async with SisClient(credentials, concurrency=1, policy=POLICY) as client:
            return await put_records(
                client, root + sis.base_path, "categories", categories("cat-a"), 1
            )

    with serving(sis) as root:
        answered = asyncio.run(run(root))

    assert len(sis.scopes) == 2  # the first token, and the one after the 401
    assert [r for r in sis.requests if r.startswith("PUT")] == [
        f"PUT {sis.base_path}/categories/cat-a"
    ] * 3
    assert answered.rows() == [("cat-a", 409, "unanswered", "the category exists" + REFUSED_RETRY)]


def test_a_refusal_after_an_unanswered_try_names_that_try():
    """The client's error for a status it does not retry names the try the server may have
    taken unanswered; a refusal of every try names none."""
    sis = LosingThenAnswering("1.1", (409, "the category exists"))
    sis.lost = frozenset({"cat-a"})

    async def run(root: str) -> list[StatusError]:
        errors = []
        async with SisClient(None, concurrency=1, policy=POLICY) as client:
            for sourced_id in ("cat-a", "cat-a"):
                with pytest.raises(StatusError) as refused:
                    await client.put(f"{root}{sis.base_path}/categories/{sourced_id}", "{}")
                errors.append(refused.value)
        return errors

    with serving(sis) as root:
        first, second = asyncio.run(run(root))

    assert first.status == 409
    assert first.unanswered is not None
    assert (first.unanswered.method, first.unanswered.url.path) == (
        "PUT",
        f"{sis.base_path}/categories/cat-a",
    )
    assert second.status == 409 and second.unanswered is None
