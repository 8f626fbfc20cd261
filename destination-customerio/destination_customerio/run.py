"""Console script entry point."""

from destination_customerio.destination import DestinationCustomerIo
from retl_shared.console import run_console


def run() -> None:
    run_console(DestinationCustomerIo().run)


if __name__ == "__main__":
    run()
