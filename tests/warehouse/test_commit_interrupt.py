"""A Ctrl-C during a transaction's COMMIT: held until the commit returns, then raised, so that
a committed run is never taken for a rolled-back one (DuckDB's client answers an interrupt
during a statement with RuntimeError('Query interrupted') even once the commit is durable)."""

from __future__ import annotations

import os
import signal
import time

import duckdb
import pytest

from rosterflow.warehouse.schema import transaction


class InterruptedAtCommit:
    """A connection that receives a Ctrl-C as its COMMIT starts (the signal's handler runs
    while the statement would, before it reaches DuckDB)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def execute(self, sql: str, *args):
        if sql == "commit":
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # Python runs the handler here, between two bytecodes
        return self.con.execute(sql, *args)


@pytest.fixture
def ctrl_c_raises():
    """Python's own Ctrl-C handler, whatever the tests were started under: a process started in
    the background by a shell without job control (`nohup`, `cmd &` in a script) inherits
    SIGINT ignored, which Python then leaves ignored, and so does `transaction`."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_during_the_commit_is_raised_once_the_run_is_committed(tmp_path, ctrl_c_raises):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table runs (run_id int)")
        with pytest.raises(KeyboardInterrupt), transaction(InterruptedAtCommit(con)) as inside:
            inside.execute("insert into runs values (1)")
        assert con.sql("select run_id from runs").fetchall() == [(1,)]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_inside_the_block_rolls_the_transaction_back(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create table runs (run_id int)")
        with pytest.raises(KeyboardInterrupt), transaction(con):
            con.execute("insert into runs values (1)")
            raise KeyboardInterrupt
        assert con.sql("select count(*) from runs").fetchall() == [(0,)]
