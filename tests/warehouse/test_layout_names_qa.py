"""Hostile tenant names in a per-tenant layout: a tenant's file is never a file that DuckDB or
rosterflow writes beside another tenant's (its log, its temporary folder, its seal)."""

from __future__ import annotations

import re

import duckdb
import pytest

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.layout import Layout, TenantFileRefused
from tests.feeds import tiny_district

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "beside", [".seal", ".wal", ".tmp", ".SEAL", ".wal.checkpoint", ".wal.recovery"]
)
def test_a_tenant_named_as_a_file_beside_another_has_a_file_of_its_own(beside):
    layout = Layout("wh/{tenant}")  # the tenant ends the file's name: nothing follows it

    assert layout.path_for(f"a{beside}").name != layout.path_for("a").name + beside
    assert layout.path_for(f"a{beside}").name == f"a%2E{beside[1:]}"
    assert layout.path_for("a.duckdb").name == "a.duckdb"
    # with a suffix after the tenant, no tenant's file ends as a file beside another's does
    assert Layout("wh/{tenant}.duckdb").path_for(f"a{beside}").name == f"a{beside}.duckdb"


def test_no_dot_of_a_beside_suffix_is_left_to_make_one_tenants_file_anothers_log():
    layout = Layout("wh/{tenant}")

    # `a.tmp.wal` with its last dot alone encoded would be the log of tenant `a.tmp`'s file
    assert layout.path_for("a.tmp.wal").name == "a%2Etmp%2Ewal"
    assert layout.path_for("a.tmp").name + ".wal" != layout.path_for("a.tmp.wal").name
    assert layout.path_for("v1.walnut").name == "v1.walnut"  # a word that only starts so


def test_a_tenants_seal_no_longer_replaces_the_file_of_the_tenant_named_as_it(tmp_path):
    template = str(tmp_path / "wh" / "{tenant}")
    feed = write_feed(tmp_path / "district.zip", tiny_district())

    first = run_sync(feed, template, Settings(), tenant="a.seal")
    second = run_sync(feed, template, Settings(), tenant="a")  # seals wh/a as wh/a.seal

    assert (first.outcome, second.outcome) == ("applied", "applied")
    files = Layout(template).files()
    assert sorted(path.name for path in files.values()) == ["a", "a%2Eseal"]
    with duckdb.connect(str(files["a.seal"]), read_only=True) as con:
        assert con.execute("select distinct tenant from lms.users").fetchall() == [("a.seal",)]


def test_a_tenant_named_as_a_seal_syncs_after_the_tenant_whose_seal_is_there(tmp_path):
    template = str(tmp_path / "wh" / "{tenant}")
    feed = write_feed(tmp_path / "district.zip", tiny_district())

    run_sync(feed, template, Settings(), tenant="a")  # writes wh/a and its seal wh/a.seal
    named = run_sync(feed, template, Settings(), tenant="a.seal")

    assert named.outcome == "applied" and named.summary["count"].sum() > 0
    assert (tmp_path / "wh" / "a%2Eseal").exists()


def test_a_tenants_file_under_its_name_of_before_is_refused_until_moved(tmp_path):
    template = str(tmp_path / "wh" / "{tenant}")
    feed = write_feed(tmp_path / "district.zip", tiny_district())
    run_sync(feed, template, Settings(), tenant="a.seal")
    now, before = tmp_path / "wh" / "a%2Eseal", tmp_path / "wh" / "a.seal"
    now.rename(before)  # as a sync before `_not_beside` named it

    with pytest.raises(TenantFileRefused, match=re.escape(f"move {before} to {now}")):
        run_sync(feed, template, Settings(), tenant="a.seal")
    assert not now.exists()  # nothing made afresh

    before.rename(now)
    again = run_sync(feed, template, Settings(), tenant="a.seal")
    assert again.outcome == "applied" and again.summary.height == 0  # nothing to change
