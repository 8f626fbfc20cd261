"""Console script entry point."""

from destination_hubspot.destination import DestinationHubSpot
from retl_shared.console import run_console


def run() -> None:
    run_console(DestinationHubSpot().run)


if __name__ == "__main__":
    run()
