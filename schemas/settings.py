"""Settings (`--config FILE.toml`, CONTRACT §4): every key optional, unknown keys refused.

One pydantic model per table of the file, each field with its default, its choices (a
`Literal`), its bounds and a one-sentence description, so the settings reference can be rendered
from `Settings.model_fields` and each table's `model_fields`. Every model is frozen, refuses
keys it does not know (extra="forbid") and takes values as TOML states them (strict: `1` is not
true, `"25"` is not a port). A refused file is reported as one `SettingsError` naming the file,
the table and the key, in the wording below.
"""

from __future__ import annotations

import ast
import codecs
import ipaddress
import json
import re
import tomllib
from collections.abc import Mapping
from difflib import get_close_matches
from email.utils import getaddresses
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    WrapSerializer,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from rosterflow.schemas.identity import IDENTITY_KEYS
from rosterflow.schemas.spec import FILE_SPECS, FILE_SPECS_12
from rosterflow.schemas.urls import has_userinfo, without_userinfo


class SettingsError(Exception):
    """The settings file is unreadable or states something rosterflow cannot do (exit 2)."""


DeleteOrKeep = Literal["delete", "keep"]
DeleteKeepOrInactivate = Literal["delete", "keep", "inactivate"]
LoginChanges = Literal["hold", "warn"]
# the lms.users field a new managed user is matched on with an account made by hand
AdoptBy = Literal["none", "username", "email", "login"]
# the choices other modules own: the login fields (schemas.identity), the OneRoster files
IdentityKey = Literal[tuple(IDENTITY_KEYS)]
RequiredFile = Literal[tuple(FILE_SPECS)]
# a file of OneRoster 1.2 only (roles, userProfiles, ...) is demanded of 1.2 feeds
DemandedFile = Literal[tuple(dict.fromkeys(("manifest", *FILE_SPECS, *FILE_SPECS_12)))]


class _Table(BaseModel):
    """A table of the settings file."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Policy(_Table):
    """What happens to a managed record whose source left the SIS."""

    users: DeleteKeepOrInactivate = Field(
        "inactivate",
        description="What happens to a managed user who left the SIS: deleted, kept as it is, "
        "or inactivated. A deleted user's rows made by hand (enrollments and observer links "
        "made in the platform, its scores) are never touched: they stay, pointing at no user, "
        "and the run warns of them (user.delete_leaves_hand_made). Where the platform has "
        'enrollments made by hand, keep "inactivate".',
    )
    courses: DeleteOrKeep = Field(
        "keep",
        description="What happens to a managed course (a section or a base course) whose "
        "class or course left the SIS: deleted, or kept as it is. Rows made by hand that point "
        "at a deleted course (the platform's line items, say) are left as they are, and the run "
        "warns of them (course.delete_leaves_hand_made). The [safety] guards count users and "
        "enrollments, not courses: under delete, an export without its classes after the "
        "enrollments ended (a summer export) deletes every managed course unheld.",
    )
    enrollments: Literal["delete", "keep", "inactivate", "withdraw"] = Field(
        "inactivate",
        description="What happens to a managed enrollment that left the SIS: deleted, kept as "
        "it is, inactivated, or withdrawn.",
    )
    domains: DeleteKeepOrInactivate = Field(
        "inactivate",
        description="What happens to a managed domain whose org left the SIS: deleted, kept as "
        "it is, or inactivated. A deleted domain's inactivated users and kept courses are left "
        "pointing at no domain, and the run warns of them (domain.delete_leaves_rows).",
    )
    observers: DeleteKeepOrInactivate = Field(
        "delete",
        description="What happens to a managed observer link (a parent or guardian to a "
        "student) that left the SIS: deleted by default, so that a parent no longer linked "
        "stops seeing the student.",
    )
    resources: DeleteKeepOrInactivate = Field(
        "inactivate",
        description="What happens to a managed resource that left resources.csv: deleted, kept "
        "as it is, or inactivated.",
    )
    class_resources: DeleteKeepOrInactivate = Field(
        "delete",
        description="What happens to a managed assignment of content to a class that left "
        "classResources.csv: deleted by default, so that the content stops showing in the class.",
    )
    course_resources: DeleteKeepOrInactivate = Field(
        "delete",
        description="What happens to a managed assignment of content to a course that left "
        "courseResources.csv: deleted by default, so that the content stops showing in the "
        "course.",
    )


# each [policy] key and its choices, in the order messages and documentation list them
POLICY_CHOICES: dict[str, tuple[str, ...]] = {
    name: get_args(field.annotation) for name, field in Policy.model_fields.items()
}


class Hierarchy(_Table):
    """Which base courses a class's section derives from (docs/explanation/course-hierarchy.md)."""

    org_base_courses: bool = Field(
        True,
        description="Whether base courses are derived down the state -> district -> school "
        "chain of orgs (if not, the teacher base course is the root).",
    )
    session_base_courses: bool = Field(
        True,
        description="Whether a teacher base course per term is derived under the teacher base "
        "course (if not, sections derive from the teacher base course).",
    )


