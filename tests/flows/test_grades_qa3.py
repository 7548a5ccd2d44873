"""`rosterflow grades push` against a SIS that stores a PUT and loses its answer, then, asked
again, answers that it is overloaded: the push stopped with the overload's status and took
the record for one the SIS never stored, so a score set back to what the SIS last
acknowledged was never sent again. A PUT any try of which may have reached the SIS unanswered
is recorded as unanswered, and the next push sends it; and only a PUT's own tries count: a
504 to the token request a PUT waited on called that record unanswered, one the SIS may
hold, though it never took it."""

from __future__ import annotations

import asyncio

import pytest
import stamina
from pydantic import SecretStr

from rosterflow.demo.api import serving
from rosterflow.demo.gradebook_api import GradebookApi, status_info
from rosterflow.sis.client import RetryPolicy, SisClient
from rosterflow.sis.credentials import Credentials
from rosterflow.sis.push import PushStopped, put_records
from tests.flows.test_grades_qa import said
from tests.flows.test_grades_qa2 import SlowSis, categories, push, set_back_and_pushed
from tests.gradebooks import graded_warehouse
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("wide")]


@pytest.fixture
def synced(tmp_path) -> Warehouse:
    return graded_warehouse(tmp_path)


class LosingThenAnswering(GradebookApi):
    """A SIS behind a gateway that stores the first PUT of each record of `lost` and answers
    it 504 Gateway Timeout (its answer lost on the way back), and answers every PUT of them
    after that with `retried` (a status and what the SIS says), storing nothing."""

    lost: frozenset[str] = frozenset()

    def __init__(self, version: str, retried: tuple[int, str], **options) -> None:
        super().__init__(version, **options)
        self.retried = retried
        self.tried: set[str] = set()

    def _serve(self, method, path, query, body):
        sourced_id = path.rsplit("/", 1)[-1]
        if method != "PUT" or sourced_id not in self.lost:
            return super()._serve(method, path, query, body)
        if sourced_id in self.tried:
            return status_info(*self.retried)
        self.tried.add(sourced_id)
        super()._serve(method, path, query, body)
        return status_info(504, "upstream timed out")


def test_a_put_stored_unanswered_then_refused_for_overload_is_sent_again(synced):
    """The teacher gives 9; its PUT is stored, answered 504, and the retry answered 503. The
    teacher sets it back to 8, what the SIS last acknowledged: the next push sent nothing,
    and the SIS kept the 9."""
    api = LosingThenAnswering("1.1", (503, "overloaded"))
    with serving(api) as root, stamina.set_testing(True, attempts=2):
        url = root + api.base_path
        assert push(synced, url).exit_code == 0
        synced.execute("update lms.scores set score = 9 where line_item_id = 101")
        api.lost = frozenset({"res-101-2"})

        stopped = push(synced, url)

        assert stopped.exit_code == 2, stopped.output
        assert api.records["results"]["res-101-2"]["score"] == 9.0
        assert said(stopped.output).endswith(
            "the SIS acknowledged 0 records before, recorded as sent, and may hold 1 record it "
            "did not answer, recorded as unanswered (grades run 2); the next push sends the rest"
        ), stopped.output
        assert synced.query(
            "select sourced_id, status, outcome, reason from audit.grade_pushes "
            "where grade_run_id = 2"
        ).rows() == [
            (
                "res-101-2",
                503,
                "unanswered",
                f"{url}/results/res-101-2: HTTP 503 Service Unavailable after 2 tries",
            )
        ]

        pushed = set_back_and_pushed(synced, url, api)
        assert "sent 0 categories, 0 line items, 1 result" in pushed


class SlowThenOverloaded(SlowSis):
    """`SlowSis` storing the first PUT of each record and answering it too late, and
    answering every PUT after it at once with 503, storing nothing."""

    async def __call__(self, scope, receive, send) -> None:
        sourced_id = scope["path"].rsplit("/", 1)[-1]
        if sourced_id in self.stored:
            self.statuses[sourced_id], self.delays[sourced_id] = 503, 0
        await super().__call__(scope, receive, send)


def test_a_put_whose_first_try_timed_out_is_unanswered_whatever_the_last_try_answered():
    sis = SlowThenOverloaded({"cat-late": 1.0}, {})
    policy = RetryPolicy(attempts=2, wait_initial=0.01, wait_max=1.0, timeout=0.2)

    async def run(root: str):
        async with SisClient(None, concurrency=1, policy=policy) as client:
            return await put_records(client, root, "categories", categories("cat-late"), 1)

    with serving(sis) as root, pytest.raises(PushStopped) as stopped:
        asyncio.run(run(root))

    assert sis.stored == ["cat-late"]
    assert stopped.value.answered.rows() == [
        (
            "cat-late",
            503,
            "unanswered",
            f"{root}/categories/cat-late: HTTP 503 Service Unavailable after 2 tries",
        )
    ]


class RevokingThenTimingOut(GradebookApi):
    """A gradebook that revokes the first token it issues at once (its first PUT is answered
    401), and whose token endpoint answers every request after that first 504 Gateway
    Timeout."""

    def _token(self, headers, body):
        if getattr(self, "issued", False):
            return status_info(504, "upstream timed out")
        self.issued = True
        answer = super()._token(headers, body)
        self._tokens.clear()
        return answer


def test_a_new_token_left_unanswered_leaves_no_record_unanswered():
    """The PUT refused with the revoked token was not tried again: only a PUT's own tries
    count, not the token's it waited on."""
    sis = RevokingThenTimingOut("1.1", client=("district-7", "S3cret-Value"))
    policy = RetryPolicy(attempts=2, wait_initial=0.01, wait_max=1.0, timeout=5.0)

    async def run(root: str):
        credentials = Credentials(
            "oauth2", "district-7", SecretStr("S3cret-Value"), root + "/token"
        )
        async with SisClient(credentials, concurrency=1, policy=policy) as client:
            return await put_records(
                client, root + sis.base_path, "categories", categories("cat-a"), 1
            )

    with serving(sis) as root, pytest.raises(PushStopped) as stopped:
        asyncio.run(run(root))

    assert str(stopped.value) == f"{root}/token: HTTP 504 Gateway Timeout after 2 tries"
    assert stopped.value.answered.is_empty()
    assert sis.puts == []
