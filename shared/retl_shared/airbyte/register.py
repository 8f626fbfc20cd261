"""`retl airbyte register`: our custom connector definitions in a workspace, created or re-tagged.

A definition is matched by name because that is what a person sees in Airbyte and what the API
lets us set; the platform assigns its own definition ids (metadata.yaml's `definitionId` is for
Airbyte's registry tooling and is not used). The API can change a definition's tag but not its
repository, so a name that exists with another repository is an error, not an update.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml

from retl_shared.airbyte.client import AirbyteError, Client

if TYPE_CHECKING:
    from airbyte_api import models

Kind = Literal["source", "destination"]


@dataclass(frozen=True)
class Connector:
    """What register needs from one connector's metadata.yaml."""

    folder: str
    kind: Kind
    name: str
    repository: str
    tag: str
    documentation_url: str | None


Action = Literal["create", "update", "unchanged"]


@dataclass(frozen=True)
class Change:
    action: Action
    connector: Connector
    definition_id: str | None = None
    old_tag: str | None = None

    def describe(self) -> str:
        image = f"{self.connector.repository}:{self.connector.tag}"
        if self.action == "update":
            image = f"{self.connector.repository}:{self.old_tag} -> {self.connector.tag}"
        return f"  {self.action:<9}  {self.connector.kind:<11}  {self.connector.name!r}  {image}"


def default_root() -> Path:
    """The repository this package lives in (shared/retl_shared/airbyte/register.py → parents[3])."""
    return Path(__file__).resolve().parents[3]


def read_connectors(root: Path) -> list[Connector]:
    """Every `*/metadata.yaml` directly under `root`, in folder order."""
    connectors = []
    for path in sorted(root.glob("*/metadata.yaml")):
        data = (yaml.safe_load(path.read_text()) or {}).get("data") or {}
        kind = data.get("connectorType")
        missing = [k for k in ("name", "dockerRepository", "dockerImageTag") if not data.get(k)]
        if kind not in ("source", "destination") or missing:
            raise AirbyteError(
                f"{path}: needs data.connectorType (source or destination), name, dockerRepository and "
                f"dockerImageTag; missing or wrong: {', '.join(missing) or 'connectorType'}"
            )
        connectors.append(
            Connector(
                folder=path.parent.name,
                kind=kind,
                name=str(data["name"]),
                repository=str(data["dockerRepository"]),
                tag=str(data["dockerImageTag"]),
                documentation_url=data.get("documentationUrl"),
            )
        )
    if not connectors:
        raise AirbyteError(f"no */metadata.yaml under {root}")
    return connectors


def select(connectors: list[Connector], only: Iterable[str], tag: str | None) -> list[Connector]:
    """Keep the connectors named by `--only` (folder, definition name or repository); apply `--tag`."""
    wanted = list(only)
    chosen = [c for c in connectors if not wanted or {c.folder, c.name, c.repository} & set(wanted)]
    unknown = [w for w in wanted if not any(w in (c.folder, c.name, c.repository) for c in connectors)]
    if unknown:
        known = ", ".join(c.folder for c in connectors)
        raise AirbyteError(f"unknown connector {', '.join(map(repr, unknown))}; known: {known}")
    if tag:
        chosen = [Connector(c.folder, c.kind, c.name, c.repository, tag, c.documentation_url) for c in chosen]
    return chosen


def plan(client: Client, connectors: list[Connector]) -> list[Change]:
    existing = {kind: client.definitions(kind) for kind in {c.kind for c in connectors}}
    changes = []
    for connector in connectors:
        same_name = [d for d in existing[connector.kind] if d.name == connector.name]
        if len(same_name) > 1:
            raise AirbyteError(f"{len(same_name)} {connector.kind} definitions are named {connector.name!r}")
        if not same_name:
            changes.append(Change("create", connector))
            continue
        found = same_name[0]
        if found.docker_repository != connector.repository:
            raise AirbyteError(
                f"{connector.kind} definition {connector.name!r} exists with repository "
                f"{found.docker_repository}, not {connector.repository}; the API cannot change a "
                "repository: rename or delete that definition in Airbyte"
            )
        action: Action = "unchanged" if found.docker_image_tag == connector.tag else "update"
        changes.append(Change(action, connector, found.id, found.docker_image_tag))
    return changes


def execute(client: Client, changes: list[Change]) -> None:
    """Make the planned changes, in order; a failure stops there and leaves the rest untouched."""
    workspace = client.settings.workspace()
    for change in changes:
        if change.action == "create":
            _create(client, workspace, change.connector)
        elif change.action == "update":
            assert change.definition_id is not None
            _update(client, workspace, change.definition_id, change.connector)


# The SDK has one set of methods per kind, hence the pairs of branches below.


def _create(client: Client, workspace: str, c: Connector) -> None:
    body: models.CreateDefinitionRequestTypedDict = {
        "name": c.name,
        "docker_repository": c.repository,
        "docker_image_tag": c.tag,
    }
    if c.documentation_url:
        body["documentation_url"] = c.documentation_url
    what = f"create {c.kind} definition {c.name!r}"
    if c.kind == "source":
        client.call(
            what,
            lambda sdk: (
                sdk.source_definitions.create_source_definition(
                    request={"workspace_id": workspace, "create_definition_request": body}
                ).definition_response
            ),
        )
    else:
        client.call(
            what,
            lambda sdk: (
                sdk.destination_definitions.create_destination_definition(
                    request={"workspace_id": workspace, "create_definition_request": body}
                ).definition_response
            ),
        )


def _update(client: Client, workspace: str, definition_id: str, c: Connector) -> None:
    body: models.UpdateDefinitionRequestTypedDict = {"name": c.name, "docker_image_tag": c.tag}
    what = f"update {c.kind} definition {c.name!r}"
    if c.kind == "source":
        client.call(
            what,
            lambda sdk: (
                sdk.source_definitions.update_source_definition(
                    request={
                        "workspace_id": workspace,
                        "definition_id": definition_id,
                        "update_definition_request": body,
                    }
                ).definition_response
            ),
        )
    else:
        client.call(
            what,
            lambda sdk: (
                sdk.destination_definitions.update_destination_definition(
                    request={
                        "workspace_id": workspace,
                        "definition_id": definition_id,
                        "update_definition_request": body,
                    }
                ).definition_response
            ),
        )
