"""Benchmarks, run by `make bench` (``python -m tests.bench``), never by `make test`.

Each module here is one benchmark with a ``main(quick: bool) -> None`` that prints a small report;
``python -m tests.bench [name ...] [--quick]`` runs all of them, or the named ones.
"""
