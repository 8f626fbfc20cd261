"""The base every destination subclasses: spec, check, discover and write over the Airbyte protocol.

The CDK's ``Destination`` parses only spec/check/write and has no DESTINATION_CATALOG message
(protocol 0.16), so the command line is ours, and the CDK is not imported at all: it would cost every
process (spec, check, write) seconds of start-up.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any, ClassVar, Generic, TypeVar

import orjson

from retl_shared.catalog import ConfiguredStream, parse_configured_catalog
from retl_shared.config import CHANGE_COLUMNS, DestinationConfig, OnDelete, StreamMapping
from retl_shared.deadline import quick_answers
from retl_shared.errors import ConfigError, SyncError
from retl_shared.mapping import Mapper, mapping_problems, resolve_columns
from retl_shared.protocol import Output
from retl_shared.redaction import Redactor, secret_values
from retl_shared.rejected import open_store
from retl_shared.sink import ObjectSpec, Sink, Target
from retl_shared.spec import parse_config, spec_schema
from retl_shared.sync import sync_identity
from retl_shared.writer import Route, StreamKey, WriteLoop

C = TypeVar("C", bound=DestinationConfig)
log = logging.getLogger("retl.destination")

SYNC_MODES = ["append", "append_dedup", "update", "soft_delete"]

log = logging.getLogger("retl.destination")


class ActivationDestination(ABC, Generic[C]):
    """Subclasses declare their config model, their objects, and how to build a sink."""

    name: ClassVar[str]
    config_model: type[C]
    documentation_url: ClassVar[str] = "https://github.com/retl-suite/retl-suite"
    # The object a stream without a mapping entry (or an entry without `object`) is written to: only
    # for a destination that has exactly one; elsewhere such a stream is a config error.
    single_object: ClassVar[str | None] = None

    def __init__(self, stdout: IO[bytes] | None = None) -> None:
        self.redactor = Redactor()
        self.output = Output(stdout, self.redactor)
        # One per run: the webhook's message ids and the rejected-records folder of this sync hold it.
        self.sync = sync_identity()

    # --- what a destination implements -------------------------------------------------------------

    @abstractmethod
    def check_connection(self, config: C) -> list[str]:
        """Prove the credentials and the API; raise ConfigError with what to fix. Return notes for the user
        about what could not be proven here (it is verified at the first write)."""

    @abstractmethod
    def objects(self, config: C, names: set[str] | None = None) -> list[ObjectSpec]:
        """The objects the API offers (only ``names`` when given), read from the live API."""

    @abstractmethod
    def create_sink(self, config: C, target: Target) -> Sink:
        """A sink writing one stream to its target; raise ConfigError naming what to fix if it can't."""

    def object_names(self, config: C) -> list[str]:
        """Every object the destination offers, for messages about an unknown one; override when
        ``objects`` is costly and the names alone are cheap."""
        return [spec.name for spec in self.objects(config)]

    # --- commands ---------------------------------------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        return {
            "documentationUrl": self.documentation_url,
            "connectionSpecification": spec_schema(self.config_model),
            "supportsIncremental": True,
            "supported_destination_sync_modes": SYNC_MODES,
        }

    def load_config(self, raw: dict[str, Any]) -> C:
        self.redactor.add(*secret_values(raw, spec_schema(self.config_model)))
        return parse_config(self.config_model, raw)

    def check(self, config: C) -> list[str]:
        """Credentials, then every stream mapping as far as it can be checked without a catalog.

        Returns notes for the user that do not fail the check (e.g. what only the first write can
        prove); they follow the success message."""
        notes = self.check_connection(config)
        store = open_store(config.rejected_records, self.sync, self.redactor)
        if store is not None:
            note = store.probe()
            notes += [note] if note else []
        objects = self._objects_for(config, config.streams)
        problems = []
        for mapping in config.streams:
            try:
                object_spec = self._object_for(config, mapping, objects)
                operation = self._operation_for(mapping, object_spec, "")
                match_key: list[str] = mapping.match_key or next(iter(object_spec.keys_for(operation)), [])
                Mapper(mapping, object_spec.field_types, match_key)  # compiles the templates
                target = Target(object_spec, operation, mapping, match_key)
                _check_on_delete(target, self.create_sink(config, target))
            except ConfigError as exc:
                problems.append(exc.message)
        if problems:
            raise ConfigError("The stream mapping is not valid: " + "; ".join(problems))
        return notes

    def _objects_for(self, config: C, mappings: Iterable[StreamMapping]) -> dict[str, ObjectSpec]:
        """The objects the mappings name (read once: for some APIs each costs requests)."""
        names = {m.object for m in mappings if m.object} | (
            {self.single_object} if self.single_object else set()
        )
        return {o.name: o for o in self.objects(config, names)} if names else {}

    def discover(self, config: C) -> dict[str, Any]:
        operations = [
            {
                "object_name": spec.name,
                "sync_mode": mode,
                "json_schema": spec.json_schema(),
                "matching_keys": spec.keys_for(operation),
            }
            for spec in self.objects(config)
            for operation, mode in spec.operations.items()
        ]
        return {"type": "DESTINATION_CATALOG", "destination_catalog": {"operations": operations}}

    def write(self, config: C, catalog: Sequence[ConfiguredStream], lines: Iterable[bytes]) -> None:
        routes = self.build_routes(config, catalog)
        store = open_store(config.rejected_records, self.sync, self.redactor)
        if store is not None:
            note = store.probe()  # before anything is sent: a rejection it cannot keep fails the sync
            if note:
                log.warning(note)
            log.info("rejected records go to %s", store.location)
        WriteLoop(
            routes,
            self.output,
            max_concurrency=config.max_concurrency,
            dry_run=config.dry_run,
            max_rejected_ratio=config.max_rejected_ratio,
            rejected_store=store,
        ).run(lines)

    # --- routing ----------------------------------------------------------------------------------------

    def build_routes(self, config: C, catalog: Sequence[ConfiguredStream]) -> dict[StreamKey, Route]:
        """One route per configured stream; every mapping problem at once, as one config error.

        Everything that would fail every record is found here, before anything is sent: a stream
        without a mapping in a destination with several objects, `fields` naming columns the stream
        lacks, a match key the mapping never produces, a template that does not compile.
        """
        mappings = [(cs, config.mapping_for(cs.name, cs.namespace)) for cs in catalog]
        objects = self._objects_for(config, (m for _, m in mappings if m is not None))
        routes: dict[StreamKey, Route] = {}
        problems: list[str] = []
        for configured, entry in mappings:
            try:
                if entry is None and self.single_object is None:
                    raise ConfigError(
                        f"stream {configured.name!r} is in the catalog but has no entry in `streams`: "
                        "add one naming its object, or leave the stream out of the connection"
                    )
                mapping = entry or StreamMapping(stream=configured.name)
                object_spec = self._object_for(config, mapping, objects)
                operation = self._operation_for(mapping, object_spec, configured.destination_sync_mode)
                columns = {c: schema for c, schema in configured.columns.items() if c not in CHANGE_COLUMNS}
                # Columns named in another case first: the default match key comes from the renames.
                named = resolve_columns(mapping, columns, [])
                match_key = self._match_key(named.mapping, object_spec, operation, configured)
                keyed = resolve_columns(named.mapping, columns, match_key)
                for note in named.notes + keyed.notes:
                    log.info(note)
                mapping = keyed.mapping
                problems += dict.fromkeys(named.problems + keyed.problems)  # both see an ambiguous name
                problems += mapping_problems(mapping, columns, match_key)
                mapper = Mapper(mapping, object_spec.field_types, match_key, catalog_columns=columns)
                keys = configured.primary_key or configured.source_defined_primary_key
                target = Target(
                    object_spec,
                    operation,
                    mapping,
                    match_key,
                    columns,
                    primary_key=[path[0] for path in keys if path],
                    cursor_field=configured.cursor_field[0] if configured.cursor_field else None,
                )
                sink = self.create_sink(config, target)
                if sink.requires_match_key and not match_key:
                    raise ConfigError(
                        f"stream {mapping.stream!r} needs a match_key for {object_spec.name}.{operation}"
                    )
                _check_on_delete(target, sink)
            except ConfigError as exc:
                problems.append(exc.message)
                continue
            key: StreamKey = configured.key
            routes[key] = Route(key, mapper, sink, config.batch_size)
        if problems:
            raise ConfigError("The stream mapping is not valid: " + "; ".join(problems))
        return routes

    def _object_for(self, config: C, mapping: StreamMapping, objects: dict[str, ObjectSpec]) -> ObjectSpec:
        name = mapping.object or self.single_object
        if name is None:
            raise ConfigError(
                f"stream {mapping.stream!r} has no destination object: set `object` in its mapping "
                f"(one of: {', '.join(sorted(self.object_names(config)))})"
            )
        if name not in objects:
            known = sorted(self.object_names(config))
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"stream {mapping.stream!r}: unknown object {name!r} ({hint}the objects are: "
                f"{', '.join(known)})"
            )
        return objects[name]

    @staticmethod
    def _operation_for(mapping: StreamMapping, object_spec: ObjectSpec, sync_mode: str) -> str:
        """The mapping's operation, else the sync mode's (in check: the object's first)."""
        operation = mapping.operation or object_spec.operation_for(sync_mode or "append_dedup")
        if operation not in object_spec.operations:
            wanted = operation or f"one for sync mode {sync_mode!r}"
            raise ConfigError(
                f"stream {mapping.stream!r}: {object_spec.name} has no operation {wanted} "
                f"(it has: {', '.join(object_spec.operations)})"
            )
        return operation

    @staticmethod
    def _match_key(
        mapping: StreamMapping, spec: ObjectSpec, operation: str, configured: ConfiguredStream
    ) -> list[str]:
        """The mapping's, else the operation's first matching key, else the stream's primary key renamed."""
        if mapping.match_key:
            return mapping.match_key
        if spec.keys_for(operation):
            return spec.keys_for(operation)[0]
        primary_key = configured.primary_key or configured.source_defined_primary_key
        return [mapping.fields.get(path[-1], path[-1]) for path in primary_key if path]

    # --- entry point --------------------------------------------------------------------------------------

    def run(self, argv: Sequence[str] | None = None, stdin: IO[bytes] | None = None) -> int:
        args = self._parser().parse_args(argv)
        _route_logging(self.output)
        if args.command == "check":
            return self._run_check(args.config)
        try:
            if args.command == "spec":
                self.output.write({"type": "SPEC", "spec": self.spec()})
                return 0
            config = self.load_config(_read_json(args.config, "config"))
            if args.command == "discover":
                self.output.write(self.discover(config))
                return 0
            catalog = parse_configured_catalog(
                _read_json(args.catalog, "catalog"), f"the configured catalog {args.catalog}"
            )
            self.write(config, catalog, stdin if stdin is not None else sys.stdin.buffer)
            return 0
        except SyncError as exc:
            self.output.error_trace(exc.message, exc.failure_type, exc.internal_message)
            return 1
        except Exception as exc:
            self.output.error_trace(
                f"{self.name} failed unexpectedly: {type(exc).__name__}: {exc}", "system_error", repr(exc)
            )
            return 1

    def _run_check(self, config_path: str) -> int:
        """Always a CONNECTION_STATUS (exit 0), whatever is wrong, saying what to fix; every request gives
        up after a few seconds instead of retrying for the write path's minutes."""
        try:
            with quick_answers():
                notes = self.check(self.load_config(_read_json(config_path, "config")))
        except SyncError as exc:
            status = {"status": "FAILED", "message": exc.message}
        except Exception as exc:  # a bug of ours: still an answer the platform can show
            message = f"check failed unexpectedly: {type(exc).__name__}: {exc}"
            status = {"status": "FAILED", "message": message}
        else:
            message = " ".join(["Connected; every stream mapping is valid.", *notes])
            status = {"status": "SUCCEEDED", "message": message}
        status["message"] = self.redactor.redact(status["message"])
        self.output.write({"type": "CONNECTION_STATUS", "connectionStatus": status})
        return 0

    def _parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog=self.name)
        commands = parser.add_subparsers(dest="command", required=True)
        commands.add_parser("spec", help="print the connector specification")
        for command, text in (
            ("check", "test the connection"),
            ("discover", "print the destination catalog"),
        ):
            commands.add_parser(command, help=text).add_argument("--config", required=True)
        write = commands.add_parser("write", help="write messages from stdin")
        write.add_argument("--config", required=True)
        write.add_argument("--catalog", required=True)
        return parser


