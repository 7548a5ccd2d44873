"""One run of a tenant at a time, on any number of Prefect workers: every sync flow run holds
its tenant's global concurrency limit of one slot while it has the tenant's warehouse open."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from typing import TypeVar

import httpx
from prefect import get_client
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from rosterflow.flows.errors import TenantBusy
from rosterflow.schemas.environment import TENANT_WAIT_SECONDS
from rosterflow.schemas.printable import one_line
from rosterflow.warehouse.layout import tenant_text

TENANT_LIMIT_PREFIX = "rosterflow-tenant-"
T = TypeVar("T")
log = logging.getLogger("rosterflow.tenant_lock")


def tenant_slug(tenant: str) -> str:
    """The tenant in lowercase letters, digits and dashes (Prefect keys and resource ids). A
    name of which none is left (`東京`, `Αθήνα`) is `tenant-` and a hash of it: every such
    tenant was `tenant`, one artifact key and event resource for all of them, each run's
    summary shown as the others' latest."""
    return _letters(tenant) or f"tenant-{_digest(tenant)}"


def _letters(tenant: str) -> str:
    """The tenant's runs of lowercase Latin letters and digits, joined by dashes."""
    return re.sub(r"[^a-z0-9]+", "-", tenant.lower()).strip("-")


def _digest(tenant: str) -> str:
    """8 hex digits of the tenant as text, the same for its two Unicode forms."""
    return hashlib.sha256(tenant_text(tenant).encode()).hexdigest()[:8]


def tenant_limit_name(tenant: str) -> str:
    """The tenant's concurrency limit: its slug for people, a hash so that two tenants whose
    slugs agree ("A B", "a-b") still have limits of their own. The tenant's two Unicode forms
    (`é` as one character or two) share one: runs of both at once could both register the
    tenant in a layout before either saw the other."""
    # (the hash in the name already: a name of no letters stays `tenant`, as it was)
    return (
        f"{TENANT_LIMIT_PREFIX}{_letters(tenant_text(tenant))[:60] or 'tenant'}-{_digest(tenant)}"
    )


# while a Prefect server restarts: as Prefect's client waits for a server it has reached
# before (5 tries, 2 to 32 s apart), which a client that has not (the slot's and the limit's,
# new for each call) is not given: the first refused connection failed the run
SERVER_WAITS = (2.0, 4.0, 8.0, 16.0, 32.0)


def _unreachable(error: BaseException) -> bool:
    """Whether `error`, or what caused it, is a request that reached no server."""
    while error is not None:
        if isinstance(error, httpx.TransportError):
            return True
        error = error.__cause__ or error.__context__
    return False


def while_server_restarts(call: Callable[[], T], waits: Sequence[float] = SERVER_WAITS) -> T:
    """`call()`, tried again after each of `waits` while no server answers it."""
    for wait in waits:
        try:
            return call()
        except Exception as error:
            if not _unreachable(error):
                raise
            log.warning("the Prefect API did not answer (%s); trying again in %g s", error, wait)
            time.sleep(wait)
    return call()


def ensure_tenant_limit(tenant: str) -> str:
    """The tenant's limit of one slot, created on its first run."""
    return while_server_restarts(lambda: _ensure_tenant_limit(tenant))


def _ensure_tenant_limit(tenant: str) -> str:
    name = tenant_limit_name(tenant)
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            # another worker may have created it a moment ago
            with suppress(ObjectAlreadyExists):
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1)
                )
    return name


@contextmanager
def tenant_lock(tenant: str) -> Iterator[None]:
    """Hold the tenant's one slot for the duration of its run (waits while another run of the
    tenant holds it, for up to `ROSTERFLOW_TENANT_WAIT_SECONDS`; strict: a limit that cannot
    be taken fails the run, never skips it). A slot can stay taken with no run holding it: a
    Prefect server restarted during a run forgets the run's lease, not the slot it took, and
    every later run of the tenant would wait for ever; after the wait, the run ends in one
    line that says how to free it."""
    name = ensure_tenant_limit(tenant)
    waited = TENANT_WAIT_SECONDS.value()
    held = ExitStack()
    try:
        while_server_restarts(
            lambda: held.enter_context(
                concurrency(name, occupy=1, strict=True, timeout_seconds=waited)
            )
        )
    except TimeoutError:
        raise TenantBusy(
            # (a line break in the tenant's name would split the one line the run ends in)
            f"tenant {one_line(tenant)}: its Prefect concurrency slot {name} stayed taken for "
            f"{waited:g} s (ROSTERFLOW_TENANT_WAIT_SECONDS); if no run of the tenant is going "
            "(a Prefect server restarted during one leaves its slot taken), free it with "
            f"`prefect gcl update {name} --active-slots 0`"
        ) from None
    try:
        yield
    finally:
        try:
            held.close()
        except Exception as error:
            if not _unreachable(error):
                raise
            # the server went away as the slot was given back, the run over (applied, say):
            # failed for that, it said the run failed, or hid why it did. A server that
            # restarted has forgotten the slot's lease, not the slot: say how to free it
            log.warning(
                "tenant %s: its Prefect concurrency slot %s could not be given back (%s); if "
                "it stays taken, free it with `prefect gcl update %s --active-slots 0`",
                one_line(tenant),
                name,
                error,
                name,
            )
