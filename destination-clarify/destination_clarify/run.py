"""Console script entry point. This destination is not built yet: it fails clearly instead of pretending."""

import sys

from retl_shared.protocol import Output


def run() -> None:
    Output().error_trace("destination-clarify is not built yet (see the open issues).", "config_error")
    sys.exit(1)
