"""A fake Airbyte Public API on 127.0.0.1 for the `retl airbyte` tests.

In-memory workspaces, connector definitions, sources, destinations, connections and jobs under
the self-managed prefix (`api_url` = `http://127.0.0.1:PORT/api/public/v1`). Decisions:

* Auth: `POST /applications/token {client_id, client_secret}` issues tokens that expire after
  `token_ttl` seconds (advertised as `expires_in`, enforced); `bearer_tokens` never expire;
  `expire_tokens()` invalidates every issued token at once. Anything else without a valid
  token gets 401.
* Jobs advance only when polled: every `GET /jobs/{id}` moves a job one step along the
  `job_script` it was created with (default pending → running → incomplete → running →
  succeeded; the last step repeats), so tests are deterministic and as fast as the client
  polls. Listing jobs does not advance them. A second sync of a connection whose job is not
  final gets 409, as on Airbyte.
* Source and destination configurations come back with values under secret-looking keys
  masked as `**********`, as Airbyte masks `airbyte_secret` fields.
* Request bodies of jobs, connections, sources and destinations are checked against the
  OpenAPI descriptions in `AIRBYTE_OPENAPI_DIR` (default `/work/shared/reference/openapi`)
  when those files exist; a violation is recorded in `schema_violations` and answered 400.
  Without the files the check is skipped.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from tests.fakes.openapi import OpenApiSchemas, SchemaViolation, load_schemas
from tests.fakes.server import FakeServer, Reply, Request

PREFIX = "/api/public/v1"
WORKSPACE_ID = "3f1c7a52-6e0d-4c4b-9d6e-2a8b5f0e9c11"
CLIENT_ID = "retl-ci-client"
CLIENT_SECRET = "cs-9f8e7d6c5b4a39281706f5e4"
BEARER_TOKEN = "bt-static-5c4b3a291807f6e5"
MASK = "**********"
OPENAPI_DIR = Path(os.environ.get("AIRBYTE_OPENAPI_DIR", "/work/shared/reference/openapi"))
OPENAPI_FILES = {"jobs": "airbyte_jobs_v1.json", "connections": "airbyte_connections_v1.json"}
DEFAULT_SCRIPT = ("pending", "running", "incomplete", "running", "succeeded")
FINAL = {"succeeded", "failed", "cancelled"}
_SECRET_KEY = re.compile(r"token|secret|password|private_key|api_key|apikey", re.IGNORECASE)
_ID = r"(?P<id>[^/]+)"
_KIND = r"(?P<kind>sources|destinations)"


class _Reject(Exception):
    """Ends a handler with an error status (Airbyte answers problem JSON)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _fail(status: int, detail: str) -> NoReturn:
    raise _Reject(status, detail)


def load_openapi(directory: str) -> OpenApiSchemas | None:
    """Airbyte's descriptions (OpenAPI 3.1: JSON Schema 2020-12) from `directory`, if present."""
    return load_schemas(directory, "airbyte", tuple(OPENAPI_FILES.items()), "2020-12")


