"""`retl airbyte apply FILE`: sources, destinations and connections from a version-controlled YAML file.

The file is the whole truth for the resources it names (matched by name in the workspace): a
configuration key removed from the file is removed in Airbyte. Resources it does not name are
left alone. Secrets never live in the file: `${NAME}` is replaced by environment variable NAME
(a missing or empty one is an error naming it; `$${` writes a literal `${`), and every value
substituted inside a `configuration` is masked in all output.

The API masks secrets it returns (`**********`), so a masked value is taken as unchanged: after
rotating a secret, `--force` updates every existing source and destination. A connection's
source or destination cannot be changed through the API, so such a change is an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from retl_shared.airbyte.client import AirbyteError, ApiUnavailable, Client
from retl_shared.redaction import Redactor

if TYPE_CHECKING:
    from airbyte_api import models

ActorKind = Literal["source", "destination"]
Action = Literal["create", "update", "unchanged"]
_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


# --- the file -------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)


class ActorSpec(_Strict):
    name: str = Field(min_length=1)
    definition: str = Field(min_length=1, description="definition name (as registered) or id")
    configuration: dict[str, Any]


class StreamSpec(_Strict):
    name: str = Field(min_length=1)
    sync_mode: str = Field("incremental_deduped_history", alias="syncMode")
    cursor_field: list[str] = Field(default_factory=list, alias="cursorField")
    primary_key: list[list[str]] = Field(default_factory=list, alias="primaryKey")


class ScheduleSpec(_Strict):
    schedule_type: Literal["manual", "cron"] = Field("manual", alias="scheduleType")
    cron_expression: str | None = Field(None, alias="cronExpression")

    @model_validator(mode="after")
    def _cron_needs_expression(self) -> ScheduleSpec:
        if (self.schedule_type == "cron") != (self.cron_expression is not None):
            raise ValueError("cronExpression is required with scheduleType cron, and only then")
        return self


class ConnectionSpec(_Strict):
    name: str = Field(min_length=1)
    source: str = Field(min_length=1, description="source name")
    destination: str = Field(min_length=1, description="destination name")
    schedule: ScheduleSpec = Field(default_factory=lambda: ScheduleSpec.model_validate({}))
    streams: list[StreamSpec] = Field(min_length=1)


class ApplyFile(_Strict):
    workspace_id: str | None = Field(None, alias="workspaceId")
    sources: list[ActorSpec] = Field(default_factory=list)
    destinations: list[ActorSpec] = Field(default_factory=list)
    connections: list[ConnectionSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> ApplyFile:
        for kind, items in (
            ("sources", self.sources),
            ("destinations", self.destinations),
            ("connections", self.connections),
        ):
            names = [item.name for item in items]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"{kind}: names must be unique: {', '.join(duplicates)}")
        return self


def load(path: Path, env: Mapping[str, str], redactor: Redactor) -> ApplyFile:
    """Read, substitute `${NAME}`s (secrets go to `redactor` first) and validate the file."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise AirbyteError(f"cannot read {path}: {exc}") from None
    missing: dict[str, str] = {}
    secrets: list[str] = []
    data = _substitute(raw, env, "", False, missing, secrets)
    redactor.add(*secrets)
    if missing:
        listed = "; ".join(f"{name} (used at {where})" for name, where in missing.items())
        raise AirbyteError(f"{path}: environment variables not set or empty: {listed}")
    try:
        return ApplyFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(  # include_input=False: an input may hold a secret
            f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise AirbyteError(f"{path}: {problems}") from None


def _substitute(
    value: Any, env: Mapping[str, str], where: str, secret: bool, missing: dict[str, str], secrets: list[str]
) -> Any:
    """Replace placeholders in every string of the YAML tree (not in the raw text, so a value can hold
    any character without breaking the YAML). Values inside a `configuration` are secrets."""
    if isinstance(value, dict):
        return {
            key: _substitute(
                item,
                env,
                f"{where}.{key}" if where else str(key),
                secret or key == "configuration",
                missing,
                secrets,
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _substitute(item, env, f"{where}[{i}]", secret, missing, secrets) for i, item in enumerate(value)
        ]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "${"
        found = env.get(name)
        if not found:
            missing.setdefault(name, where)
            return ""
        if secret:
            secrets.append(found)
        return found

    return _PLACEHOLDER.sub(replace, value)


# --- the plan -------------------------------------------------------------------------------------------


@dataclass
class Step:
    """One resource's planned action; `details` are the lines shown under it (already masked)."""

    action: Action
    kind: Literal["source", "destination", "connection"]
    name: str
    details: list[str] = field(default_factory=list)
    existing_id: str | None = None
    actor: ActorSpec | None = None
    definition_id: str | None = None
    connection: ConnectionSpec | None = None

    def describe(self) -> list[str]:
        return [f"  {self.action:<9}  {self.kind:<11}  {self.name!r}"] + [f"      {d}" for d in self.details]


@dataclass
class Plan:
    workspace_id: str
    steps: list[Step]
    # Ids of sources and destinations that exist now, by name; `execute` adds the ones it creates.
    ids: dict[ActorKind, dict[str, str]]

    def describe(self) -> list[str]:
        lines = [f"Plan for workspace {self.workspace_id}:"]
        for step in self.steps:
            lines.extend(step.describe())
        lines.append(f"{len(self.steps)} resources: {self.summary()}.")
        return lines

    def summary(self, done: bool = False) -> str:
        count = {a: sum(s.action == a for s in self.steps) for a in ("create", "update", "unchanged")}
        if done:
            return f"{count['create']} created, {count['update']} updated, {count['unchanged']} unchanged"
        return f"{count['create']} to create, {count['update']} to update, {count['unchanged']} unchanged"


def plan(client: Client, spec: ApplyFile, force: bool = False) -> Plan:
    show = _shower(client.redactor)
    workspace = client.settings.workspace()
    steps: list[Step] = []
    ids: dict[ActorKind, dict[str, str]] = {}
    actors: list[tuple[ActorKind, list[ActorSpec]]] = [
        ("source", spec.sources),
        ("destination", spec.destinations),
    ]
    for kind, specs in actors:
        kind_steps, ids[kind] = _plan_actors(client, workspace, kind, specs, force, show)
        steps.extend(kind_steps)
    existing = _unique_by_name(client.connections(), "connection") if spec.connections else {}
    for wanted in spec.connections:
        source_id = _reference(ids["source"], steps, "source", wanted.source, wanted.name)
        destination_id = _reference(ids["destination"], steps, "destination", wanted.destination, wanted.name)
        steps.append(_plan_connection(wanted, existing.get(wanted.name), source_id, destination_id, show))
    return Plan(workspace, steps, ids)


def _plan_actors(
    client: Client, workspace: str, kind: ActorKind, specs: list[ActorSpec], force: bool, show: _Show
) -> tuple[list[Step], dict[str, str]]:
    existing = _unique_by_name(client.rest_list(f"{kind}s", workspaceIds=workspace), kind)
    if not specs:
        return [], {name: item[f"{kind}Id"] for name, item in existing.items()}
    definitions = client.definitions(kind)
    steps = []
    for wanted in specs:
        definition_id = _definition_id(definitions, kind, wanted.definition)
        current = existing.get(wanted.name)
        if current is None:
            details = diff({"configuration": {}}, {"configuration": wanted.configuration}, "", show)
            steps.append(Step("create", kind, wanted.name, details, None, wanted, definition_id))
            continue
        current_definition = current.get("definitionId")
        if current_definition is not None and current_definition != definition_id:
            raise AirbyteError(
                f"{kind} {wanted.name!r} exists for another connector (definition {current_definition}); "
                "the API cannot change that: rename it in the file or delete it in Airbyte"
            )
        details = diff(current.get("configuration") or {}, wanted.configuration, "configuration", show)
        if force and not details:
            details = ["(forced: secrets the API masks may have changed)"]
        action: Action = "update" if details else "unchanged"
        steps.append(Step(action, kind, wanted.name, details, current[f"{kind}Id"], wanted, definition_id))
    return steps, {name: item[f"{kind}Id"] for name, item in existing.items()}


def _plan_connection(
    wanted: ConnectionSpec,
    current: models.ConnectionResponse | None,
    source_id: str | None,
    destination_id: str | None,
    show: _Show,
) -> Step:
    for stream in wanted.streams:
        _sync_mode(stream.sync_mode)  # an unknown mode fails the plan, not halfway through applying it
    desired = _connection_view(wanted)
    if current is None:
        details = [f"source {wanted.source!r}, destination {wanted.destination!r}"]
        details += diff({"streams": {}}, desired, "", show)  # one line per stream
        return Step("create", "connection", wanted.name, details, connection=wanted)
    for kind, wanted_id, current_id in (
        ("source", source_id, current.source_id),
        ("destination", destination_id, current.destination_id),
    ):
        if wanted_id != current_id:
            raise AirbyteError(
                f"connection {wanted.name!r} exists with another {kind}; the API cannot change a "
                "connection's source or destination: rename it in the file or delete it in Airbyte"
            )
    details = diff(_current_connection_view(current, wanted), desired, "", show)
    action: Action = "update" if details else "unchanged"
    return Step(action, "connection", wanted.name, details, current.connection_id, connection=wanted)


def _connection_view(spec: ConnectionSpec) -> dict[str, Any]:
    """The parts of a connection the file decides, in one comparable shape (unset keys left out)."""
    schedule: dict[str, Any] = {"scheduleType": spec.schedule.schedule_type}
    if spec.schedule.cron_expression is not None:
        schedule["cronExpression"] = spec.schedule.cron_expression
    streams = {}
    for stream in spec.streams:
        view: dict[str, Any] = {"syncMode": stream.sync_mode}
        if stream.cursor_field:
            view["cursorField"] = stream.cursor_field
        if stream.primary_key:
            view["primaryKey"] = stream.primary_key
        streams[stream.name] = view
    return {"schedule": schedule, "streams": streams}


def _current_connection_view(current: models.ConnectionResponse, wanted: ConnectionSpec) -> dict[str, Any]:
    """The same shape from the API, keeping only the stream keys the file sets: the platform fills
    in source-defined cursors and keys, which must not read as changes."""
    schedule: dict[str, Any] = {"scheduleType": _text(current.schedule.schedule_type)}
    if current.schedule.cron_expression is not None:
        schedule["cronExpression"] = current.schedule.cron_expression
    wanted_keys = {name: set(view) for name, view in _connection_view(wanted)["streams"].items()}
    streams = {}
    for stream in current.configurations.streams or []:
        view = {
            "syncMode": _text(stream.sync_mode) if stream.sync_mode is not None else None,
            "cursorField": stream.cursor_field or [],
            "primaryKey": stream.primary_key or [],
        }
        keep = wanted_keys.get(stream.name, set(view))
        streams[stream.name] = {k: v for k, v in view.items() if k in keep and v not in (None, [])}
    return {"schedule": schedule, "streams": streams}


# --- execution -------------------------------------------------------------------------------------------


def execute(client: Client, plan: Plan, say: Callable[[str], None]) -> None:
    """Carry out the plan in order (sources, destinations, connections), reporting each change."""
    for step in plan.steps:
        if step.action == "unchanged":
            continue
        if step.actor is not None:
            kind: ActorKind = "source" if step.kind == "source" else "destination"
            actor_id = _apply_actor(client, plan.workspace_id, kind, step)
            plan.ids[kind][step.name] = actor_id
        else:
            actor_id = _apply_connection(client, plan, step)
        say(f"{step.action}d {step.kind} {step.name!r} ({actor_id})")


def _apply_actor(client: Client, workspace: str, kind: ActorKind, step: Step) -> str:
    assert step.actor is not None
    if step.existing_id is None:
        body = {
            "name": step.name,
            "workspaceId": workspace,
            "definitionId": step.definition_id,
            "configuration": step.actor.configuration,
        }
        created = client.rest_json("POST", f"{kind}s", body)
        if not isinstance(created, dict) or not created.get(f"{kind}Id"):
            raise ApiUnavailable(f"creating {kind} {step.name!r} answered without a {kind}Id")
        return str(created[f"{kind}Id"])
    body = {"name": step.name, "configuration": step.actor.configuration}
    client.rest_json("PUT", f"{kind}s/{step.existing_id}", body)
    return step.existing_id


def _apply_connection(client: Client, plan: Plan, step: Step) -> str:
    from airbyte_api import models

    spec = step.connection
    assert spec is not None
    schedule: models.AirbyteAPIConnectionScheduleTypedDict = {
        "schedule_type": models.ScheduleTypeEnum(spec.schedule.schedule_type)
    }
    if spec.schedule.cron_expression is not None:
        schedule["cron_expression"] = spec.schedule.cron_expression
    streams: list[models.StreamConfigurationTypedDict] = []
    for stream in spec.streams:
        entry: models.StreamConfigurationTypedDict = {
            "name": stream.name,
            "sync_mode": _sync_mode(stream.sync_mode),
        }
        if stream.cursor_field:
            entry["cursor_field"] = stream.cursor_field
        if stream.primary_key:
            entry["primary_key"] = stream.primary_key
        streams.append(entry)
    if step.existing_id is None:
        create: models.ConnectionCreateRequestTypedDict = {
            "name": spec.name,
            "source_id": plan.ids["source"][spec.source],
            "destination_id": plan.ids["destination"][spec.destination],
            "schedule": schedule,
            "configurations": {"streams": streams},
        }
        created = client.call(
            f"create connection {spec.name!r}",
            lambda sdk: sdk.connections.create_connection(request=create).connection_response,
        )
        return created.connection_id
    connection_id = step.existing_id
    patch: models.ConnectionPatchRequestTypedDict = {
        "schedule": schedule,
        "configurations": {"streams": streams},
    }
    client.call(
        f"update connection {spec.name!r}",
        lambda sdk: (
            sdk.connections.patch_connection(
                request={"connection_id": connection_id, "connection_patch_request": patch}
            ).connection_response
        ),
    )
    return connection_id


# --- helpers ------------------------------------------------------------------------------------------

_Show = Callable[[Any], str]


def _shower(redactor: Redactor) -> _Show:
    """Render a value as JSON with secrets masked *before* encoding (JSON escapes would hide them)."""

    def mask(value: Any) -> Any:
        if isinstance(value, str):
            return redactor.redact(value)
        if isinstance(value, dict):
            return {k: mask(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mask(v) for v in value]
        return value

    return lambda value: json.dumps(mask(value), ensure_ascii=False)


def diff(old: Any, new: Any, path: str, show: _Show) -> list[str]:
    """Lines `+ path: new`, `- path: old`, `~ path: old -> new`; a value the API masked matches anything."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines = []
        for key in [*new, *(k for k in old if k not in new)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                lines.append(f"+ {sub}: {show(new[key])}")
            elif key not in new:
                lines.append(f"- {sub}: {show(old[key])}")
            else:
                lines.extend(diff(old[key], new[key], sub, show))
        return lines
    if _same_length_lists_of_containers(old, new):  # per item: a masked secret may sit in one
        return [
            line
            for i, (o, n) in enumerate(zip(old, new, strict=True))
            for line in diff(o, n, f"{path}[{i}]", show)
        ]
    if old == new or (_masked(old) and isinstance(new, str)):
        return []
    return [f"~ {path}: {show(old)} -> {show(new)}"]


def _same_length_lists_of_containers(old: Any, new: Any) -> bool:
    """Lists of objects are compared item by item; lists of plain values read better whole."""
    if not (isinstance(old, list) and isinstance(new, list) and len(old) == len(new)):
        return False
    return any(isinstance(item, dict | list) for item in old + new)


def _masked(value: Any) -> bool:
    return isinstance(value, str) and len(value) >= 4 and set(value) == {"*"}


def _unique_by_name(items: list[Any], kind: str) -> dict[str, Any]:
    """Resources by name; two with one name cannot be matched to the file, so that is an error."""
    found: dict[str, Any] = {}
    for item in items:
        name = item["name"] if isinstance(item, dict) else item.name
        if name in found:
            raise AirbyteError(f"the workspace has several {kind}s named {name!r}: rename all but one")
        found[name] = item
    return found


def _reference(ids: dict[str, str], steps: list[Step], kind: str, name: str, connection: str) -> str | None:
    """The id a connection's source/destination name points to; None for one this plan creates."""
    if name in ids:
        return ids[name]
    if any(step.kind == kind and step.name == name for step in steps):
        return None
    raise AirbyteError(f"connection {connection!r}: no {kind} named {name!r} in the file or the workspace")


def _definition_id(definitions: list[models.DefinitionResponse], kind: str, wanted: str) -> str:
    """A definition by id, else by name (so files can say "HubSpot (reverse ETL)")."""
    by_id = [d for d in definitions if d.id == wanted]
    by_name = [d for d in definitions if d.name == wanted]
    if by_id:
        return by_id[0].id
    if len(by_name) == 1:
        return by_name[0].id
    if by_name:
        raise AirbyteError(f"{len(by_name)} {kind} definitions are named {wanted!r}: use the definition id")
    raise AirbyteError(
        f"no {kind} definition named {wanted!r} in the workspace; run `retl airbyte register` first "
        "or use a definition id"
    )


def _sync_mode(value: str) -> models.ConnectionSyncModeEnum:
    from airbyte_api import models

    try:
        return models.ConnectionSyncModeEnum(value)
    except ValueError:
        known = ", ".join(m.value for m in models.ConnectionSyncModeEnum)
        raise AirbyteError(f"unknown syncMode {value!r}; one of: {known}") from None


def _text(value: Any) -> str:
    """An SDK enum's value (the SDK passes unknown values through as plain strings)."""
    return str(getattr(value, "value", value))
