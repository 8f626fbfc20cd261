"""Console script entry point."""

import sys

from destination_webhook.destination import DestinationWebhook


def run() -> None:
    sys.exit(DestinationWebhook().run())


if __name__ == "__main__":
    run()
