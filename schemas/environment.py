"""The limits set through the environment (docs/reference/environment.md), each read when it is
used and refused in one line, naming the variable and what it takes, when it is not a number
in its range: a typo must not become a traceback, nor a negative limit a silent one.

The command line checks them all before any command runs (`check_environment`); a flow run
outside it (a Prefect worker) meets the same `EnvironmentVariableError` where a limit is read.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass


class EnvironmentVariableError(Exception):
    """An environment variable rosterflow reads holds what it cannot use (exit 2)."""


@dataclass(frozen=True)
class Limit:
    """A number an environment variable may set in place of its default."""

    name: str
    default: float
    unit: str = ""  # what it counts, as the message says it
    whole: bool = False  # a count (of bytes): a whole number
    zero: bool = False  # whether 0 is allowed (waiting no time at all)

    def value(self) -> float:
        """The variable's number, else the default; an EnvironmentVariableError when it is set
        to anything but a number in range."""
        text = os.environ.get(self.name)
        if text is None or not text.strip():
            return self.default
        try:
            number = int(text) if self.whole else float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0 or (number == 0 and not self.zero):
            raise EnvironmentVariableError(f"{self.name}={text!r}: {self.takes()}")
        return number

    def takes(self) -> str:
        """What the variable takes, in words."""
        kind = "whole number" if self.whole else "number"
        if self.unit:
            kind += f" of {self.unit}"
        wanted = f"a {kind}, 0 or more" if self.zero else f"a positive {kind}"
        default = int(self.default) if self.default == int(self.default) else self.default
        return f"give {wanted} (unset: {default})"


# refuse a zip that unpacks to more bytes (a zip bomb), or a member (above 1 MiB) expanding
# more times: far above any real roster (a state's 6M enrollments is about 1 GB of CSV) yet far
# below what would exhaust a machine
MAX_FEED_BYTES = Limit("ROSTERFLOW_MAX_FEED_BYTES", 16 * 1024**3, "bytes", whole=True)
MAX_COMPRESSION_RATIO = Limit("ROSTERFLOW_MAX_COMPRESSION_RATIO", 1000)
# how long to wait for a warehouse file another process holds (0: not at all)
LOCK_WAIT_SECONDS = Limit("ROSTERFLOW_LOCK_WAIT_SECONDS", 30.0, "seconds", zero=True)
# how long a flow run waits for its tenant's Prefect concurrency slot, which another run of the
# tenant holds for as long as it runs (minutes for a large district)
TENANT_WAIT_SECONDS = Limit("ROSTERFLOW_TENANT_WAIT_SECONDS", 3600.0, "seconds", zero=True)

# (TENANT_WAIT_SECONDS is read, and refused, where a flow run waits for its tenant's slot: a
# command without Prefect never reads it)
LIMITS = (MAX_FEED_BYTES, MAX_COMPRESSION_RATIO, LOCK_WAIT_SECONDS)


def check_environment() -> None:
    """Every limit read once: the first one set to what rosterflow cannot use is refused."""
    for limit in LIMITS:
        limit.value()
