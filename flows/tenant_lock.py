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

TENANT_LIMIT_PREFIX = "rosterflow-tenant-"


def tenant_slug(tenant: str) -> str:
    """The tenant in lowercase letters, digits and dashes (Prefect keys and resource ids)."""
    return re.sub(r"[^a-z0-9]+", "-", tenant.lower()).strip("-") or "tenant"


def tenant_limit_name(tenant: str) -> str:
    """The tenant's concurrency limit: its slug for people, a hash so that two tenants whose
    slugs agree ("A B", "a-b") still have limits of their own."""
    digest = hashlib.sha256(tenant.encode()).hexdigest()[:8]
    return f"{TENANT_LIMIT_PREFIX}{tenant_slug(tenant)[:60]}-{digest}"


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
            f"tenant {tenant}: its Prefect concurrency slot {name} stayed taken for {waited:g} s "
            "(ROSTERFLOW_TENANT_WAIT_SECONDS); if no run of the tenant is going (a Prefect "
            "server restarted during one leaves its slot taken), free it with `prefect gcl "
            f"update {name} --active-slots 0`"
        ) from None
    with held:
        yield
