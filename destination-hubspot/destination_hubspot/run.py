"""Console script entry point."""

import sys

from destination_hubspot.destination import DestinationHubSpot


def run() -> None:
    sys.exit(DestinationHubSpot().run())


if __name__ == "__main__":
    run()
