"""Console script entry point."""

from destination_webhook.destination import DestinationWebhook
from retl_shared.console import run_console


def run() -> None:
    run_console(DestinationWebhook().run)


if __name__ == "__main__":
    run()
