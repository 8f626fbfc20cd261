"""Auth, transports and errors for Airbyte's Public API (see the package docstring for SDK vs REST)."""

from __future__ import annotations

import functools
import math
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import requests

from retl_shared.errors import ConfigError, TransientError
from retl_shared.http import ApiClient, Decision
from retl_shared.redaction import Redactor

if TYPE_CHECKING:
    from airbyte_api import AirbyteAPI, models

CLOUD_URL = "https://api.airbyte.com/v1"
PAGE_SIZE = 100  # the API's maximum `limit`

T = TypeVar("T")


class ExitCode(IntEnum):
    """`retl airbyte` exit codes (documented in docs/airbyte-api.md): a script can tell them apart."""

    OK = 0
    JOB_FAILED = 1
    ERROR = 2  # usage, configuration, a refused request or a missing resource: a person must look
    JOB_CANCELLED = 3
    TIMEOUT = 4  # the job was still running at --timeout; it goes on in Airbyte
    API_UNAVAILABLE = 5  # network errors or 5xx after retries: worth retrying later
    INTERRUPTED = 130


class AirbyteError(Exception):
    """Something the user has to look at: bad input, a refused request, a missing resource."""

    exit_code = ExitCode.ERROR


class ApiUnavailable(AirbyteError):
    """The API could not be reached, kept failing after retries or answered nonsense.

    Kept apart from `AirbyteError` so that a scheduler can retry these and not the others."""

    exit_code = ExitCode.API_UNAVAILABLE


@dataclass(frozen=True)
class Settings:
    """Where and how to connect. Flags win over environment variables; secrets only travel here."""

    url: str
    workspace_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    token: str | None = None
    timeout: float = 30.0

    @classmethod
    def resolve(
        cls,
        *,
        url: str | None = None,
        workspace_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        token: str | None = None,
        env: Mapping[str, str] = os.environ,
    ) -> Settings:
        """Fill what the flags left out from AIRBYTE_* variables and check the credentials make one mode.

        Both a token and client credentials is an error rather than a silent pick: a stale
        AIRBYTE_TOKEN in a shell would otherwise quietly win over the credentials meant to be used."""
        settings = cls(
            url=(url or env.get("AIRBYTE_API_URL") or CLOUD_URL).rstrip("/"),
            workspace_id=workspace_id or env.get("AIRBYTE_WORKSPACE_ID") or None,
            client_id=client_id or env.get("AIRBYTE_CLIENT_ID") or None,
            client_secret=client_secret or env.get("AIRBYTE_CLIENT_SECRET") or None,
            token=token or env.get("AIRBYTE_TOKEN") or None,
        )
        if not settings.url.startswith(("https://", "http://")):
            raise AirbyteError(f"the API URL must start with https:// (or http://): {settings.url}")
        has_client = settings.client_id is not None or settings.client_secret is not None
        if settings.token is not None and has_client:
            raise AirbyteError(
                "both a bearer token (--token/AIRBYTE_TOKEN) and client credentials "
                "(--client-id/AIRBYTE_CLIENT_ID, --client-secret/AIRBYTE_CLIENT_SECRET) are set: keep one"
            )
        if settings.token is None:
            if settings.client_id is None:
                raise AirbyteError(
                    "no credentials: set AIRBYTE_CLIENT_ID and AIRBYTE_CLIENT_SECRET (an application's "
                    "client id and secret), or AIRBYTE_TOKEN (a bearer token)"
                )
            if settings.client_secret is None:
                raise AirbyteError("AIRBYTE_CLIENT_SECRET (or --client-secret) is not set")
        return settings

    def secrets(self) -> list[str]:
        return [s for s in (self.client_secret, self.token) if s]

    def workspace(self) -> str:
        if not self.workspace_id:
            raise AirbyteError("no workspace: pass --workspace or set AIRBYTE_WORKSPACE_ID")
        return self.workspace_id


