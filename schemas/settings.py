"""Settings (`--config FILE.toml`, CONTRACT §4): every key optional, unknown keys refused."""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from rosterflow.schemas.identity import IDENTITY_KEYS
from rosterflow.schemas.spec import FILE_SPECS, FILE_SPECS_12


class SettingsError(Exception):
    """The settings file is unreadable or states something rosterflow cannot do (exit 2)."""


POLICY_CHOICES: dict[str, tuple[str, ...]] = {
    "users": ("delete", "keep", "inactivate"),
    "courses": ("delete", "keep"),
    "enrollments": ("delete", "keep", "inactivate", "withdraw"),
    # beyond the contract's minimum: what happens to domains and observer links that leave
    "domains": ("delete", "keep", "inactivate"),
    "observers": ("delete", "keep", "inactivate"),
    # content assignment (resources.csv, classResources.csv, courseResources.csv)
    "resources": ("delete", "keep", "inactivate"),
    "class_resources": ("delete", "keep", "inactivate"),
    "course_resources": ("delete", "keep", "inactivate"),
}


@dataclass(frozen=True)
class Policy:
    """What happens to a managed record whose source left the SIS."""

    users: str = "inactivate"
    courses: str = "keep"
    enrollments: str = "inactivate"
    domains: str = "inactivate"
    # a parent who is no longer linked must stop seeing the student: links are removed
    observers: str = "delete"
    resources: str = "inactivate"
    # content no longer assigned must stop showing in the class or course: assignments go
    class_resources: str = "delete"
    course_resources: str = "delete"


@dataclass(frozen=True)
class Hierarchy:
    org_base_courses: bool = True
    session_base_courses: bool = True


@dataclass(frozen=True)
class Safety:
    max_removal_share: float = 0.2
    # one school losing more than this share of its active users or enrollments holds the run
    # even when the tenant's share is small (one school's file truncated by the SIS)
    max_school_removal_share: float = 0.5
    # a run that changes the login of existing users (another [identity] key, or the field's
    # values changed in the SIS) is held for a person (hold) or applied with a warning (warn)
    login_changes: str = "hold"


LOGIN_CHANGE_CHOICES = ("hold", "warn")


@dataclass(frozen=True)
class Identity:
    """The users.csv field a user signs in with (schemas.identity)."""

    key: str = "sourcedId"


@dataclass(frozen=True)
class Notify:
    """Where a failed, rejected or held run is announced (nowhere by default)."""

    webhook: str = ""  # URL that gets a JSON POST of the run's summary and first issues
    email: str = ""  # comma-separated recipients of the same, by SMTP
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "rosterflow@localhost"
    smtp_starttls: bool = False
    # the SMTP password comes from the environment, never from a file a team commits
    smtp_user: str = ""
    smtp_password_env: str = "ROSTERFLOW_SMTP_PASSWORD"


def _default_required() -> MappingProxyType:
    return MappingProxyType({"courses": ("courseCode",), "users": ()})


@dataclass(frozen=True)
class Validation:
    required: MappingProxyType = field(default_factory=_default_required)
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    policy: Policy = field(default_factory=Policy)
    hierarchy: Hierarchy = field(default_factory=Hierarchy)
    safety: Safety = field(default_factory=Safety)
    validation: Validation = field(default_factory=Validation)
    notify: Notify = field(default_factory=Notify)
    identity: Identity = field(default_factory=Identity)

    def key(self) -> str:
        """What shapes a run's result, as text: everything but the safety guard."""
        validation = {
            "required": {f: list(c) for f, c in sorted(self.validation.required.items())},
            "files": sorted(self.validation.files),
        }
        shaping = {
            "policy": asdict(self.policy),
            "hierarchy": asdict(self.hierarchy),
            "identity": asdict(self.identity),
        }
        return json.dumps(shaping | {"validation": validation}, sort_keys=True)

    def with_max_removal_share(self, share: float | None) -> Settings:
        if share is None:
            return self
        _check_share(share, "--max-removal-share")
        return replace(self, safety=replace(self.safety, max_removal_share=share))


def load_settings(path: str | Path | None) -> Settings:
    if path is None:
        return Settings()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{path}: no such settings file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"{path}: not a readable TOML file ({error})") from None
    return parse_settings(raw, str(path))


