"""Console script entry point."""

import sys

from destination_customerio.destination import DestinationCustomerIo


def run() -> None:
    sys.exit(DestinationCustomerIo().run())


if __name__ == "__main__":
    run()
