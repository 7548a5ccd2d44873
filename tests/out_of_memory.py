"""DuckDB's own error for a statement it is refused memory for, made on demand."""

from __future__ import annotations

import duckdb


def duckdb_out_of_memory() -> duckdb.OutOfMemoryException:
    """The error of a scratch database held to 2 MB, with nowhere to spill, asked for 20 MB."""
    scratch = duckdb.connect(":memory:")
    scratch.execute("set memory_limit = '2MB'")
    scratch.execute("set temp_directory = ''")
    try:
        scratch.execute("create table t as select repeat('x', 100) || range from range(200000)")
    except duckdb.OutOfMemoryException as refused:
        return refused
    finally:
        scratch.close()
    raise AssertionError("DuckDB held to 2 MB made a table of 20 MB")