LMS_CHECK_DAYS_MAX = 36_500


class Safety(_Table):
    """The guards that hold a run for a person instead of applying it."""

    max_removal_share: float = Field(
        0.2,
        ge=0,
        le=1,
        description="A run that removes more than this share of a tenant's active managed users "
        "or enrollments is held (1 turns the guard off).",
    )
    max_school_removal_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A run in which one school (of 20 or more active users or enrollments) "
        "loses more than this share of them is held, even when the tenant's share is small "
        "(1 turns the guard off).",
    )
    login_changes: LoginChanges = Field(
        "hold",
        description="A run that changes the login of existing users (another [identity] key, "
        "the field's values changed in the SIS, a user reactivated under another login, or an "
        "account made by hand adopted under another login; logins compared trimmed and in any "
        "letter case) is held for a person (hold) or applied with a warning per user (warn).",
    )
    max_adoption_share: float = Field(
        1.0,
        ge=0,
        le=1,
        description="A run that adopts more than this share of the tenant's users (accounts "
        "made by hand that [identity] adopt_by matches) is held (1, the default, turns the "
        "guard off).",
    )
    lms_check_days: float = Field(
        7.0,
        ge=0,
        # a hundred years: "never" in practice; more would overflow the date it is added to
        le=LMS_CHECK_DAYS_MAX,
        description="A sync proves that nobody edited the tenant's managed lms rows by hand "
        "since its last run (a hand edit is reverted) with the warehouse file's seal when "
        "nothing wrote the file since, and by reading every managed row when something did, "
        "or when it last read them more than this many days ago (0: at every run).",
    )


LOGIN_CHANGE_CHOICES: tuple[str, ...] = get_args(LoginChanges)


class Identity(_Table):
    """The users.csv field a user signs in with (schemas.identity)."""

    key: IdentityKey = Field(
        "sourcedId",
        description="The users.csv field users sign in with, stored as lms.users.login "
        "(userId: the identifier of the first item of userIds).",
    )
    adopt_by: AdoptBy = Field(
        "none",
        description="A new managed user takes over the one account of the tenant made by hand "
        "whose field is equal, trimmed and in any letter case: username, email, or login (the "
        "field of [identity] key); none adopts nobody. An ambiguous match adopts nobody and "
        "is reported.",
    )
    adopt_across_roles: bool = Field(
        False,
        description="Whether an account made by hand is adopted even when its role differs "
        "from the SIS's (a teacher's account by a student record, say).",
    )


def _variable_name(name: str, setting: str, holds: str) -> str:
    """`name`, the environment variable a secret is read from, unless it is empty. A name given
    is never shown: it may be the secret itself, written there by mistake."""
    if not name.strip():
        raise _refused(f"{setting} is empty; name the environment variable that holds {holds}")
    return name


