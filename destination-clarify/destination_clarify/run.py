"""Console script entry point."""

from destination_clarify.destination import DestinationClarify
from retl_shared.console import run_console


def run() -> None:
    run_console(DestinationClarify().run)


if __name__ == "__main__":
    run()
