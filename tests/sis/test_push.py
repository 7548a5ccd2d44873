"""PUTting records to a gradebook service: which answers refuse one record and which stop the
push, what the SIS said of a refusal, and the gradebook's base URLs and scopes."""

from __future__ import annotations

import asyncio
import json

import httpx2
import polars as pl
import pytest

from rosterflow.demo.gradebook_api import GradebookApi
from rosterflow.sis.client import SisClient, said
from rosterflow.sis.endpoints import gradebook_version_of, push_scopes
from rosterflow.sis.errors import SisError
from rosterflow.sis.push import PushStopped, put_records, refusal
from tests.sis.conftest import QUICK


def categories(*sourced_ids: str) -> pl.DataFrame:
    """Category bodies as a push sends them."""
    return pl.DataFrame(
        {
            "sourcedId": list(sourced_ids),
            "body": [
                json.dumps(
                    {
                        "category": {
                            "sourcedId": s,
                            "status": "active",
                            "title": s,
                            "dateLastModified": "2026-10-02T08:00:00.000Z",
                        }
                    }
                )
                for s in sourced_ids
            ],
        }
    )


def put(base: str, records: pl.DataFrame, file: str = "categories") -> pl.DataFrame:
    async def run() -> pl.DataFrame:
        async with SisClient(None, concurrency=2, policy=QUICK) as client:
            return await put_records(client, base, file, records, 2)

    return asyncio.run(run())


def test_each_record_is_answered_sent_or_refused_and_the_others_go_on(serve):
    api = GradebookApi(refuse={"cat-b": (403, "locked"), "cat-c": (409, "")})
    base = serve(api)

    answered = put(base, categories("cat-a", "cat-b", "cat-c", "cat-d")).sort("sourcedId")

    assert answered.rows() == [
        ("cat-a", 201, "sent", None),
        ("cat-b", 403, "refused", "locked"),
        ("cat-c", 409, "refused", "Conflict"),  # the SIS said nothing: the status's phrase
        ("cat-d", 201, "sent", None),
    ]
    assert sorted(api.records["categories"]) == ["cat-a", "cat-d"]
    # a record the server finds wrong is refused too, with what it said
    invalid = categories("cat-e").with_columns(pl.col("body").str.replace('"title": "cat-e", ', ""))
    assert put(base, invalid).rows() == [("cat-e", 400, "refused", "missing: title")]


def test_a_result_before_its_line_item_is_refused_by_a_strict_sis(serve):
    base = serve(GradebookApi("1.2"))
    body = {
        "result": {
            "sourcedId": "res-1-1",
            "status": "active",
            "dateLastModified": "2026-10-02T08:00:00.000Z",
            "lineItem": {"sourcedId": "li-1", "type": "lineItem"},
            "student": {"sourcedId": "u1", "type": "user"},
            "scoreStatus": "fully graded",
        }
    }
    records = pl.DataFrame({"sourcedId": ["res-1-1"], "body": [json.dumps(body)]})

    assert put(base, records, "results").rows() == [
        ("res-1-1", 422, "refused", "lineItem li-1 is unknown")
    ]


@pytest.mark.parametrize(
    ("status", "headers", "message"),
    [
        (405, {}, "HTTP 405 Method Not Allowed: the API takes no PUT there; give the base URL"),
        (
            307,
            {"Location": "https://elsewhere/x"},
            "HTTP 307 Temporary Redirect to https://elsewhere/x",
        ),
        (401, {}, "HTTP 401: the API asks for credentials"),
        (503, {}, "HTTP 503 Service Unavailable after 3 tries"),
    ],
)
def test_what_no_record_can_mend_stops_the_push_keeping_what_was_answered(
    serve, status, headers, message
):
    api = GradebookApi()
    api.fault = lambda method, path, query: (
        (status, headers, b"{}") if path.endswith("/cat-z") else None
    )
    base = serve(api)

    with pytest.raises(PushStopped) as stopped:
        put(base, categories("cat-a", "cat-z").sort("sourcedId"))

    assert message in str(stopped.value)
    assert str(stopped.value).startswith(f"{base}/categories/cat-z: ")
    # cat-a was answered before or while cat-z failed: kept when acknowledged
    assert stopped.value.answered.filter(pl.col("outcome") == "sent")["sourcedId"].to_list() in (
        [],
        ["cat-a"],
    )


