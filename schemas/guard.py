"""What the safety guards (`transforms.guard`) read beside a plan, as frames others make.

A school's removals are counted in the warehouse (`warehouse.state.school_removals`) and the
logins a plan changes are found among its changes (`transforms.logins.relogins`). The guard
reads both and the warehouse never imports transforms: their shapes are declared here, once.
"""

from __future__ import annotations

import polars as pl

# per school (domain) and guarded entity, of the schools a plan removes active managed rows
# from: how many it removes and how many are active before the run. A removal placed in no
# domain is a school of its own (`domain_id` and `school` null)
SCHOOL_REMOVALS_SCHEMA = {
    "entity": pl.String,
    "domain_id": pl.Int64,
    "school": pl.String,
    "removed": pl.Int64,
    "active": pl.Int64,
}
# per user whose login a plan changes from one they had: the login before and after, and the
# line of the user's record in the run's users.csv (null for a record the run did not receive)
RELOGINS_SCHEMA = {
    "external_id": pl.String,
    "user_id": pl.Int64,
    "login_before": pl.String,
    "login": pl.String,
    "line": pl.Int64,
}
