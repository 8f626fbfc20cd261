"""Build the examples' DuckDB warehouse by running SQL files against a DuckDB file.

From the repository root: `uv run python examples/make_warehouse.py` builds a new
examples/warehouse.duckdb from examples/warehouse.sql; `uv run python examples/make_warehouse.py
examples/changes.sql` runs that file against the existing one. DuckDB's Python package is all it needs
(the source depends on it).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import duckdb

HERE = Path(__file__).parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python examples/make_warehouse.py",
        description="Run SQL files against a DuckDB file; with none, rebuild it from examples/warehouse.sql.",
    )
    parser.add_argument("sql", nargs="*", type=Path, metavar="SQL_FILE", help="run these, in order")
    parser.add_argument(
        "--database", type=Path, default=HERE / "warehouse.duckdb", help="default: examples/warehouse.duckdb"
    )
    args = parser.parse_args(argv)
    if not args.sql:
        for stale in (args.database, args.database.with_name(args.database.name + ".wal")):
            stale.unlink(missing_ok=True)
    files = args.sql or [HERE / "warehouse.sql"]
    with duckdb.connect(str(args.database)) as connection:
        for path in files:
            connection.execute(path.read_text())
    print(f"{os.path.relpath(args.database)}: ran {', '.join(os.path.relpath(path) for path in files)}")


if __name__ == "__main__":
    main()
