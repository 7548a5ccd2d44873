"""What stops a call to the SIS: each message is the one line a person reads (exit 2), naming
the URL and never a credential."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx2


class SisError(Exception):
    """The SIS's API cannot be read as one roster: unreachable, refusing, or inconsistent.
    `unanswered` is the request of a try that may have reached the server and got no answer
    back (a 504, a timeout or a dropped connection once sent), whatever the last try got: a
    PUT so tried may be stored (`sis.push.unanswered`)."""

    unanswered: httpx2.Request | None = None


class CredentialsRefused(SisError):
    """The token endpoint or the API refused the client's credentials (HTTP 401)."""


class StatusError(SisError):
    """The API answered a request with an HTTP error that retrying does not mend; `detail` is
    what the server said of it (its `imsx_description`), when it said anything, and `web_page`
    whether the answer was an HTML page (a web site's, not an API's)."""

    def __init__(self, message: str, status: int, detail: str = "", web_page: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail
        self.web_page = web_page


class InconsistentPull(SisError):
    """The pages of a collection do not make one snapshot (a total that changed, a page
    repeated, a sourcedId twice)."""


class RequestRefused(StatusError, CredentialsRefused):
    """The API answered a request 401 (after one new token): the credentials refused, for that
    request at least (a token without the scope of one collection: a pull reads the others)."""
