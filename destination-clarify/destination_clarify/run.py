"""Console script entry point."""

import sys

from destination_clarify.destination import DestinationClarify


def run() -> None:
    sys.exit(DestinationClarify().run())


if __name__ == "__main__":
    run()