class Notify(_Table):
    """Where a failed, rejected or held run is announced (nowhere by default)."""

    webhook: str = Field(
        "",
        description="URL (http:// or https://) that gets a JSON POST of each failed, rejected "
        "or held run's summary and first issues; none when empty.",
    )
    email: str = Field(
        "",
        description="Comma-separated recipients of the same summary as a plain-text mail; none "
        "when empty.",
    )
    smtp_host: str = Field("localhost", description="The SMTP server that sends the mail.")
    smtp_port: int = Field(
        25,
        ge=1,
        le=65_535,
        description="The port of the SMTP server: 25, or 587 with smtp_starttls (465, TLS from "
        "the first byte, is not spoken).",
    )
    smtp_from: str = Field("rosterflow@localhost", description="The sender of the mail.")
    smtp_starttls: bool = Field(
        False,
        description="Whether the SMTP connection is upgraded with STARTTLS before login (the "
        "server's certificate checked against the system's certificate authorities, or the "
        "file SSL_CERT_FILE names).",
    )
    smtp_user: str = Field(
        "",
        description="The user to log in to the SMTP server as; no login when empty. A login "
        "to a server on another machine needs smtp_starttls = true (or "
        "smtp_login_without_tls = true).",
    )
    smtp_login_without_tls: bool = Field(
        False,
        description="Whether the SMTP password may cross the network in clear text, without "
        "STARTTLS: only for a server whose connection nobody else can read. A server on this "
        "machine (localhost, 127.0.0.1, ::1) needs no such leave.",
    )
    smtp_password_env: str = Field(
        "ROSTERFLOW_SMTP_PASSWORD",
        description="The environment variable that holds the SMTP password, which never comes "
        "from a file a team commits.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_password_in_the_file(cls, raw: object) -> object:
        return _without_secret(
            raw,
            "smtp_password",
            "[notify] smtp_password: a password is never written in a settings file; put it in "
            "the environment variable smtp_password_env names (default ROSTERFLOW_SMTP_PASSWORD)",
        )

    @field_validator("webhook")
    @classmethod
    def _web_url(cls, webhook: str) -> str:
        _no_credentials(
            "[notify] webhook", webhook, "a webhook service puts its secret in the URL's path"
        )
        if not webhook:
            return webhook
        # what comes before the path: a webhook's secret is in its path
        before_path, path = _split_path(webhook)
        shown = repr(before_path) + (" followed by a path not shown" if path else "")
        if not webhook.lower().startswith(("http://", "https://")):  # (a scheme has no case)
            raise _refused(f"[notify] webhook = {shown}; give an http:// or https:// URL")
        # refused here rather than when a run is held: the error urllib raises then quotes
        # the URL's path, the webhook's secret, into the warning on stderr and in the log
        if _UNSENDABLE.search(webhook):
            raise _refused(
                f"[notify] webhook = {shown}: the URL holds a space or a control character; "
                "give it as the webhook service shows it (a space written %20)"
            )
        try:
            parts = urlsplit(webhook)
            port = parts.port  # (a ValueError for a port out of range, or not a number)
        except ValueError:
            parts, port = None, None
        if parts is None or not parts.hostname or port == 0:
            raise _refused(
                f"[notify] webhook = {shown}: no host, or a port that is no number from 1 to "
                "65535; give an http:// or https:// URL such as https://hooks.example.org/..."
            )
        return webhook

    @field_validator("email")
    @classmethod
    def _recipients(cls, email: str) -> str:
        if email and not _addresses(email, many=True):
            raise _refused(
                f"[notify] email = {email!r}; give mail addresses separated by commas, such as "
                '"data-team@district.example, it@district.example"'
            )
        return email

    @field_validator("smtp_from")
    @classmethod
    def _sender(cls, sender: str) -> str:
        if not _addresses(sender, many=False):
            raise _refused(
                f"[notify] smtp_from = {sender!r}; give one mail address, such as "
                '"rosterflow@district.example"'
            )
        return sender

    @field_validator("smtp_host")
    @classmethod
    def _host(cls, host: str) -> str:
        # (smtplib connects to nothing for an empty host, and fails to send saying "please run
        # connect() first")
        if not host.strip() or _UNSENDABLE.search(host):
            raise _refused(
                f"[notify] smtp_host = {host!r}; give the SMTP server's name or address "
                "(default localhost)"
            )
        return host

    @field_validator("smtp_password_env")
    @classmethod
    def _password_variable(cls, name: str) -> str:
        return _variable_name(
            name,
            "[notify] smtp_password_env",
            "the SMTP password (default ROSTERFLOW_SMTP_PASSWORD)",
        )

    @model_validator(mode="after")
    def _no_password_in_clear_text(self) -> Notify:
        if self.logs_in_without_tls():
            raise _refused(
                f"[notify] smtp_user is set and smtp_starttls is false: the SMTP password would "
                f"cross the network to {self.smtp_host}:{self.smtp_port} in clear text; set "
                "smtp_starttls = true (the server's port 587, usually), or smtp_login_without_tls "
                "= true for a server whose connection nobody else can read"
            )
        return self

    def logs_in_without_tls(self) -> bool:
        """Whether the SMTP login would send the password in clear text to another machine,
        without leave to (a server on this machine is exempt: the password stays on it)."""
        return (
            bool(self.smtp_user)
            and not self.smtp_starttls
            and not self.smtp_login_without_tls
            and not _is_loopback(self.smtp_host)
        )


class FeedReading(_Table):
    """How the bytes of a feed's files are read."""

    encoding: str = Field(
        "utf-8",
        description="The encoding a SIS saved the feed's CSV files in: utf-8, read as it is and "
        "strictly, or any encoding Python names, such as cp1252 (Windows' Western European) or "
        "utf-16 (what Windows calls Unicode), in which the files are read and turned into "
        "UTF-8 before they are parsed; a byte the encoding has no character for is refused. "
        "A codec that is no character set (idna, punycode, unicode_escape, base64) is refused.",
    )

    @field_validator("encoding")
    @classmethod
    def _text_encoding(cls, encoding: str) -> str:
        try:
            # a codec between text and bytes: not base64 or zlib, which Python names too (and
            # which refuse text; empty bytes would get past them)
            "".encode(encoding)
        except (LookupError, ValueError):  # ValueError: a name with a NUL in it
            raise _refused(
                f"[feed] encoding = {encoding!r}; name an encoding such as utf-8, cp1252, "
                "latin-1 or utf-16"
            ) from None
        if not _is_character_set(encoding):
            raise _refused(
                f"[feed] encoding = {encoding!r} is no character set a file is saved in (it "
                "rewrites text, as idna or unicode_escape do); name one such as utf-8, cp1252, "
                "latin-1 or utf-16"
            )
        return encoding


# Codecs between text and bytes that are no character set: they rewrite domain names or escape
# sequences, and read a CSV file's bytes as something else than its characters
# (UTF-7 writes a comma or a line feed as letters too, `+ACw-` and `+AAo-`: a file's structure
# hidden in a value)
_NOT_CHARACTER_SETS = frozenset(
    {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "utf-7"}
)
# ASCII text as a CSV file holds it: commas, quotes, backslashes (one before `u0041`, which an
# escape codec reads as "A"), CR and LF. A character set gives it back as it was, with the error
# handlers the reader decodes with, and writes each character a line or a field is made of in as
# many bytes as a letter (an escape codec writes CR and LF as two, `\r`); not the backslash,
# which Shift_JIS-2004 writes in two (its 0x5c is the yen sign)
_PROBE = 'sourcedId,"a ""b"", c",\\u0041\\n\r\n1,,2\n'
_STRUCTURE = 'a,"\r\n'


def _is_character_set(encoding: str) -> bool:
    """Whether `encoding` (a text encoding Python knows) is a plain character set the reader can
    transcode a file from (`schemas.csvfile`): each character its own bytes, the file's text
    unchanged."""
    if codecs.lookup(encoding).name in _NOT_CHARACTER_SETS:
        return False
    try:
        encoded = _PROBE.encode(encoding)
        if any(encoded.decode(encoding, errors) != _PROBE for errors in ("strict", "replace")):
            return False
        # a character's own width: its pair's bytes less its own (a byte-order mark cancels)
        widths = {len((c * 2).encode(encoding)) - len(c.encode(encoding)) for c in _STRUCTURE}
    except (UnicodeError, LookupError, TypeError, ValueError):  # a codec that cannot
        return False
    return len(widths) == 1


def _default_required() -> MappingProxyType:
    return MappingProxyType({"courses": ("courseCode",), "users": ()})


def _as_dict(required: Mapping, serialize: SerializerFunctionWrapHandler) -> Any:
    return serialize(dict(required))


class Validation(_Table):
    """What a platform demands of a feed beyond the OneRoster rules."""

    required: Annotated[
        Mapping[RequiredFile, tuple[str, ...]],
        # read-only, as the rest of the settings; written out as the mapping it is
        AfterValidator(MappingProxyType),
        WrapSerializer(_as_dict),
    ] = Field(
        default_factory=_default_required,
        description="Extra fields a platform demands, per file: a record stated with one of "
        "them empty is an error. The table given replaces the default whole: a file it does "
        'not name demands nothing, so { users = ["email"] } no longer demands courseCode of '
        'courses (write { courses = ["courseCode"], users = ["email"] } to keep it).',
    )
    files: tuple[DemandedFile, ...] = Field(
        (),
        description="Files a platform demands in every feed: one the manifest calls absent is "
        "an error.",
    )

    @field_validator("required", mode="before")
    @classmethod
    def _required_columns(cls, required: object) -> dict[str, tuple]:
        if not isinstance(required, Mapping):
            raise _refused("[validation] required must map file names to field lists")
        for file, columns in required.items():
            if file not in FILE_SPECS:
                raise _refused(f"[validation] required names {file!r}, not a OneRoster file")
            if not isinstance(columns, list | tuple):
                raise _refused(f"[validation] required.{file} must be a list of fields")
            for column in columns:
                if column not in FILE_SPECS[file].header:
                    raise _refused(
                        f"[validation] required.{file} names {column!r}, not a column of {file}.csv"
                    )
        # a field named twice would be demanded twice: two errors on every record without it
        return {file: tuple(dict.fromkeys(columns)) for file, columns in required.items()}

    @field_validator("files", mode="before")
    @classmethod
    def _demanded_files(cls, files: object) -> tuple:
        if not isinstance(files, list | tuple):
            raise _refused("[validation] files must be a list of file names")
        for file in files:
            if file not in get_args(DemandedFile):
                raise _refused(f"[validation] files names {file!r}, not a OneRoster file")
        return tuple(dict.fromkeys(files))  # (a file named twice: one error, not two)


FULL_PULL_DAYS_MAX = 36_500
DELTA_OVERLAP_MINUTES_MAX = 365 * 24 * 60


class Source(_Table):
    """The district's SIS over its OneRoster REST API (`rosterflow pull`, `sync URL`,
    `grades push`).

    The secret is never written here: it is read from an environment variable or a file."""

    token_url: str = Field(
        "",
        description="The OAuth 2.0 token endpoint (client credentials), an http:// or https:// "
        "URL; empty: the environment variable ROSTERFLOW_TOKEN_URL, and without either the API "
        "is called without a token.",
    )
    client_id: str = Field(
        "", description="The OAuth client id; empty: the environment variable ROSTERFLOW_CLIENT_ID."
    )
    # neither shows in a repr (nor in any message: `sis.credentials`), as either may hold a
    # secret written there by mistake
    client_secret_env: str = Field(
        "ROSTERFLOW_CLIENT_SECRET",
        repr=False,
        description="The environment variable that holds the client secret, which is never "
        "written in a settings file.",
    )
    client_secret_file: str = Field(
        "",
        repr=False,
        description="A file holding the client secret (its first line), read instead of the "
        "environment variable when given: a mounted secret, say. A relative path is read "
        "beside the settings file that names it, whatever the current folder (cron's is $HOME).",
    )
    auth: Literal["oauth2", "oauth1"] = Field(
        "oauth2",
        description="OAuth 2.0 client credentials (a bearer token from token_url), or OAuth 1.0a "
        "requests signed with HMAC-SHA256 with the client id and secret, for 1.1 servers that "
        "still ask for it.",
    )
    scopes: tuple[str, ...] = Field(
        (),
        description="The scopes asked with the token of a pull; empty: the version's read "
        "scopes (roster-core.readonly and roster-demographics.readonly of its v1p1 or v1p2).",
    )
    push_scopes: tuple[str, ...] = Field(
        (),
        description="The scopes asked with the token of a grades push; empty: the version's "
        "gradebook.createput (of its v1p1 or v1p2).",
    )
    page_size: int = Field(
        1000, ge=1, le=100_000, description="Records asked per page (`limit`); servers cap it."
    )
    concurrency: int = Field(
        4,
        ge=1,
        le=32,
        description="Requests in flight at once, over all collections (a push: records).",
    )
    max_retry_wait_seconds: float = Field(
        60.0,
        gt=0,
        le=86_400,
        description="The longest wait between two tries of a request, a server's Retry-After "
        "included: a server that asks to wait longer is not waited for, and the pull or push "
        "stops with a line saying how long it asked.",
    )
    delta: bool = Field(
        False,
        description="Whether `sync URL` asks only for what changed since the tenant's last "
        "applied pull of the URL (filter=dateLastModified>...), between full pulls.",
    )
    full_pull_days: int = Field(
        7,
        ge=1,
        # a hundred years: "never" in practice; far more overflowed the time it is compared with
        le=FULL_PULL_DAYS_MAX,
        description="With delta: a full pull at least this often, since a delta cannot show a "
        "record the SIS deleted outright.",
    )
    delta_overlap_minutes: int = Field(
        60,
        ge=0,
        # a year: far beyond any SIS clock's lag; far more overflowed the date it is taken
        # from
        le=DELTA_OVERLAP_MINUTES_MAX,
        description="How far before the last pull's run a delta starts asking: that run "
        "started when its pull began reading the API, and the SIS's clock may run behind this "
        "one (records sent twice change nothing).",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_secret_in_the_file(cls, raw: object) -> object:
        return _without_secret(
            raw,
            "client_secret",
            "[source] client_secret: a secret is never written in a settings file; name the "
            "environment variable (client_secret_env) or the file (client_secret_file) that "
            "holds it",
        )

    @field_validator("client_secret_env")
    @classmethod
    def _secret_variable(cls, name: str) -> str:
        return _variable_name(
            name,
            "[source] client_secret_env",
            "the client secret (default ROSTERFLOW_CLIENT_SECRET), or the file "
            "(client_secret_file)",
        )

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, token_url: str) -> str:
        _no_credentials(
            "[source] token_url",
            token_url,
            "the client's credentials go in client_id and the secret's variable or file",
        )
        # refused here rather than at every pull, where it was tried five times and named by
        # the HTTP client's words, not by its setting
        if token_url and not is_http_url(token_url):
            before_path, path = _split_path(token_url)
            shown = repr(before_path) + (" followed by a path not shown" if path else "")
            raise _refused(
                f"[source] token_url = {shown}; give the http:// or https:// URL of the OAuth "
                "2.0 token endpoint, such as https://sis.example.org/oauth/token (or leave it "
                "empty: ROSTERFLOW_TOKEN_URL, else no token)"
            )
        return token_url

    @field_validator("client_secret_file")
    @classmethod
    def _beside_the_settings(cls, file: str, info: ValidationInfo) -> str:
        """A relative path as the path beside the settings file (`load_settings` gives its
        folder as the context), as a sources file's `config` is read beside it."""
        folder = (info.context or {}).get("folder")
        if not file or folder is None or file.startswith("~") or Path(file).is_absolute():
            return file
        return str(Path(folder) / file)

    @field_validator("scopes", "push_scopes", mode="before")
    @classmethod
    def _scope_list(cls, scopes: object, info: ValidationInfo) -> tuple:
        if not isinstance(scopes, list | tuple) or not all(isinstance(s, str) for s in scopes):
            raise _refused(f"[source] {info.field_name} must be a list of scope URLs")
        return tuple(scopes)


class Settings(_Table):
    """The settings file: one table each, in the order a refused file is checked."""

    policy: Policy = Field(
        default_factory=Policy,
        description="What happens to a managed record that leaves the SIS.",
    )
    hierarchy: Hierarchy = Field(
        default_factory=Hierarchy,
        description="Which base courses the sections of classes derive from.",
    )
    safety: Safety = Field(
        default_factory=Safety,
        description="The guards that hold a run for a person instead of applying it.",
    )
    validation: Validation = Field(
        default_factory=Validation,
        description="What a platform demands of a feed beyond the OneRoster rules.",
    )
    notify: Notify = Field(
        default_factory=Notify,
        description="Who hears of a failed, rejected or held run (nobody by default).",
    )
    identity: Identity = Field(
        default_factory=Identity,
        description="The users.csv field users sign in with.",
    )
    feed: FeedReading = Field(
        default_factory=FeedReading,
        description="How the bytes of a feed's files are read.",
    )
    source: Source = Field(
        default_factory=Source,
        description="The district's OneRoster REST API that `pull` and `sync URL` read.",
    )

    def key(self) -> str:
        """What shapes a run's result, as text: everything but the safety guard and notify.

        Stored with every run and compared across runs: the same settings must give the same
        text byte for byte, whatever model holds them."""
        validation = {
            "required": {f: list(c) for f, c in sorted(self.validation.required.items())},
            "files": sorted(self.validation.files),
        }
        shaping = {
            "policy": self.policy.model_dump(),
            "hierarchy": self.hierarchy.model_dump(),
            # the adoption keys only when set: the text of settings that adopt nobody stays
            # what it was before adoption existed, so a tenant's stored state still counts
            # (adopt_across_roles without adopt_by adopts nobody either)
            "identity": {"key": self.identity.key}
            | (
                self.identity.model_dump(
                    include={"adopt_by", "adopt_across_roles"}, exclude_defaults=True
                )
                if self.identity.adopt_by != "none"
                else {}
            ),
        }
        return json.dumps(shaping | {"validation": validation}, sort_keys=True)

    def with_max_removal_share(self, share: float | None) -> Settings:
        """These settings with the command line's `--max-removal-share` in place of
        `[safety] max_removal_share`, when it is given."""
        if share is None:
            return self
        try:
            safety = Safety.model_validate(self.safety.model_dump() | {"max_removal_share": share})
        except ValidationError:
            raise SettingsError(_share_refused("--max-removal-share", share)) from None
        return self.model_copy(update={"safety": safety})


def read_toml(path: Path, what: str) -> dict:
    """The TOML file at `path`; a SettingsError saying it is missing (`no such {what}`) or
    unreadable. A byte-order mark before the first line is no part of it: Windows' Notepad
    saved UTF-8 with one, which TOML's parser takes for a statement it cannot read. A byte
    that is not UTF-8 is named by its line and column, a file in UTF-16 or UTF-32 (Notepad's
    "Unicode") as such, and a key set twice in words."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SettingsError(f"{path}: no such {what}") from None
    except OSError as error:
        raise SettingsError(f"{path}: not a readable TOML file ({error})") from None
    # (UTF-16 or UTF-32 is what Windows' Notepad saves as "Unicode": a NUL byte in every
    # character of a settings file's ASCII text, which TOML's parser would name as the first
    # illegal character; a stray NUL in UTF-8 text is left to it, named by its line)
    wide = data.startswith(_WIDE_MARKS) or data.count(b"\0") * 4 >= len(data) > 0
    try:
        # (line ends as a text file's reading gives them: a CR alone, an old Mac's, ends a line)
        text = data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as error:
        if wide:
            raise SettingsError(
                f"{path}: not a readable TOML file ({error}): it was saved as UTF-16 or UTF-32 "
                "(what Windows calls Unicode); save it as UTF-8"
            ) from None
        line, column = _line_and_column(error.object, error.start)
        raise SettingsError(
            f"{path}: not a readable TOML file ({error}): line {line}, column {column} is not "
            "UTF-8 text; save the file as UTF-8"
        ) from None
    if wide:
        raise SettingsError(
            f"{path}: not a readable TOML file (it holds NUL bytes, as a file saved as UTF-16 or "
            "UTF-32, what Windows calls Unicode, does); save it as UTF-8"
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(
            f"{path}: not a readable TOML file ({_toml_error(error, text)})"
        ) from None


_WIDE_MARKS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _line_and_column(data: bytes, at: int) -> tuple[int, int]:
    """The line and column (of characters, from 1) of the byte `at` of `data`, UTF-8 before it."""
    start = data.rfind(b"\n", 0, at) + 1
    return data.count(b"\n", 0, at) + 1, len(data[start:at].decode("utf-8")) + 1


def _toml_error(error: tomllib.TOMLDecodeError, text: str) -> str:
    """TOML's parser's message, with what a key set twice means (the parser says only that it
    "cannot overwrite a value", at the end of the document when it ends that line), and a
    table declared twice, or added to after it was written whole, named as the file writes it
    (the parser shows a Python tuple, `('safety',)`)."""
    message = str(error)
    if (twice := _TABLE_TWICE.match(message)) and (table := _toml_table(twice["path"])):
        return (
            f"Cannot declare [{table}] twice{twice['at'] or ''}: a table's header written a second "
            f"time, which TOML refuses; put its keys under one [{table}]"
        )
    if (closed := _TABLE_CLOSED.match(message)) and (table := _toml_table(closed["path"])):
        return (
            f"Cannot add to [{table}]{closed['at'] or ''}: it was written whole, as an inline "
            f"table {{ ... }} or a list [ ... ], which TOML refuses to add to; put its keys in "
            "one place"
        )
    if not message.startswith("Cannot overwrite a value"):
        return message
    if message.endswith("(at end of document)"):
        lines = text.split("\n")
        message = message.replace(
            "end of document", f"line {len(lines)}, column {len(lines[-1]) + 1}"
        )
    return f"{message}: a key set a second time in its table, which TOML refuses"


# the messages of TOML's parser that name a table by a Python tuple of its keys
_TABLE_TWICE = re.compile(r"Cannot declare (?P<path>\(.*?\)) twice(?P<at> \(at [^()]*\))?$")
_TABLE_CLOSED = re.compile(
    r"Cannot mutate immutable namespace (?P<path>\(.*?\))(?P<at> \(at [^()]*\))?$"
)


def _toml_table(path: str) -> str | None:
    """A table's keys as TOML's parser shows them, `('a', 'b c')`, as a file writes them:
    `a."b c"` (a key bare when it can be, else quoted); None when `path` is no such tuple
    (the parser's message is then shown as it is)."""
    try:
        keys = ast.literal_eval(path)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(keys, tuple) or not keys or not all(isinstance(k, str) for k in keys):
        return None
    return ".".join(
        key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)
        for key in keys
    )


def load_settings(path: str | Path | None) -> Settings:
    """The settings file at `path` (none: every default); a relative path in it (`[source]
    client_secret_file`) is read beside it, whatever the current folder. A leading `~` is the
    home folder, as a sources file's `config` has it: a path given in quotes, or by a scheduler
    that runs no shell, reaches here unexpanded."""
    if path is None:
        return Settings()
    path = Path(path).expanduser()
    raw = read_toml(path, "settings file")
    return parse_settings(raw, str(path), folder=path.absolute().parent)


def parse_settings(
    raw: dict[str, Any], source: str = "settings", folder: Path | None = None
) -> Settings:
    """The settings a parsed TOML file states, or a SettingsError naming its first problem:
    an unknown table first, then table by table, an unknown key before a bad value. A
    relative path among them is made one in `folder`, the file's, when given."""
    try:
        return Settings.model_validate(raw, context={"folder": folder})
    except ValidationError as error:
        message = _message(min(error.errors(), key=_order))
        # no message shows a URL's user:password@, whichever value it quotes
        raise SettingsError(f"{source}: {without_userinfo(message)}") from None


def _split_path(url: str) -> tuple[str, str]:
    """`scheme://host` and the rest of `url` (its path, query and fragment)."""
    scheme, separator, rest = url.partition("://")
    if not separator:  # (no scheme: the host comes first)
        scheme, rest = "", url
    host, slash, path = rest.partition("/")
    return scheme + separator + host, slash + path


# a space or a control character, which no URL or host name holds as it is
_UNSENDABLE = re.compile(r"[\s\x00-\x1f\x7f]")


def is_http_url(url: str) -> bool:
    """Whether `url` is an http(s) URL a request can be sent to: a scheme in any case, a host,
    a port from 1 to 65535 if any, and no space or control character."""
    if not url.lower().startswith(("http://", "https://")) or _UNSENDABLE.search(url):
        return False
    try:
        parts = urlsplit(url)
        return bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port out of range, or not a number
        return False


def _addresses(text: str, many: bool) -> bool:
    """Whether `text` is mail addresses separated by commas (`many`) or one address, each
    `local@domain` with or without a display name (`Data Team <dt@district.example>`)."""
    if _UNSENDABLE.search(text.replace(" ", "")):  # a line break would end the mail's header
        return False
    parsed = [address for _name, address in getaddresses([text])]
    if not parsed or (len(parsed) > 1 and not many):
        return False
    # (an empty or broken entry is parsed as an empty address, or one without its @)
    return all(
        local and domain and " " not in address
        for address in parsed
        for local, _at, domain in [address.rpartition("@")]
    )


def _is_loopback(host: str) -> bool:
    """Whether `host` names this machine by its loopback name or address (`localhost`,
    127.0.0.0/8, ::1), where a connection never leaves the machine."""
    name = host.strip().rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:  # a host name: it may be anywhere
        return False


def _without_secret(raw: object, key: str, message: str) -> object:
    """A table's raw keys, refused (`message`, which never shows the value) when they hold
    `key`, a secret that a settings file, committed by a team, must not."""
    if isinstance(raw, Mapping) and key in raw:
        raise _refused(message)
    return raw


def _refused(message: str) -> PydanticCustomError:
    """An error whose message is already the one a person reads."""
    return PydanticCustomError("settings", "{message}", {"message": message})


def _no_credentials(where: str, url: str, instead: str) -> None:
    """Refuse a URL holding credentials (user:password@host) without showing it (as `pull`
    refuses one): a password there would be echoed by every message naming the URL."""
    if has_userinfo(url):
        raise _refused(
            f"{where}: the URL holds credentials (user:password@host); give it without them "
            f"({instead})"
        )


def _share_refused(where: str, share: object) -> str:
    return f"{where} = {share!r}; give a share between 0 and 1 (1 turns the guard off)"


def _days_refused(where: str, days: object) -> str:
    return (
        f"{where} = {days!r}; give a number of days from 0 (read at every run) to "
        f"{LMS_CHECK_DAYS_MAX:,}"
    )


def _range_refused(where: str, value: object, model: type[BaseModel], name: str) -> str:
    """A number of the table `model` refused, with the bounds its field states (`[source]
    max_retry_wait_seconds = 0; give a number above 0, up to 86,400`)."""
    bounds = []
    for bound in model.model_fields[name].metadata:
        for kind, words in (("gt", "above"), ("ge", "from"), ("lt", "below"), ("le", "up to")):
            if getattr(bound, kind, None) is not None:
                bounds.append(f"{words} {getattr(bound, kind):,}")
    return f"{where} = {value!r}; give a number {', '.join(bounds)}".rstrip()


# keys whose value is never shown when it is of the wrong type: a URL (a webhook's secret is
# its path) or the name of what holds a secret (a secret may be written there by mistake)
_UNSHOWN = frozenset(
    {
        ("notify", "webhook"),
        ("notify", "smtp_password_env"),
        ("source", "token_url"),
        ("source", "client_secret_env"),
        ("source", "client_secret_file"),
    }
)


# the secrets a settings file never holds, and where they are read from instead
_SECRETS = {
    "smtp_password": "[notify] smtp_password_env names the environment variable that holds it",
    "client_secret": "[source] client_secret_env or client_secret_file names what holds it",
}


def _order(error: ErrorDetails) -> tuple[int, bool]:
    """The file's own problems (an unknown table) first, then table by table in the model's
    order, an unknown key of a table before its bad values."""
    loc, tables = error["loc"], list(Settings.model_fields)
    if not loc or loc[0] not in tables:
        return (0, False)
    return (1 + tables.index(loc[0]), error["type"] != "extra_forbidden")


def _message(error: ErrorDetails) -> str:
    """One pydantic error in words: the table and key, and what to give instead."""
    loc, value = error["loc"], error["input"]
    if error["type"] == "settings":
        return error["msg"]
    if not loc:
        return "the settings must be a table of tables"
    if error["type"] == "extra_forbidden":
        *table, key = loc
        model = Settings.model_fields[table[0]].annotation if table else Settings
        where = f"[{table[0]}] " if table else ""
        # every table and key is in lower case: one written in capitals (`[SAFETY]`, as an
        # environment variable is) is matched as the one it spells
        spelt = str(key).lower()
        # a key written under another table's header, or above the first one (where TOML
        # takes it for a table of its own): say whose it is
        owners = [
            f"[{name}]"
            for name, field in Settings.model_fields.items()
            if spelt in field.annotation.model_fields and name not in table
        ]
        owned = f" ({spelt} is a key of {' and '.join(owners)})" if owners else ""
        known = ", ".join(sorted(model.model_fields))
        # a misspelt table or key: the one it most likely means, unless that is a secret,
        # which a person would then write into the setting suggested
        close = get_close_matches(spelt, [*model.model_fields, *_SECRETS], n=1, cutoff=0.75)
        if close and not owners:
            owned = (
                f" (a secret is never written in a settings file: {_SECRETS[close[0]]})"
                if close[0] in _SECRETS
                else f" (did you mean {close[0]}?)"
            )
        return f"unknown setting {where}{key}{owned}; known: {known}"
    if len(loc) == 1:
        return f"[{loc[0]}] must be a table"
    table, name = loc[0], loc[1]
    where = f"[{table}] {name}"
    annotation = Settings.model_fields[table].annotation.model_fields[name].annotation
    if get_origin(annotation) is Literal:
        return f"{where} = {value!r}; choose one of {', '.join(get_args(annotation))}"
    if annotation is float:  # a number with a fraction: a share, days, or seconds
        if name == "lms_check_days":
            return _days_refused(where, value)
        if name.endswith("_share"):
            return _share_refused(where, value)
        return _range_refused(where, value, Settings.model_fields[table].annotation, name)
    if error["type"] in ("greater_than_equal", "less_than_equal"):  # a count out of its bounds
        return f"{where} = {value!r}; {error['msg'].replace('Input should be', 'give a number')}"
    wanted = {bool: "true or false", int: "a whole number", str: "text"}
    if annotation in wanted:
        if (table, name) in _UNSHOWN:
            return f"{where} must be {wanted[annotation]}"
        return f"{where} = {value!r}; give {wanted[annotation]}"
    return f"{where}: {error['msg']}"