class LostThenStopped:
    """A gateway before a SIS: a record's first PUT is answered 504 Gateway Timeout (the SIS
    may have stored it, its answer lost on the way back), every later request `status` with
    `body` as `content_type`."""

    base_path = "/ims/oneroster/v1p1"

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.answer = (status, content_type.encode(), body)
        self.tries: list[str] = []

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] != "http":
            return
        self.tries.append(f"{scope['method']} {scope['path']}")
        status, content_type, body = (
            (504, b"application/json", b"{}") if len(self.tries) == 1 else self.answer
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type)],
            }
        )
        await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize(
    ("gateway", "message"),
    [
        (LostThenStopped(405, "application/json", b"{}"), "the API takes no PUT there"),
        (
            LostThenStopped(404, "text/html", b"<html><body>Not Found</body></html>"),
            "with a web page (text/html)",
        ),
        (
            LostThenStopped(200, "text/html", b"<html><body>Down for maintenance</body></html>"),
            "with a web page (text/html)",
        ),
    ],
    ids=["no put", "web page", "web page 200"],
)
def test_a_put_unanswered_then_stopped_by_its_retry_may_be_stored(serve, gateway, message):
    """cat-z's first PUT gets no answer (the SIS may have stored it); its retry is answered
    with what stops the push. The record is `unanswered`, which the next push sends again,
    not left out as if it had never reached the SIS."""
    base = serve(gateway)

    with pytest.raises(PushStopped) as stopped:
        put(base, categories("cat-z"))

    assert message in str(stopped.value) and len(gateway.tries) == 2
    assert stopped.value.answered.select("sourcedId", "outcome").rows() == [("cat-z", "unanswered")]


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_a_client_error_of_the_record_refuses_it(status):
    assert refusal(status)


@pytest.mark.parametrize("status", [401, 405, 408, 429, 500, 503])
def test_credentials_no_put_overload_and_server_errors_refuse_no_one_record(status):
    assert not refusal(status)


@pytest.mark.parametrize(
    ("body", "content_type", "found"),
    [
        (
            '{"imsx_codeMajor":"failure","imsx_description":"the grade is locked"}',
            "json",
            "the grade is locked",
        ),
        ('{"imsx_statusInfo":{"imsx_description":"term closed"}}', "json", "term closed"),
        ('{"statusInfoSet":[{"imsx_description":"duplicate"}]}', "json", "duplicate"),
        ('{"error":"x","error_description":"no such class"}', "json", "no such class"),
        ("line item\nlocked by the registrar", "text", "line item locked by the registrar"),
        ("<html><body>Forbidden</body></html>", "html", ""),
        ("", "text", ""),
        ("x" * 500, "text", "x" * 199 + "…"),
    ],
)
def test_what_the_sis_said_of_a_refusal_is_kept_on_one_line(body, content_type, found):
    response = httpx2.Response(403, text=body, headers={"content-type": f"text/{content_type}"})
    assert said(response) == found


@pytest.mark.parametrize(
    ("url", "version"),
    [
        ("https://sis.example/ims/oneroster/v1p1", "1.1"),
        ("https://sis.example/ims/oneroster/v1p1/", "1.1"),
        ("https://sis.example/ims/oneroster/gradebook/v1p2", "1.2"),
    ],
)
def test_the_gradebook_base_urls(url, version):
    assert gradebook_version_of(url) == version


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://sis.example/ims/oneroster/rostering/v1p2", "serves the gradebook apart"),
        ("https://sis.example/ims/oneroster/v1p3", "not a OneRoster gradebook base URL"),
        ("https://me:pw@sis.example/ims/oneroster/v1p1", "the URL holds credentials"),
    ],
)
def test_urls_that_are_no_gradebook_base(url, message):
    with pytest.raises(SisError, match=message):
        gradebook_version_of(url)


def test_a_push_asks_for_the_gradebook_write_scope():
    assert push_scopes("1.1") == (
        "https://purl.imsglobal.org/spec/or/v1p1/scope/gradebook.createput",
    )
    assert push_scopes("1.2") == (
        "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.createput",
    )
