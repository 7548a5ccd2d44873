"""Running a command as a user whom file permissions bind, also when the tests run as root.

Root reads and writes past every permission bit (CAP_DAC_OVERRIDE), so a read-only folder or
file would not refuse it. As root, the command runs under `setpriv` without that override (the
bounding and inheritable sets dropped, so the program it starts has no such capability): it
stays uid 0, the owner of the test's files, and is bound by their owner bits as anyone is.
"""

from __future__ import annotations

import os
import shutil

import pytest

DROPPED = "-dac_override,-dac_read_search"


def without_override(argv: list[str]) -> list[str]:
    """`argv`, to run bound by file permissions (as root: under setpriv without the override)."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail(
            "the tests run as root, and a permission test drops root's override with setpriv "
            "(util-linux), which is not installed: install it, or run the tests as a user"
        )
    return [setpriv, f"--bounding-set={DROPPED}", f"--inh-caps={DROPPED}", *argv]
