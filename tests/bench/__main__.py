"""Run every benchmark module of this package, or the ones named: ``python -m tests.bench [name ...]``.

Benchmarks that return figures (ratios to a same-run ceiling or floor) are drawn into bench/results.png.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from pathlib import Path

from tests.bench._report import Figure, write_chart


def benchmark_names() -> list[str]:
    """Every module of the package is a benchmark, so a new one needs no registration."""
    modules = pkgutil.iter_modules([str(Path(__file__).parent)])
    return sorted(module.name for module in modules if not module.name.startswith("_"))


def main() -> None:
    available = benchmark_names()
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help=f"any of: {', '.join(available)}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a fast look")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(available))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}; available: {', '.join(available)}")
    figures: list[Figure] = []
    for name in args.names or available:
        print(f"== {name} ==", flush=True)
        figures += importlib.import_module(f"tests.bench.{name}").main(quick=args.quick) or []
        print()
    if args.quick:  # short runs' shares are not the figures the committed chart shows
        return
    chart = write_chart(figures)
    if chart is not None:
        print(f"chart of {len(figures)} figures: {chart}")


if __name__ == "__main__":
    main()