class Tokens:
    """The bearer token for every request: a fixed one, or an application token from client credentials.

    Application tokens live minutes (three on Cloud) while a sync can be followed for hours, so
    the token is renewed shortly before `expires_in` runs out (a margin for latency and clock
    drift) and, as a fallback, whenever the API answers 401."""

    def __init__(self, settings: Settings, redactor: Redactor, clock: Callable[[], float] = time.monotonic):
        self._settings = settings
        self._redactor = redactor
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = math.inf
        self._http = _Rest(settings.url, redactor, tokens=None, timeout=settings.timeout)

    def get(self) -> str:
        if self._settings.token is not None:
            return self._settings.token
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token = self._fetch()
            return self._token

    def renew(self) -> bool:
        """Forget the token after a 401 so the next request fetches one; False when it is fixed."""
        if self._settings.token is not None:
            return False
        with self._lock:
            self._token = None
        return True

    def _fetch(self) -> str:
        started = self._clock()
        body = _json_or_raise(
            self._http,
            "POST",
            "applications/token",
            json={
                "client_id": self._settings.client_id,
                "client_secret": self._settings.client_secret,
                "grant-type": "client_credentials",
            },
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ApiUnavailable("the token endpoint answered without an access_token")
        self._redactor.add(token)
        lifetime = body.get("expires_in")
        if isinstance(lifetime, int | float) and lifetime > 0:
            self._renew_at = started + lifetime - min(60.0, lifetime / 5)
        else:
            self._renew_at = math.inf  # unknown lifetime: renew on 401 only
        return token


class _Rest(ApiClient):
    """ApiClient with Airbyte's bearer auth; `tokens=None` for the token endpoint itself."""

    def __init__(self, url: str, redactor: Redactor, tokens: Tokens | None, timeout: float) -> None:
        super().__init__(url, redactor=redactor, timeout=timeout, max_retries=4, backoff_max=30.0)
        self.tokens = tokens

    def attempt_headers(self, headers: Mapping[str, str], body: bytes | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.get()}"} if self.tokens is not None else {}

    def refresh_auth(self) -> bool:
        return self.tokens is not None and self.tokens.renew()

    def classify(self, response: requests.Response) -> Decision:
        """Other 4xx (404 for a missing resource, 409 for a sync already running) are read by the caller."""
        status = response.status_code
        if 400 <= status < 500 and status not in (401, 403, 408, 413, 429):
            return Decision.ok
        return super().classify(response)

    def auth_error(self, response: requests.Response) -> ConfigError:
        return ConfigError(_refused(response.status_code, response.text, self.redactor))


def _refused(status: int, text: str, redactor: Redactor) -> str:
    return (
        f"Airbyte refused the credentials (HTTP {status}): {redactor.excerpt(text)}. Check "
        "AIRBYTE_CLIENT_ID and AIRBYTE_CLIENT_SECRET (or AIRBYTE_TOKEN), that the token is not expired, "
        "and that they may use this workspace."
    )


def _json_or_raise(rest: ApiClient, method: str, path: str, **kwargs: Any) -> Any:
    """One REST call turned into JSON, with the kernel's errors mapped to ours."""
    try:
        response = rest.request(method, path, **kwargs)
    except ConfigError as exc:
        raise AirbyteError(rest.redactor.redact(exc.message)) from None
    except TransientError as exc:
        # The kernel's wording is for connectors ("the platform will retry the sync"), not for a CLI.
        message = re.sub(r";? the platform will retry the sync( later)?\.?", ".", exc.message)
        raise ApiUnavailable(rest.redactor.redact(message)) from None
    if response.status_code >= 400:
        raise _status_error(response.status_code, f"{method} {path}", response.text, rest.redactor)
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        body = rest.redactor.excerpt(response.text)
        raise ApiUnavailable(f"{method} {path} answered with non-JSON: {body}") from None


def _status_error(status: int, what: str, text: str, redactor: Redactor) -> AirbyteError:
    detail = redactor.excerpt(text)
    if status in (401, 403):
        return AirbyteError(_refused(status, text, redactor))
    if status == 404:
        return AirbyteError(f"{what}: not found (HTTP 404): {detail}")
    if status == 409:
        return AirbyteError(f"{what}: conflict (HTTP 409): {detail}")
    if status < 500:
        return AirbyteError(f"{what}: Airbyte rejected the request (HTTP {status}): {detail}")
    return ApiUnavailable(f"{what}: HTTP {status}: {detail}")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, built once per process: loading the CA bundle takes 20-40 ms and
    the SDK would otherwise do it twice for every client (it also builds an async one)."""
    import httpx

    return httpx.create_ssl_context()


class Client:
    """Airbyte's Public API: `rest_*` for plain REST, `sdk()` for the typed SDK, one token for both."""

    def __init__(self, settings: Settings, redactor: Redactor) -> None:
        self.settings = settings
        self.redactor = redactor
        redactor.add(*settings.secrets())
        self.tokens = Tokens(settings, redactor)
        self.rest = _Rest(settings.url, redactor, self.tokens, settings.timeout)
        self._sdk: AirbyteAPI | None = None

    # --- plain REST --------------------------------------------------------------------------------

    def rest_json(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        return _json_or_raise(self.rest, method, path, json=body, params=params or None)

    def rest_list(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paged list (`{data: [...]}`), fetched PAGE_SIZE at a time."""
        items: list[dict[str, Any]] = []
        while True:
            page = self.rest_json("GET", path, **params, limit=PAGE_SIZE, offset=len(items))
            data = page.get("data") if isinstance(page, dict) else None
            if not isinstance(data, list):
                raise ApiUnavailable(f"GET {path} answered without a data list")
            items.extend(data)
            if len(data) < PAGE_SIZE:
                return items

    # --- SDK -----------------------------------------------------------------------------------------

    def sdk(self) -> AirbyteAPI:
        """The SDK, built on first use (importing it costs half a second the other commands skip)."""
        if self._sdk is None:
            import httpx
            from airbyte_api import AirbyteAPI, models
            from airbyte_api.utils import BackoffStrategy, RetryConfig

            tls = _tls_context()
            self._sdk = AirbyteAPI(
                server_url=self.settings.url,
                security=lambda: models.Security(bearer_auth=self.tokens.get()),
                client=httpx.Client(verify=tls, follow_redirects=True),
                async_client=httpx.AsyncClient(verify=tls, follow_redirects=True),
                retry_config=RetryConfig("backoff", BackoffStrategy(500, 10_000, 2.0, 60_000), True),
                timeout_ms=int(self.settings.timeout * 1000),
            )
        return self._sdk

    def call(self, what: str, operation: Callable[[AirbyteAPI], T | None]) -> T:
        """Run one SDK operation: renew the token and retry once on 401, map SDK errors to ours.

        `what` names the operation in messages; an empty 2xx body counts as a broken answer."""
        import httpx
        from airbyte_api import errors

        for attempt in (1, 2):
            try:
                result = operation(self.sdk())
            except errors.ResponseValidationError as exc:
                raise ApiUnavailable(f"{what}: unexpected answer: {self.redactor.redact(str(exc))}") from None
            except errors.AirbyteAPIError as exc:
                if exc.status_code == 401 and attempt == 1 and self.tokens.renew():
                    continue
                raise _status_error(exc.status_code, what, exc.body, self.redactor) from None
            except (errors.NoResponseError, httpx.TransportError) as exc:
                raise ApiUnavailable(
                    f"{what}: {type(exc).__name__}: {self.redactor.redact(str(exc))}"
                ) from None
            if result is None:
                raise ApiUnavailable(f"{what}: the API answered without a body")
            return result
        raise AssertionError("unreachable")  # the loop returns or raises

    # --- look-ups several commands share ----------------------------------------------------------

    def connections(self) -> list[models.ConnectionResponse]:
        """Every connection of the workspace, PAGE_SIZE at a time."""
        workspace = self.settings.workspace()
        found: list[models.ConnectionResponse] = []
        while True:
            page = self.call(
                "list connections",
                lambda sdk: (
                    sdk.connections.list_connections(
                        request={"workspace_ids": [workspace], "limit": PAGE_SIZE, "offset": len(found)}
                    ).connections_response
                ),
            )
            found.extend(page.data)
            if len(page.data) < PAGE_SIZE:
                return found

    def definitions(self, kind: Literal["source", "destination"]) -> list[models.DefinitionResponse]:
        """The workspace's source or destination definitions, registry and custom ones."""
        workspace = self.settings.workspace()
        if kind == "source":
            response = self.call(
                "list source definitions",
                lambda sdk: (
                    sdk.source_definitions.list_source_definitions(
                        request={"workspace_id": workspace}
                    ).definitions_response
                ),
            )
        else:
            response = self.call(
                "list destination definitions",
                lambda sdk: (
                    sdk.destination_definitions.list_destination_definitions(
                        request={"workspace_id": workspace}
                    ).definitions_response
                ),
            )
        return list(response.data)
