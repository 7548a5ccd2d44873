"""The client's credentials for a SIS: from the `[source]` settings table, else the environment.

`ROSTERFLOW_TOKEN_URL`, `ROSTERFLOW_CLIENT_ID` and the secret's variable (`ROSTERFLOW_CLIENT_SECRET`
unless `[source] client_secret_env` names another) stand in for what the table leaves empty; a
`client_secret_file` is read instead of the variable (a relative one beside the settings file
that names it: `schemas.settings.load_settings`). The secret is held as a pydantic `SecretStr`,
whose repr and str are masked, so no message, log line or traceback can show it.

No message shows what `client_secret_env` or `client_secret_file` say either: a secret written
there by mistake (`client_secret_env = "S3cr3t-..."`) would be printed with it. A message names
the setting instead, and the default variable, ROSTERFLOW_CLIENT_SECRET, by its name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from rosterflow.schemas.printable import encodes_as
from rosterflow.schemas.settings import Source, is_http_url
from rosterflow.schemas.urls import has_userinfo
from rosterflow.sis.endpoints import default_scopes
from rosterflow.sis.errors import SisError

TOKEN_URL_ENV = "ROSTERFLOW_TOKEN_URL"
CLIENT_ID_ENV = "ROSTERFLOW_CLIENT_ID"
CLIENT_SECRET_ENV = Source.model_fields["client_secret_env"].default


@dataclass(frozen=True)
class Credentials:
    auth: str  # oauth2 | oauth1
    client_id: str
    secret: SecretStr
    token_url: str = ""  # oauth2 only
    scopes: tuple[str, ...] = ()


def credentials_for(
    source: Source,
    version: str,
    environ: Mapping[str, str] | None = None,
    scopes: tuple[str, ...] = (),
) -> Credentials | None:
    """The credentials `source` and the environment give, or None when neither names any (an
    API open without a token). Half of them is refused, saying what is missing. The token asks
    for `scopes`, else `[source] scopes`, else the version's read scopes (a pull's)."""
    environ = os.environ if environ is None else environ
    token_url = source.token_url or environ.get(TOKEN_URL_ENV, "")
    if has_userinfo(token_url):  # ([source] token_url refuses it too): never shown
        raise SisError(
            f"{TOKEN_URL_ENV}: the URL holds credentials (user:password@host); give it without "
            f"them (the client's credentials go in {CLIENT_ID_ENV} and the secret's variable)"
        )
    if token_url and not is_http_url(token_url):  # ([source] token_url refuses it too)
        raise SisError(
            f"{TOKEN_URL_ENV}: give the http:// or https:// URL of the OAuth 2.0 token endpoint, "
            "such as https://sis.example.org/oauth/token"
        )
    client_id = source.client_id or environ.get(CLIENT_ID_ENV, "")
    secret = _secret(source, environ)
    wanted = {"client id": client_id, "client secret": secret}
    if source.auth == "oauth2":
        wanted = {"token URL": token_url} | wanted
    if not any(wanted.values()):
        return None
    missing = [name for name, value in wanted.items() if not value]
    if missing:
        raise SisError(f"no {' and no '.join(missing)}: {_where(source)}")
    if source.auth == "oauth2":
        _basic_sendable(client_id, secret, source)
    scopes = scopes or source.scopes or default_scopes(version)
    return Credentials(source.auth, client_id, SecretStr(secret), token_url, scopes)


def _secret(source: Source, environ: Mapping[str, str]) -> str:
    if not source.client_secret_file:
        return environ.get(source.client_secret_env, "").strip()
    path = Path(source.client_secret_file).expanduser()
    try:
        # utf-8-sig: an editor's byte-order mark is no part of the secret (nor sendable in a
        # header, which takes Latin-1)
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as error:  # the path is not shown: it may be the secret itself
        raise SisError(
            f"[source] client_secret_file: cannot read the file it names ({error.strerror}; "
            "a relative path is read beside the settings file)"
        ) from None
    except UnicodeDecodeError:
        raise SisError(
            "[source] client_secret_file: the file it names is not UTF-8 text; save the secret "
            "in it as UTF-8 (an ASCII secret is)"
        ) from None
    return lines[0].strip() if lines else ""


def _basic_sendable(client_id: str, secret: str, source: Source) -> None:
    """Refuse a client id or secret that the token request cannot send: it goes in an HTTP
    Basic header, which carries Latin-1 alone (authlib's encoding of it raised a
    UnicodeEncodeError deep inside the request, a traceback). The secret's character is not
    shown, nor where it stands."""
    if not encodes_as(client_id, "latin-1"):
        raise SisError(
            f"the client id {client_id!r} holds a character outside Latin-1, which the token "
            f"request's HTTP Basic authentication cannot send; check {CLIENT_ID_ENV} or "
            "[source] client_id"
        )
    if not encodes_as(secret, "latin-1"):
        raise SisError(
            "the client secret holds a character outside Latin-1 (a typographic quote or an "
            "invisible character copied with it, say), which the token request's HTTP Basic "
            f"authentication cannot send; check the secret in {_secret_place(source)}"
        )


def _secret_place(source: Source) -> str:
    if source.client_secret_file:
        return "the file that [source] client_secret_file names"
    if source.client_secret_env == CLIENT_SECRET_ENV:
        return f"the environment variable {CLIENT_SECRET_ENV}"
    # its name is not shown: it may be the secret itself
    return "the environment variable that [source] client_secret_env names"


def _where(source: Source) -> str:
    token = "" if source.auth == "oauth1" else f"{TOKEN_URL_ENV}, "
    return (
        f"set {token}{CLIENT_ID_ENV} and the secret in {_secret_place(source)}, or the [source] "
        "table of the settings (--config)"
    )
