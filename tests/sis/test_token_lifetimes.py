"""Tokens as real token endpoints issue them: short-lived ones renewed before they lapse
(through the client's retries and messages: a renewal refused or failing is one line naming
the token URL), an OAuth error answered with 200, a token type other than bearer, an
`expires_in` that is no integer."""

from __future__ import annotations

import json
import secrets
import time

import pytest

from rosterflow.demo.api import RosterApi
from rosterflow.schemas.settings import Source
from rosterflow.sis.errors import CredentialsRefused, SisError, StatusError
from rosterflow.sis.pull import pull
from tests.sis.conftest import QUICK
from tests.sis.test_client import SECRET, with_credentials

LIFETIME = 1.0  # seconds a short-lived token lives
PACE = 0.06  # seconds each API request takes: the pull outlasts several tokens


def short_lived(app: RosterApi, after_first=None, expires_in: object = LIFETIME):
    """A fault issuing tokens that the API stops taking `LIFETIME` seconds after they were
    issued, answering API requests at `PACE`; `after_first` answers every token request but
    the first, when given."""
    issued: dict[str, float] = {}

    def fault(method, path, query):
        if path == "/token":
            if after_first is not None and issued:
                return after_first
            token = secrets.token_urlsafe(8)
            issued[token] = time.monotonic()
            app._tokens.add(token)
            answer = {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}
            return 200, {}, json.dumps(answer).encode()
        time.sleep(PACE)
        for token, at in list(issued.items()):
            if time.monotonic() - at > LIFETIME:
                app._tokens.discard(token)
        return None

    return fault


def token_requests(app: RosterApi) -> int:
    return sum(r.startswith("POST /token") for r in app.requests)


@pytest.mark.slow
def test_a_token_that_lives_a_second_is_renewed_before_it_lapses_not_for_every_request(
    district, serve
):
    """authlib renewed a token within 60 s of its end before every request: one living less
    than a minute was fetched again for each request of the pull."""
    app = RosterApi(district, client=("district-7", SECRET))
    app.fault = short_lived(app)
    base = serve(app)
    started = time.monotonic()
    pulled = pull(
        base, Source(page_size=10, concurrency=1), environ=with_credentials(base), policy=QUICK
    )
    took = time.monotonic() - started
    assert pulled.frames["users"].height == district["users"].height
    api_requests = len(app.requests) - token_requests(app)
    assert 2 <= token_requests(app) <= took / (LIFETIME * 0.9) + 2 < api_requests / 2


@pytest.mark.parametrize(
    ("answer", "error", "said"),
    [
        (
            (401, {}, b'{"error": "invalid_client"}'),
            CredentialsRefused,
            "the token endpoint refused the credentials of client 'district-7' (invalid_client)",
        ),
        ((500, {}, b"down"), StatusError, "HTTP 500 Internal Server Error after 3 tries"),
    ],
)
def test_a_renewal_that_fails_is_one_line_naming_the_token_url(
    district, serve, answer, error, said
):
    """authlib renewed the token itself: a refusal came out as an OAuthError (a traceback), a
    500 as the API's URL failing."""
    app = RosterApi(district, client=("district-7", SECRET))
    app.fault = short_lived(app, after_first=answer)
    base = serve(app)
    with pytest.raises(error) as raised:
        pull(
            base, Source(page_size=10, concurrency=1), environ=with_credentials(base), policy=QUICK
        )
    assert str(raised.value) == f"{base.split('/ims/')[0]}/token: {said}"
    assert SECRET not in str(raised.value)


def test_an_oauth_error_answered_with_200_is_a_refusal(district, serve):
    app = RosterApi(district, client=("district-7", SECRET))
    app.fault = lambda method, path, query: (
        (200, {}, b'{"error": "unauthorized_client"}') if path == "/token" else None
    )
    base = serve(app)
    with pytest.raises(CredentialsRefused) as raised:
        pull(base, environ=with_credentials(base), policy=QUICK)
    assert str(raised.value) == (
        f"{base.split('/ims/')[0]}/token: the token endpoint refused the credentials of client "
        "'district-7' (unauthorized_client)"
    )


def test_a_token_of_another_type_than_bearer_is_one_line(district, serve):
    app = RosterApi(district, client=("district-7", SECRET))
    app.fault = lambda method, path, query: (
        (200, {}, b'{"access_token": "t", "token_type": "mac"}') if path == "/token" else None
    )
    base = serve(app)
    with pytest.raises(SisError) as raised:
        pull(base, environ=with_credentials(base), policy=QUICK)
    assert str(raised.value) == (
        f"{base.split('/ims/')[0]}/token: the token endpoint issued a 'mac' token; a OneRoster "
        "API takes bearer tokens"
    )


@pytest.mark.slow
@pytest.mark.parametrize("expires_in", ["3600.0", "soon", None, 0])
def test_an_expires_in_that_is_no_integer_still_pulls(district, serve, expires_in):
    """authlib read it with int(): '3600.0' raised a ValueError, a traceback."""
    app = RosterApi(district, client=("district-7", SECRET))
    app.fault = short_lived(app, expires_in=expires_in)
    base = serve(app)
    pulled = pull(base, Source(page_size=1000), environ=with_credentials(base), policy=QUICK)
    assert pulled.frames["users"].height == district["users"].height