def parse_settings(raw: dict[str, Any], source: str = "settings") -> Settings:
    sections = {
        "policy": Policy,
        "hierarchy": Hierarchy,
        "safety": Safety,
        "validation": Validation,
        "notify": Notify,
        "identity": Identity,
    }
    _refuse_unknown(raw, sections, source, "")
    policy = _section(raw, "policy", Policy, source)
    for name, choices in POLICY_CHOICES.items():
        value = getattr(policy, name)
        if value not in choices:
            raise SettingsError(
                f"{source}: [policy] {name} = {value!r}; choose one of {', '.join(choices)}"
            )
    hierarchy = _section(raw, "hierarchy", Hierarchy, source)
    for name in ("org_base_courses", "session_base_courses"):
        if not isinstance(getattr(hierarchy, name), bool):
            raise SettingsError(f"{source}: [hierarchy] {name} must be true or false")
    safety = _section(raw, "safety", Safety, source)
    _check_share(safety.max_removal_share, f"{source}: [safety] max_removal_share")
    _check_share(safety.max_school_removal_share, f"{source}: [safety] max_school_removal_share")
    if safety.login_changes not in LOGIN_CHANGE_CHOICES:
        raise SettingsError(
            f"{source}: [safety] login_changes = {safety.login_changes!r}; choose one of "
            f"{', '.join(LOGIN_CHANGE_CHOICES)}"
        )
    validation = _validation(raw.get("validation", {}), source)
    notify = _notify(_section(raw, "notify", Notify, source), source)
    identity = _section(raw, "identity", Identity, source)
    if identity.key not in IDENTITY_KEYS:
        raise SettingsError(
            f"{source}: [identity] key = {identity.key!r}; choose one of {', '.join(IDENTITY_KEYS)}"
        )
    return Settings(
        policy,
        hierarchy,
        Safety(
            float(safety.max_removal_share),
            float(safety.max_school_removal_share),
            safety.login_changes,
        ),
        validation,
        notify,
        identity,
    )


def _notify(notify: Notify, source: str) -> Notify:
    for name in ("webhook", "email", "smtp_host", "smtp_from", "smtp_user", "smtp_password_env"):
        if not isinstance(getattr(notify, name), str):
            raise SettingsError(f"{source}: [notify] {name} must be text")
    if notify.webhook and not notify.webhook.startswith(("http://", "https://")):
        raise SettingsError(
            f"{source}: [notify] webhook = {notify.webhook!r}; give an http:// or https:// URL"
        )
    if isinstance(notify.smtp_port, bool) or not isinstance(notify.smtp_port, int):
        raise SettingsError(f"{source}: [notify] smtp_port must be a number")
    if not isinstance(notify.smtp_starttls, bool):
        raise SettingsError(f"{source}: [notify] smtp_starttls must be true or false")
    return notify


def _check_share(share: object, where: str) -> None:
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise SettingsError(
            f"{where} = {share!r}; give a share between 0 and 1 (1 turns the guard off)"
        )


def _refuse_unknown(raw: dict, known: dict | tuple, source: str, section: str) -> None:
    for key in raw:
        if key not in known:
            where = f"[{section}] " if section else ""
            raise SettingsError(
                f"{source}: unknown setting {where}{key}; known: {', '.join(sorted(known))}"
            )


def _section(raw: dict, name: str, kind: type, source: str):
    values = raw.get(name, {})
    if not isinstance(values, dict):
        raise SettingsError(f"{source}: [{name}] must be a table")
    _refuse_unknown(values, tuple(f.name for f in fields(kind)), source, name)
    return kind(**values)


def _validation(values: dict, source: str) -> Validation:
    if not isinstance(values, dict):
        raise SettingsError(f"{source}: [validation] must be a table")
    _refuse_unknown(values, ("required", "files"), source, "validation")
    required = values.get("required", dict(_default_required()))
    if not isinstance(required, dict):
        raise SettingsError(f"{source}: [validation] required must map file names to field lists")
    for file, columns in required.items():
        if file not in FILE_SPECS:
            raise SettingsError(
                f"{source}: [validation] required names {file!r}, not a OneRoster file"
            )
        if not isinstance(columns, list | tuple):
            raise SettingsError(f"{source}: [validation] required.{file} must be a list of fields")
        for column in columns:
            if column not in FILE_SPECS[file].header:
                raise SettingsError(
                    f"{source}: [validation] required.{file} names {column!r}, not a column of "
                    f"{file}.csv"
                )
    files = values.get("files", [])
    for file in files:
        # a file of OneRoster 1.2 only (roles, userProfiles, ...) is demanded of 1.2 feeds
        if file != "manifest" and file not in FILE_SPECS and file not in FILE_SPECS_12:
            raise SettingsError(
                f"{source}: [validation] files names {file!r}, not a OneRoster file"
            )
    return Validation(
        MappingProxyType({file: tuple(columns) for file, columns in required.items()}),
        tuple(files),
    )
