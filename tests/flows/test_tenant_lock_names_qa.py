"""Hostile tenant names at the tenant's Prefect concurrency slot."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from rosterflow.flows import tenant_lock
from rosterflow.flows.errors import TenantBusy


def test_a_slot_left_taken_ends_in_one_line_whatever_the_tenants_name(monkeypatch):
    @contextmanager
    def taken(*_args, **_kwargs):
        raise TimeoutError
        yield

    monkeypatch.setattr(tenant_lock, "ensure_tenant_limit", tenant_lock.tenant_limit_name)
    monkeypatch.setattr(tenant_lock, "concurrency", taken)
    tenant = "north\nrosterflow: every run applied"  # a forged second line

    with pytest.raises(TenantBusy) as refused, tenant_lock.tenant_lock(tenant):
        pass

    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith("tenant north\\nrosterflow: every run applied: its ")
