"""The layout's tenant registry as a district data team meets it on shared storage, where other
accounts sync and query the layout too: its registrations readable as the tenants' files are,
and a registry this account may not write or read is the layout's fault, said as such, never a
crash blamed on the feed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from rosterflow.warehouse.layout import REGISTRY, Layout
from tests.unprivileged import without_override

LIST = """
import sys
from rosterflow.warehouse.layout import Layout, LayoutError
try:
    print(Layout(sys.argv[1]).tenants())
except LayoutError as error:
    print(type(error).__name__, error)
    sys.exit(2)
"""
REGISTER = """
import sys
from rosterflow.warehouse.layout import Layout, LayoutError
try:
    Layout(sys.argv[1]).register("south")
except LayoutError as error:
    print(type(error).__name__, error)
    sys.exit(2)
"""


def test_a_registry_this_user_may_not_write_is_a_layout_error_naming_it(tmp_path):
    """A registry made by another account (a worker machine's, on shared storage): a new
    tenant's first sync raised the bare PermissionError of the registration's draft, which
    `rosterflow sync` put down to "reading the feed's files" (exit 1) and the inbox filed as
    a failed sync under rejected/, rather than leaving the zip for the next scan (exit 2)."""
    template = str(tmp_path / "wh" / "{tenant}.duckdb")
    layout = Layout(template)
    assert layout.register("north") == 1
    registry = tmp_path / "wh" / REGISTRY
    registered = _run_with_mode(registry, 0o555, 0o755, REGISTER, template)

    assert registered.returncode == 2, registered.stdout + registered.stderr
    line = registered.stdout.strip()
    assert line.startswith(f"LayoutError {registry}: cannot register tenant 'south'"), line
    assert "Permission denied" in line and "write the tenant registry" in line
    assert layout.tenants() == {"north": 1}
    assert sorted(p.name for p in registry.iterdir()) == ["00000001"]


def test_a_registration_is_readable_by_the_accounts_the_umask_lets_read_the_tenant_files(
    tmp_path,
):
    """Registered through a temporary file, a tenant's registration was readable by the
    account that made it alone (0600), whatever the umask: a worker on another machine, under
    another account, or an analyst's catalog then failed on every file of the layout."""
    layout = Layout(str(tmp_path / "wh" / "{tenant}.duckdb"))
    before = os.umask(0o022)
    try:
        layout.register("north")
        os.umask(0o002)
        layout.register("south")
    finally:
        os.umask(before)

    registry = tmp_path / "wh" / REGISTRY
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in registry.iterdir()}
    assert modes == {"00000001": 0o644, "00000002": 0o664}
    assert layout.tenants() == {"north": 1, "south": 2}


def test_a_registration_this_account_may_not_read_is_a_layout_error_naming_it(tmp_path):
    """One made before registrations were readable, by another account: `rosterflow runs`,
    the catalog and every sync of the layout ended in a PermissionError's traceback, a sync's
    blamed on "opening the feed"."""
    template = str(tmp_path / "wh" / "{tenant}.duckdb")
    Layout(template).register("north")
    entry = tmp_path / "wh" / REGISTRY / "00000001"
    listed = _run_with_mode(entry, 0o000, 0o644, LIST, template)

    assert listed.returncode == 2, listed.stdout + listed.stderr
    line = listed.stdout.strip()
    assert line.startswith(f"LayoutError {entry}: cannot read the tenant registry"), line
    assert "Permission denied" in line and "(chmod a+r)" in line


def _run_with_mode(
    path: Path, mode: int, then: int, script: str, template: str
) -> subprocess.CompletedProcess:
    """`script` run on the layout `template` by an account bound by file permissions (also
    when the tests run as root), while `path` has `mode`; `path` given `then` after."""
    path.chmod(mode)
    try:
        return subprocess.run(
            without_override([sys.executable, "-c", script, template]),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        path.chmod(then)
