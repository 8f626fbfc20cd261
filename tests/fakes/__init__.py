"""Fake vendor APIs served over real HTTP on 127.0.0.1 for connector tests.

`WebhookReceiver` lives in `tests.fakes.webhook` and is not re-exported here, so that
`python -m tests.fakes.webhook` does not import the module twice.
"""

from tests.fakes.server import FakeServer, RateLimitInfo, Request

__all__ = ["FakeServer", "RateLimitInfo", "Request"]