def _check_on_delete(target: Target, sink: Sink) -> None:
    """`on_delete` must be something this destination's object can do, by a key a deleted row carries:
    a diff-mode source sends a deleted row with its primary key columns only."""
    choice = target.mapping.on_delete
    if choice is not OnDelete.ignore and target.primary_key and target.match_key:
        from_key = {target.mapping.fields.get(column, column) for column in target.primary_key}
        if not set(target.match_key) <= from_key:
            key, primary = ", ".join(target.match_key), ", ".join(target.primary_key)
            raise ConfigError(
                f"{target.label}: on_delete {choice.value!r} needs the match key ({key}) "
                f"to come from the stream's primary key ({primary}): a deleted row "
                "carries only its primary key. Make the model's primary key the column the match key comes "
                "from, or keep on_delete: ignore"
            )
    if choice in (OnDelete.ignore, OnDelete.clear) or choice in sink.removes:
        return
    possible = ", ".join(["ignore", *sorted(sink.removes), "clear"])
    raise ConfigError(
        f"{target.label}: on_delete {choice.value!r} is not possible here; use one of {possible}"
    )


def _read_json(path: str, what: str) -> Any:
    try:
        return orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise ConfigError(f"Cannot read the {what} file {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"The {what} file {path} is not valid JSON: {exc}") from None


class _ProtocolLogHandler(logging.Handler):
    """Python logging → Airbyte LOG messages on stdout, redacted like every other line."""

    LEVELS: ClassVar[dict[int, str]] = {
        logging.DEBUG: "DEBUG",
        logging.INFO: "INFO",
        logging.WARNING: "WARN",
        logging.ERROR: "ERROR",
        logging.CRITICAL: "FATAL",
    }

    def __init__(self, output: Output) -> None:
        super().__init__()
        self.output = output

    def emit(self, record: logging.LogRecord) -> None:
        self.output.log(record.getMessage(), self.LEVELS.get(record.levelno, "INFO"))


def _route_logging(output: Output) -> None:
    root = logging.getLogger()
    root.handlers = [_ProtocolLogHandler(output)]
    root.setLevel(logging.INFO)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
