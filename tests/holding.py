"""A per-tenant layout of three synced tenants, and warehouse files held open for writing by
other processes (as a tenant's nightly sync holds its file), for the tests of what commands
and readers do meanwhile."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.layout import Layout
from tests.feeds import tiny_district

# composed, as the SIS sent it; the file name percent-encodes both the `é` and the `/`
MONTREAL = "Montréal/Est"
TENANTS = ("north", "south", MONTREAL)

# holds a warehouse file open for writing, as a sync does, for argv[2] seconds
HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def synced_layout(folder: Path) -> str:
    """The layout `folder/wh/{tenant}.duckdb` with each of `TENANTS` synced once."""
    template = str(folder / "wh" / "{tenant}.duckdb")
    feed = write_feed(folder / "district.zip", tiny_district())
    for tenant in TENANTS:
        assert run_sync(feed, template, Settings(), tenant=tenant).outcome == "applied"
    return template


def tenant_file(template: str, tenant: str) -> Path:
    return Layout(template).path_for(tenant).resolve()


@contextlib.contextmanager
def held(*paths: Path, seconds: float = 120) -> Iterator[None]:
    """Each of `paths` held open for writing by a process of its own, for `seconds` after the
    last one holds its file, or until the block ends."""
    holders = [
        subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for path in paths
    ]
    try:
        for holder in holders:
            assert holder.stdout.readline() == "held\n"
        yield
    finally:
        for holder in holders:
            holder.kill()
            holder.wait(30)