class AirbyteFake(FakeServer):
    """Airbyte's Public API over real HTTP. Switches: `token_ttl`, `expire_tokens()`, `job_script`,
    `job_rows`, `job_bytes`, `seconds_per_step`, plus FakeServer's latency and fault injection."""

    def __init__(
        self,
        port: int = 0,
        *,
        clients: Mapping[str, str] | None = None,
        bearer_tokens: Iterable[str] = (BEARER_TOKEN,),
        workspaces: Iterable[str] = (WORKSPACE_ID,),
        token_ttl: float = 180.0,
        openapi_dir: str | Path | None = OPENAPI_DIR,
    ) -> None:
        super().__init__(port)
        self.clients = dict(clients if clients is not None else {CLIENT_ID: CLIENT_SECRET})
        self.bearer_tokens = set(bearer_tokens)
        self.workspaces = set(workspaces)
        self.token_ttl = token_ttl
        self.job_script: tuple[str, ...] = DEFAULT_SCRIPT
        self.job_rows = 1234
        self.job_bytes = 567_890
        self.seconds_per_step = 15
        self.openapi = load_openapi(str(openapi_dir)) if openapi_dir is not None else None
        self.schema_violations: list[SchemaViolation] = []
        self.tokens_issued: list[str] = []
        self._state = threading.RLock()
        self._tokens: dict[str, float] = {}  # access token -> expiry (monotonic)
        self._ids = itertools.count(1)
        self._job_ids = itertools.count(101)
        self.definitions: dict[str, dict[str, dict[str, Any]]] = {"sources": {}, "destinations": {}}
        self.actors: dict[str, dict[str, dict[str, Any]]] = {"sources": {}, "destinations": {}}
        self.airbyte_connections: dict[str, dict[str, Any]] = {}  # FakeServer.connections counts sockets
        self.jobs: dict[int, dict[str, Any]] = {}
        for workspace in self.workspaces:  # registry connectors, so matching by name is exercised
            self.add_definition(workspace, "sources", "Postgres", "airbyte/source-postgres", "3.6.0")
            self.add_definition(workspace, "destinations", "HubSpot", "airbyte/destination-hubspot", "0.2.0")

        p = PREFIX
        self.route("POST", f"{p}/applications/token", self._token)
        defs = rf"{p}/workspaces/(?P<workspace>[^/]+)/definitions/{_KIND}"
        self.route("GET", defs, self._authed(self._list_definitions))
        self.route("POST", defs, self._authed(self._create_definition))
        self.route("GET", rf"{defs}/{_ID}", self._authed(self._get_definition))
        self.route("PUT", rf"{defs}/{_ID}", self._authed(self._update_definition))
        self.route("GET", rf"{p}/{_KIND}", self._authed(self._list_actors))
        self.route("POST", rf"{p}/{_KIND}", self._authed(self._create_actor))
        self.route("GET", rf"{p}/{_KIND}/{_ID}", self._authed(self._get_actor))
        self.route("PUT", rf"{p}/{_KIND}/{_ID}", self._authed(self._put_actor))
        self.route("GET", f"{p}/connections", self._authed(self._list_connections))
        self.route("POST", f"{p}/connections", self._authed(self._create_connection))
        self.route("GET", rf"{p}/connections/{_ID}", self._authed(self._get_connection))
        self.route("PATCH", rf"{p}/connections/{_ID}", self._authed(self._patch_connection))
        self.route("GET", f"{p}/jobs", self._authed(self._list_jobs))
        self.route("POST", f"{p}/jobs", self._authed(self._create_job))
        self.route("GET", rf"{p}/jobs/(?P<id>\d+)", self._authed(self._get_job))

    @property
    def api_url(self) -> str:
        return self.url + PREFIX

    # -- switches and helpers for tests ------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every issued access token stops working now (as if its lifetime ran out)."""
        with self._state:
            self._tokens.clear()

    def add_definition(self, workspace: str, kind: str, name: str, repository: str, tag: str) -> str:
        definition_id = self._new_id()
        with self._state:
            self.definitions[kind][definition_id] = {
                "id": definition_id,
                "name": name,
                "dockerRepository": repository,
                "dockerImageTag": tag,
                "workspaceId": workspace,
            }
        return definition_id

    def writes(self) -> list[Request]:
        """Requests that change something (the token endpoint aside)."""
        return [
            r
            for r in self.requests
            if r.method in ("POST", "PUT", "PATCH", "DELETE") and "/token" not in r.path
        ]

    def statuses(self, status: int) -> list[Request]:
        return [r for r in self.requests if r.status == status]

    # -- plumbing -----------------------------------------------------------------------------------

    def _new_id(self) -> str:
        return f"00000000-0000-4000-8000-{next(self._ids):012d}"

    def _authed(self, handler: Callable[[Request], tuple[int, Any]]) -> Callable[[Request], Reply]:
        def run(req: Request) -> Reply:
            auth = req.headers.get("Authorization", "")
            token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
            with self._state:
                expiry = self._tokens.get(token or "")
                valid = token in self.bearer_tokens or (expiry is not None and time.monotonic() < expiry)
            if not valid:
                return 401, {"status": 401, "title": "unauthorized", "detail": "Invalid or expired token"}
            try:
                with self._state:
                    return handler(req)
            except _Reject as exc:
                return exc.status, {"status": exc.status, "title": "error", "detail": exc.detail}

        return run

    def _body(self, req: Request, document: str | None = None, schema: str | None = None) -> dict[str, Any]:
        try:
            body = json.loads(req.body or b"null")
        except ValueError:
            self._violation(req, schema or "JSON", "body is not JSON")
        if document and schema and self.openapi is not None:
            problem = self.openapi.validate(document, schema, body)
            if problem is not None:
                self._violation(req, schema, problem)
        if not isinstance(body, dict):
            _fail(400, "expected a JSON object")
        return body

    def _violation(self, req: Request, schema: str, message: str) -> NoReturn:
        self.schema_violations.append(SchemaViolation(req.method, req.path, schema, message))
        _fail(400, message)

    def _page(self, req: Request, items: list[dict[str, Any]], default_limit: int = 20) -> dict[str, Any]:
        try:
            limit = int(req.query.get("limit", default_limit))
            offset = int(req.query.get("offset", 0))
        except ValueError:
            self._violation(req, "limit/offset", "limit and offset must be integers")
        if not 1 <= limit <= 100 or offset < 0:
            self._violation(
                req, "limit/offset", f"limit must be 1..100 and offset >= 0, got {limit}, {offset}"
            )
        return {"data": items[offset : offset + limit]}

    def _workspace(self, workspace: str) -> str:
        if workspace not in self.workspaces:
            _fail(404, f"workspace {workspace} not found")
        return workspace

    def _workspace_filter(self, req: Request) -> set[str] | None:
        values = [v for raw in req.query_all.get("workspaceIds", []) for v in raw.split(",") if v]
        return set(values) or None

    # -- auth ------------------------------------------------------------------------------------------

    def _token(self, req: Request) -> Reply:
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            body = {}
        client_id, client_secret = body.get("client_id"), body.get("client_secret")
        if not client_id or self.clients.get(client_id) != client_secret:
            return 401, {"status": 401, "title": "unauthorized", "detail": "Invalid client credentials"}
        with self._state:
            token = f"at-{len(self.tokens_issued) + 1:03d}-{secrets.token_hex(12)}"
            self._tokens[token] = time.monotonic() + self.token_ttl
            self.tokens_issued.append(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl}

    # -- definitions -------------------------------------------------------------------------------

    def _list_definitions(self, req: Request) -> tuple[int, Any]:
        workspace = self._workspace(req.path_params["workspace"])
        found = [
            _public(d)
            for d in self.definitions[req.path_params["kind"]].values()
            if d["workspaceId"] == workspace
        ]
        return 200, {"data": found}

    def _create_definition(self, req: Request) -> tuple[int, Any]:
        workspace = self._workspace(req.path_params["workspace"])
        body = self._body(req)
        if not all(
            isinstance(body.get(k), str) and body[k] for k in ("name", "dockerRepository", "dockerImageTag")
        ):
            _fail(400, "name, dockerRepository and dockerImageTag are required")
        kind = req.path_params["kind"]
        definition_id = self.add_definition(
            workspace, kind, body["name"], body["dockerRepository"], body["dockerImageTag"]
        )
        if body.get("documentationUrl"):
            self.definitions[kind][definition_id]["documentationUrl"] = body["documentationUrl"]
        return 200, _public(self.definitions[kind][definition_id])

    def _definition(self, req: Request) -> dict[str, Any]:
        workspace = self._workspace(req.path_params["workspace"])
        found = self.definitions[req.path_params["kind"]].get(req.path_params["id"])
        if found is None or found["workspaceId"] != workspace:
            _fail(404, f"definition {req.path_params['id']} not found")
        return found

    def _get_definition(self, req: Request) -> tuple[int, Any]:
        return 200, _public(self._definition(req))

    def _update_definition(self, req: Request) -> tuple[int, Any]:
        found = self._definition(req)
        body = self._body(req)
        if not all(isinstance(body.get(k), str) and body[k] for k in ("name", "dockerImageTag")):
            _fail(400, "name and dockerImageTag are required")
        found.update(name=body["name"], dockerImageTag=body["dockerImageTag"])
        return 200, _public(found)

    # -- sources and destinations ------------------------------------------------------------------

    def _list_actors(self, req: Request) -> tuple[int, Any]:
        workspaces = self._workspace_filter(req)
        found = [
            _masked(a)
            for a in self.actors[req.path_params["kind"]].values()
            if not workspaces or a["workspaceId"] in workspaces
        ]
        return 200, self._page(req, found)

    def _create_actor(self, req: Request) -> tuple[int, Any]:
        kind = req.path_params["kind"]
        singular = kind[:-1]
        body = self._body(req, "connections", f"{singular.capitalize()}CreateRequest")
        workspace = self._workspace(body["workspaceId"])
        definition = self.definitions[kind].get(body.get("definitionId") or "")
        if definition is None or definition["workspaceId"] != workspace:
            _fail(400, f"unknown {singular} definition {body.get('definitionId')}")
        if not body.get("name"):
            _fail(400, "name is required")
        actor_id = self._new_id()
        self.actors[kind][actor_id] = {
            f"{singular}Id": actor_id,
            "name": body["name"],
            f"{singular}Type": definition["name"],
            "definitionId": definition["id"],
            "workspaceId": workspace,
            "configuration": body["configuration"],
            "createdAt": int(time.time()),
        }
        return 200, _masked(self.actors[kind][actor_id])

    def _actor(self, req: Request) -> dict[str, Any]:
        found = self.actors[req.path_params["kind"]].get(req.path_params["id"])
        if found is None:
            _fail(404, f"{req.path_params['kind'][:-1]} {req.path_params['id']} not found")
        return found

    def _get_actor(self, req: Request) -> tuple[int, Any]:
        return 200, _masked(self._actor(req))

    def _put_actor(self, req: Request) -> tuple[int, Any]:
        found = self._actor(req)
        body = self._body(req, "connections", f"{req.path_params['kind'][:-1].capitalize()}PutRequest")
        found.update(name=body["name"], configuration=body["configuration"])
        return 200, _masked(found)

    # -- connections -------------------------------------------------------------------------------

    def _list_connections(self, req: Request) -> tuple[int, Any]:
        workspaces = self._workspace_filter(req)
        found = [
            c for c in self.airbyte_connections.values() if not workspaces or c["workspaceId"] in workspaces
        ]
        return 200, self._page(req, found)

    def _create_connection(self, req: Request) -> tuple[int, Any]:
        body = self._body(req, "connections", "ConnectionCreateRequest")
        source = self.actors["sources"].get(body["sourceId"])
        destination = self.actors["destinations"].get(body["destinationId"])
        if source is None or destination is None or source["workspaceId"] != destination["workspaceId"]:
            _fail(400, "sourceId and destinationId must exist in one workspace")
        connection_id = self._new_id()
        self.airbyte_connections[connection_id] = {
            "connectionId": connection_id,
            "name": body.get("name") or f"{source['name']} → {destination['name']}",
            "sourceId": source["sourceId"],
            "destinationId": destination["destinationId"],
            "workspaceId": source["workspaceId"],
            "status": body.get("status", "active"),
            "schedule": body.get("schedule") or {"scheduleType": "manual"},
            "dataResidency": body.get("dataResidency", "auto"),
            "namespaceDefinition": body.get("namespaceDefinition", "destination"),
            "nonBreakingSchemaUpdatesBehavior": body.get("nonBreakingSchemaUpdatesBehavior", "ignore"),
            "prefix": body.get("prefix", ""),
            "configurations": body.get("configurations") or {"streams": []},
            "createdAt": int(time.time()),
            "tags": [],
        }
        return 200, self.airbyte_connections[connection_id]

    def _connection(self, req: Request) -> dict[str, Any]:
        found = self.airbyte_connections.get(req.path_params["id"])
        if found is None:
            _fail(404, f"connection {req.path_params['id']} not found")
        return found

    def _get_connection(self, req: Request) -> tuple[int, Any]:
        return 200, self._connection(req)

    def _patch_connection(self, req: Request) -> tuple[int, Any]:
        found = self._connection(req)
        body = self._body(req, "connections", "ConnectionPatchRequest")
        found.update(body)
        return 200, found

    # -- jobs --------------------------------------------------------------------------------------------

    def _create_job(self, req: Request) -> tuple[int, Any]:
        body = self._body(req, "jobs", "JobCreateRequest")
        connection = self.airbyte_connections.get(body["connectionId"])
        if connection is None:
            _fail(404, f"connection {body['connectionId']} not found")
        if any(
            j["connectionId"] == connection["connectionId"] and j["status"] not in FINAL
            for j in self.jobs.values()
        ):
            _fail(409, "A sync is already running for this connection.")
        job_id = next(self._job_ids)
        self.jobs[job_id] = {
            "jobId": job_id,
            "status": self.job_script[0],
            "jobType": body["jobType"],
            "startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "connectionId": connection["connectionId"],
            "script": self.job_script,
            "step": 0,
        }
        return 200, self._job_view(self.jobs[job_id])

    def _get_job(self, req: Request) -> tuple[int, Any]:
        job = self.jobs.get(int(req.path_params["id"]))
        if job is None:
            _fail(404, f"job {req.path_params['id']} not found")
        job["step"] = min(job["step"] + 1, len(job["script"]) - 1)
        job["status"] = job["script"][job["step"]]
        return 200, self._job_view(job)

    def _list_jobs(self, req: Request) -> tuple[int, Any]:
        jobs = [
            j
            for j in self.jobs.values()
            if req.query.get("connectionId") in (None, j["connectionId"])
            and req.query.get("jobType") in (None, j["jobType"])
        ]
        order = req.query.get("orderBy", "createdAt|ASC")
        if order not in ("createdAt|ASC", "createdAt|DESC", "updatedAt|ASC", "updatedAt|DESC"):
            self._violation(req, "orderBy", f"unsupported orderBy {order}")
        jobs.sort(key=lambda j: j["jobId"], reverse=order.endswith("DESC"))
        return 200, self._page(req, [self._job_view(j) for j in jobs])

    def _job_view(self, job: dict[str, Any]) -> dict[str, Any]:
        """The public shape, with stats that grow while running and are complete once succeeded."""
        step, script = job["step"], job["script"]
        share = 1.0 if job["status"] == "succeeded" else step / len(script)
        seconds = step * self.seconds_per_step
        return {
            "jobId": job["jobId"],
            "status": job["status"],
            "jobType": job["jobType"],
            "startTime": job["startTime"],
            "connectionId": job["connectionId"],
            "lastUpdatedAt": job["startTime"],
            "duration": f"PT{seconds // 60}M{seconds % 60}S" if seconds >= 60 else f"PT{seconds}S",
            "rowsSynced": int(self.job_rows * share),
            "bytesSynced": int(self.job_bytes * share),
        }


def _public(definition: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in definition.items() if k != "workspaceId"}


def _masked(actor: dict[str, Any]) -> dict[str, Any]:
    def mask(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: mask(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [mask(v, key) for v in value]
        return MASK if isinstance(value, str) and _SECRET_KEY.search(key) else value

    return {**actor, "configuration": mask(actor["configuration"])}
