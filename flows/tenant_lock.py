"""One run of a tenant at a time, on any number of Prefect workers: every sync flow run holds
its tenant's global concurrency limit of one slot while it has the tenant's warehouse open."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress

from prefect import get_client
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from rosterflow.flows.errors import TenantBusy
from rosterflow.schemas.environment import TENANT_WAIT_SECONDS
from rosterflow.schemas.printable import one_line
from rosterflow.warehouse.layout import tenant_text

TENANT_LIMIT_PREFIX = "rosterflow-tenant-"


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


def ensure_tenant_limit(tenant: str) -> str:
    """The tenant's limit of one slot, created on its first run."""
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
        held.enter_context(concurrency(name, occupy=1, strict=True, timeout_seconds=waited))
    except TimeoutError:
        raise TenantBusy(
            # (a line break in the tenant's name would split the one line the run ends in)
            f"tenant {one_line(tenant)}: its Prefect concurrency slot {name} stayed taken for "
            f"{waited:g} s (ROSTERFLOW_TENANT_WAIT_SECONDS); if no run of the tenant is going "
            "(a Prefect server restarted during one leaves its slot taken), free it with "
            f"`prefect gcl update {name} --active-slots 0`"
        ) from None
    with held:
        yield
