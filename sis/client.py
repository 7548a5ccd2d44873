"""The HTTP side of every call to a district's SIS: credentials, bounded concurrency, retries.

`SisClient` is an async context manager around one httpx2 client (the httpx API; authlib's
clients are built on it since authlib 1.8, which deprecates plain httpx). Pulling the roster
uses it with GET; the grades push uses the same client with PUT (`sis.push`). For every
request it:

- authenticates: OAuth 2.0 client credentials (authlib's `AsyncOAuth2Client` fetches the token;
  a new one is fetched here before it expires, through the same retries and messages), or
  OAuth 1.0a signed with HMAC-SHA256 (authlib's `OAuth1Auth`, with the signature method
  1EdTech's 1.1 servers use registered beside authlib's own), or nothing for an API open
  without a token;
- keeps at most `concurrency` requests in flight;
- retries 408, 425, 429, 500, 502, 503, 504, timeouts and dropped connections with
  exponential backoff (stamina), waiting what `Retry-After` asks when the server says;
- turns what could not be mended into a `SisError` of one line naming the URL and the status
  (a `StatusError` keeps the status, and what the server said of it: `imsx_description`);
  a 401 says the credentials were refused (after one new token, for a token that went stale);
  one raised after retries, or for the status a later try got, names a try the server may
  have taken without its answer coming back (`SisError.unanswered`: a PUT so tried may be
  stored, though its retry was answered 409 or 422);
- follows no redirect (the credentials would go wherever it leads): a 3xx is a `StatusError`
  naming where it leads.

The secret lives in the authlib client alone; no message, log line or repr shows it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2
import stamina
from authlib.common.urls import quote
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuth1Auth, OAuthError
from authlib.oauth1.rfc5849.client_auth import ClientAuth
from authlib.oauth1.rfc5849.signature import generate_signature_base_string
from stamina.instrumentation import RetryDetails, set_on_retry_hooks

from rosterflow.schemas.settings import Source
from rosterflow.sis.credentials import CLIENT_ID_ENV, TOKEN_URL_ENV, Credentials
from rosterflow.sis.errors import CredentialsRefused, RequestRefused, SisError, StatusError

log = logging.getLogger("rosterflow.sis")

RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# what ends a try that never reached the server: no connection was made, or nothing sent
NEVER_SENT = (
    httpx2.ConnectError,
    httpx2.ConnectTimeout,
    httpx2.PoolTimeout,
    httpx2.ProxyError,
    httpx2.UnsupportedProtocol,
    httpx2.LocalProtocolError,
)
HMAC_SHA256 = "HMAC-SHA256"
JSON_CONTENT = {"Content-Type": "application/json"}
SAID_LENGTH = 200  # the most of a server's error message kept
# a token is renewed once this much of its life is left, or its last minute if shorter
RENEW_SHARE = 0.1
RENEW_MARGIN = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries of one request, the first included
    wait_initial: float = 0.5  # seconds before the second try; doubling from there
    wait_max: float = 60.0  # the longest wait between two tries, a Retry-After included
    timeout: float = 60.0  # seconds one request may take


def source_policy(source: Source) -> RetryPolicy:
    """The retries a pull or push of these `[source]` settings makes."""
    return RetryPolicy(wait_max=source.max_retry_wait_seconds)


class _Retry(Exception):
    """A response worth asking again for; `shown` is the request's URL."""

    def __init__(self, response: httpx2.Response, shown: str) -> None:
        super().__init__(f"{shown}: HTTP {response.status_code}")
        self.response = response
        self.shown = shown


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks to wait (a number, or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def unanswered_try(error: BaseException) -> httpx2.Request | None:
    """The request of a failed try that may have reached the server with its answer lost: a
    504 Gateway Timeout, or a timeout or a dropped connection once the request was sent;
    else None."""
    if isinstance(error, _Retry):
        return error.response.request if error.response.status_code == 504 else None
    if not isinstance(error, httpx2.TransportError) or isinstance(error, NEVER_SENT):
        return None
    try:
        return error.request
    except RuntimeError:  # an error without its request
        return None


# where a response answered after a try that got no answer keeps that try's request
_UNANSWERED_BEFORE = "rosterflow.unanswered_before"


def unanswered_before(response: httpx2.Response) -> httpx2.Request | None:
    """The request of a try before `response` that may have reached the server unanswered (a
    504, say), or None: a PUT so tried may be stored, whatever this answer says of it."""
    return response.extensions.get(_UNANSWERED_BEFORE)


def naming_unanswered(error: SisError, request: httpx2.Request | None) -> SisError:
    """`error`, naming the request of a try that may have reached the server unanswered."""
    error.unanswered = request
    return error


def _log_retry(details: RetryDetails) -> None:
    log.info(
        "%s; try %d in %.1f s",
        retry_cause(details.caused_by),
        details.retry_num + 1,
        details.wait_for,
    )


def retry_cause(error: BaseException) -> str:
    """What a retry is for, naming the request: a status is `_Retry`'s own line; a timeout or
    a dropped connection is httpx's error, whose text is often empty (a read timeout) and
    never names the URL, so the line was '; try 2 in 1.0 s'."""
    if isinstance(error, _Retry):
        return str(error)
    what = str(error) or type(error).__name__
    if isinstance(error, httpx2.TimeoutException):
        what = f"no answer in time ({type(error).__name__})"
    try:
        url = error.request.url  # type: ignore[attr-defined]  # httpx's RequestError
    except (AttributeError, RuntimeError):  # (RuntimeError: an error without its request)
        return what
    return f"{url}: {what}"


# stamina's own hooks log each retry as a WARNING that bypasses the CLI's output and count it
# in Prometheus metrics nobody reads; a retry is a line of rosterflow's log instead
set_on_retry_hooks([_log_retry])


def _sign_hmac_sha256(client: ClientAuth, request: Any) -> str:
    """OAuth 1.0a's HMAC-SHA1 (RFC 5849 §3.4.2) with SHA-256, as OneRoster 1.1 servers sign;
    authlib builds the base string and the header."""
    text = generate_signature_base_string(request)
    key = f"{quote(client.client_secret or '')}&{quote(client.token_secret or '')}"
    digest = hmac.new(key.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


ClientAuth.register_signature_method(HMAC_SHA256, _sign_hmac_sha256)


class SisClient:
    """One client for a SIS's API, used as `async with SisClient(...) as client:`."""

    def __init__(
        self,
        credentials: Credentials | None,
        *,
        concurrency: int = 4,
        policy: RetryPolicy | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.credentials = credentials
        self.policy = policy or RetryPolicy()
        self._slots = asyncio.Semaphore(concurrency)
        self._options: dict[str, Any] = {
            "limits": httpx2.Limits(
                max_connections=concurrency, max_keepalive_connections=concurrency
            ),
            "timeout": self.policy.timeout,
            "headers": {"Accept": "application/json"},
            "transport": transport,
        }
        self._http: httpx2.AsyncClient | None = None
        self._token_lock = asyncio.Lock()
        self._tokens_fetched = 0
        self._renew_at: float | None = None  # time.monotonic() at which the token is renewed

    @property
    def _oauth2(self) -> bool:
        return self.credentials is not None and self.credentials.auth == "oauth2"

    async def __aenter__(self) -> SisClient:
        credentials = self.credentials
        if credentials is None:
            self._http = httpx2.AsyncClient(**self._options)
        elif credentials.auth == "oauth1":
            auth = OAuth1Auth(
                credentials.client_id,
                credentials.secret.get_secret_value(),
                signature_method=HMAC_SHA256,
            )
            self._http = httpx2.AsyncClient(auth=auth, **self._options)
        else:
            oauth = AsyncOAuth2Client(
                client_id=credentials.client_id,
                client_secret=credentials.secret.get_secret_value(),
                scope=" ".join(credentials.scopes),
                token_endpoint=credentials.token_url,
                grant_type="client_credentials",
                # authlib never renews the token itself (`_renew_if_due` does): its renewal
                # bypasses the retries, and its errors (a refused client, a 500) came out as a
                # traceback or under the API's URL; its 60 s leeway also fetched a token for
                # every request when tokens live less than a minute
                leeway=-math.inf,
                **self._options,
            )
            oauth.register_compliance_hook("access_token_response", self._token_response)
            self._http = oauth
            try:
                await self._fetch_token()
            except BaseException:
                await oauth.aclose()
                raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def get(self, url: str, params: dict[str, Any] | None = None) -> httpx2.Response:
        return await self.request("GET", url, params=params)

    async def put(self, url: str, body: str) -> httpx2.Response:
        """PUT `body`, a JSON document already encoded, at `url`."""
        return await self.request("PUT", url, content=body.encode(), headers=JSON_CONTENT)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx2.Response:
        """The response to a request, retried as the policy says; a `SisError` for a status
        of 400 or more that retrying did not mend."""
        assert self._http is not None, "use the client as `async with SisClient(...)`"
        # (a next link's own query kept: `URL(url, params=None)` drops it, and the message
        # named the collection where the page was meant)
        shown = str(httpx2.URL(url).copy_merge_params(params or {}))
        http = self._http

        def send() -> Awaitable[httpx2.Response]:
            return http.request(
                method, url, params=params, json=json, content=content, headers=headers
            )

        async with self._slots:
            await self._renew_if_due()
            fetched = self._tokens_fetched
            response, unanswered = await self._retried(send, shown)
            if response.status_code == 401 and self._oauth2:
                # a token the server revoked or let lapse early: one new token (one for all
                # the requests refused with the old one), one more try
                try:
                    async with self._token_lock:
                        if self._tokens_fetched == fetched:
                            await self._fetch_token()
                    response, later = await self._retried(send, shown)
                except SisError as error:
                    # a try with the old token may have been stored, whatever came after
                    error.unanswered = unanswered or error.unanswered
                    raise
                unanswered = unanswered or later
        # an answer that is not retried (a 409 to a retry of a PUT the SIS stored on its
        # first try, answered 504) does not say the request was not taken: it names the
        # try that may have been, as the errors raised after retries do
        if response.status_code == 401:
            raise naming_unanswered(
                RequestRefused(self._refused(shown), 401, said(response), web_page(response)),
                unanswered,
            )
        if 300 <= response.status_code < 400:
            # never followed: the credentials would go with the request wherever it leads
            raise naming_unanswered(
                StatusError(redirected(response, shown), response.status_code), unanswered
            )
        if response.status_code >= 400:
            raise naming_unanswered(
                StatusError(
                    f"{shown}: HTTP {response.status_code} {response.reason_phrase}".rstrip(),
                    response.status_code,
                    said(response),
                    web_page(response),
                ),
                unanswered,
            )
        if unanswered is not None:
            response.extensions[_UNANSWERED_BEFORE] = unanswered
        return response

    def _refused(self, shown: str) -> str:
        if self.credentials is None:
            return (
                f"{shown}: HTTP 401: the API asks for credentials; set {TOKEN_URL_ENV}, "
                f"{CLIENT_ID_ENV} and ROSTERFLOW_CLIENT_SECRET, or the [source] table of the "
                "settings"
            )
        return f"{shown}: HTTP 401: the credentials of client {self.credentials.client_id!r} were refused"

    async def _retried(
        self, send: Callable[[], Awaitable[httpx2.Response]], shown: str
    ) -> tuple[httpx2.Response, httpx2.Request | None]:
        """The answer that ended the retries, and the request of a try before it that may
        have reached the server unanswered (`unanswered_try`), or None; a `SisError` naming
        that try (`SisError.unanswered`) when the retries ran out."""
        policy = self.policy
        tries = 0
        # a try the server may have taken without its answer coming back: a later try's
        # answer (a 503 once the server is overloaded) does not say it stored nothing
        unanswered: httpx2.Request | None = None
        try:
            async for attempt in stamina.retry_context(
                on=self._backoff,
                attempts=policy.attempts,
                timeout=None,
                wait_initial=policy.wait_initial,
                wait_max=policy.wait_max,
                wait_jitter=policy.wait_initial,
            ):
                with attempt:
                    tries += 1
                    try:
                        response = await send()
                        if response.status_code in RETRIED_STATUSES:
                            raise _Retry(response, shown)
                    except Exception as error:
                        unanswered = unanswered or unanswered_try(error)
                        raise
                    return response, unanswered
        except _Retry as error:
            response = error.response
            waited = retry_after(response.headers.get("Retry-After"))
            why = (
                f", which asked to wait {waited:.0f} s (more than {policy.wait_max:g}: "
                "[source] max_retry_wait_seconds)"
                if waited is not None and waited > policy.wait_max
                else ""
            )
            raise naming_unanswered(
                StatusError(
                    f"{shown}: HTTP {response.status_code} {response.reason_phrase} after "
                    f"{_tries(tries)}{why}",
                    response.status_code,
                ),
                unanswered,
            ) from None
        except httpx2.TimeoutException:
            raise naming_unanswered(
                SisError(f"{shown}: no answer within {policy.timeout:g} s, {_tries(tries)}"),
                unanswered,
            ) from None
        except httpx2.TransportError as error:
            raise naming_unanswered(
                SisError(f"{shown}: {error or type(error).__name__} ({_tries(tries)})"),
                unanswered,
            ) from None
        raise AssertionError("unreachable: stamina returns or raises")  # pragma: no cover

    def _backoff(self, error: Exception) -> bool | float:
        """stamina's hook: whether to try again, or how long to wait when the server said."""
        if isinstance(error, _Retry):
            waited = retry_after(error.response.headers.get("Retry-After"))
            if waited is None:
                return True
            return waited if waited <= self.policy.wait_max else False
        return isinstance(error, httpx2.TransportError)

    async def _renew_if_due(self) -> None:
        """A new token when the current one is near its end (one for all the requests
        waiting on it), before a request would be refused with it."""
        if not self._oauth2 or self._renew_at is None or time.monotonic() < self._renew_at:
            return
        async with self._token_lock:
            if self._renew_at is not None and time.monotonic() >= self._renew_at:
                await self._fetch_token()

    async def _fetch_token(self) -> None:
        credentials = self.credentials
        assert isinstance(self._http, AsyncOAuth2Client) and credentials is not None
        oauth = self._http
        url = credentials.token_url
        try:
            # the compliance hook turns a 429 or 5xx into _Retry, so stamina retries it here
            await self._retried(_returning_response(oauth.fetch_token), url)
            self._tokens_fetched += 1
        except OAuthError as error:
            if error.error == "invalid_scope":
                raise SisError(
                    f"{url}: the token endpoint refused the scopes {' '.join(credentials.scopes)}; "
                    "set [source] scopes to those the district granted"
                ) from None
            raise CredentialsRefused(
                f"{url}: the token endpoint refused the credentials of client "
                f"{credentials.client_id!r} ({error.error})"
            ) from None

    def _token_response(self, response: httpx2.Response) -> httpx2.Response:
        """authlib's compliance hook on the token endpoint's answer, before it reads the JSON."""
        url = self.credentials.token_url if self.credentials else str(response.url)
        status = response.status_code
        if status in RETRIED_STATUSES:
            raise _Retry(response, url)
        if 300 <= status < 400:  # not followed: the secret would go with it
            raise StatusError(redirected(response, url), status)
        json_error = response.headers.get("content-type", "").startswith("application/json")
        if status in (400, 401, 403) and not json_error:
            raise CredentialsRefused(
                f"{url}: HTTP {status}: the token endpoint refused the credentials of client "
                f"{self.credentials.client_id!r}"
                if self.credentials
                else f"{url}: HTTP {status}"
            )
        if status >= 400 and not json_error:
            raise StatusError(f"{url}: HTTP {status} {response.reason_phrase}", status)
        # authlib reads the answer as a token or an OAuth error (RFC 6749 5.1, 5.2): anything
        # else (a wrong path's 404 in JSON, another endpoint's records) raised a KeyError
        # deep inside it, a traceback instead of this line
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if status >= 400 and not (isinstance(answer, dict) and "error" in answer):
            raise StatusError(
                f"{url}: HTTP {status} {response.reason_phrase}: not the token endpoint's "
                "answer (no OAuth error in it); is the token URL right?",
                status,
            )
        if status >= 400 or (isinstance(answer, dict) and "error" in answer):
            # an OAuth error, some servers with 200: authlib raises it, `_fetch_token` words it
            return response
        if not (isinstance(answer, dict) and "access_token" in answer):
            raise StatusError(
                f"{url}: HTTP {status} {response.reason_phrase}: the answer holds no "
                "access_token; is the token URL right?",
                status,
            )
        kind = answer.get("token_type")
        if isinstance(kind, str) and kind.lower() != "bearer":
            # authlib would raise deep inside the first request, a traceback
            raise SisError(
                f"{url}: the token endpoint issued a {kind!r} token; a OneRoster API takes "
                "bearer tokens"
            )
        lifetime = _seconds(answer.get("expires_in"))
        self._renew_at = (
            None
            if lifetime is None
            else time.monotonic() + lifetime - min(RENEW_MARGIN, lifetime * RENEW_SHARE)
        )
        if "expires_in" in answer:
            # authlib reads it with int(), which refuses "3600.0" or "soon" with a traceback;
            # the renewal above is rosterflow's own
            answer.pop("expires_in")
            return httpx2.Response(status, json=answer, request=response.request)
        return response


def _returning_response(
    fetch: Callable[[], Awaitable[object]],
) -> Callable[[], Awaitable[httpx2.Response]]:
    """`fetch` for `_retried`, which looks at a response: a token fetched is an OK."""

    async def fetched() -> httpx2.Response:
        await fetch()
        return httpx2.Response(200)

    return fetched


def redirected(response: httpx2.Response, shown: str) -> str:
    """The line saying a request was redirected, and where to (a relative `Location` made
    absolute, without any user:password@ in it)."""
    line = f"{shown}: HTTP {response.status_code} {response.reason_phrase}".rstrip()
    location = response.headers.get("Location", "").strip()
    if not location:
        return line
    try:
        target = response.request.url.join(location).copy_with(username=None, password=None)
    except httpx2.InvalidURL:
        return line
    return f"{line} to {target}: give that URL"


def web_page(response: httpx2.Response) -> bool:
    """Whether a response is an HTML page (`text/html`, and a body that starts with a tag): a
    web site's answer, never a OneRoster API's. The body counts: a server that names no type
    of its own sends `text/html` with an empty 204 or 200 (PHP's default, say)."""
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == "text/html" and response.text.lstrip().startswith("<")


def said(response: httpx2.Response) -> str:
    """What a server said of an error, on one line: the OneRoster status info's
    `imsx_description` (at the top of the body or in its `imsx_statusInfo`), an OAuth-style
    `error_description` or `message`, else the start of a plain-text body; empty when none."""
    text = response.text.strip()
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        inner = body.get("imsx_statusInfo") or body.get("statusInfoSet") or {}
        if isinstance(inner, list):
            inner = inner[0] if inner and isinstance(inner[0], dict) else {}
        found = next(
            (
                value
                for place in (body, inner if isinstance(inner, dict) else {})
                for key in ("imsx_description", "error_description", "message")
                if isinstance(value := place.get(key), str) and value.strip()
            ),
            "",
        )
    elif body is None and text and not text.startswith(("<", "{", "[")):
        found = text  # plain text; not an HTML error page
    else:
        found = ""
    line = " ".join(found.split())
    return line if len(line) <= SAID_LENGTH else line[: SAID_LENGTH - 1] + "…"


def _seconds(value: object) -> float | None:
    """A token's `expires_in` as seconds (a number, or a number in a string); None when it
    says none or nothing usable (the token is then renewed only once refused)."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _tries(count: int) -> str:
    return "1 try" if count == 1 else f"{count} tries"
