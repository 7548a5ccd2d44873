"""The tenant's Prefect concurrency slot while the Prefect server restarts: Prefect's client
retries a server it reached before, not one that the slot's (new) client never reached, so
the first refused connection failed the run, an applied one too (as its slot was given
back). Prefect's own `concurrency` stands in here for one whose server is away."""

from __future__ import annotations

from contextlib import contextmanager

import httpx
import pytest

from rosterflow.flows import tenant_lock

REFUSED = httpx.ConnectError("All connection attempts failed")


@pytest.fixture
def slot(monkeypatch) -> dict:
    """A slot whose acquiring fails `refusals` times, and whose giving back fails if asked."""
    state = {"refusals": 0, "acquired": 0, "release_fails": False, "waits": []}

    @contextmanager
    def concurrency(*_args, **_kwargs):
        if state["refusals"]:
            state["refusals"] -= 1
            raise RuntimeError("ConcurrencySlotAcquisitionError") from REFUSED
        state["acquired"] += 1
        try:
            yield
        finally:  # (as Prefect's gives its slot back)
            if state["release_fails"]:
                raise REFUSED

    monkeypatch.setattr(tenant_lock, "ensure_tenant_limit", tenant_lock.tenant_limit_name)
    monkeypatch.setattr(tenant_lock, "concurrency", concurrency)
    monkeypatch.setattr(tenant_lock.time, "sleep", state["waits"].append)
    return state


def test_the_slot_is_asked_for_again_while_the_server_restarts(slot):
    slot["refusals"] = 3
    ran = []

    with tenant_lock.tenant_lock("north"):
        ran.append(True)

    assert ran == [True] and slot["acquired"] == 1
    assert slot["waits"] == [2.0, 4.0, 8.0]


def test_a_server_away_for_good_fails_the_run_after_its_waits(slot):
    slot["refusals"] = 10

    with pytest.raises(RuntimeError), tenant_lock.tenant_lock("north"):
        pass

    assert slot["waits"] == list(tenant_lock.SERVER_WAITS) and slot["acquired"] == 0


def test_a_slot_that_cannot_be_given_back_leaves_the_run_as_it_ended(slot, caplog):
    slot["release_fails"] = True

    with (
        caplog.at_level("WARNING", logger="rosterflow.tenant_lock"),
        tenant_lock.tenant_lock("north"),
    ):
        pass  # (the run applied)

    name = tenant_lock.tenant_limit_name("north")
    assert f"free it with `prefect gcl update {name} --active-slots 0`" in caplog.text


def test_a_run_that_failed_fails_whatever_became_of_its_slot(slot):
    slot["release_fails"] = True

    with pytest.raises(ValueError, match="the run's own"), tenant_lock.tenant_lock("north"):
        raise ValueError("the run's own")
