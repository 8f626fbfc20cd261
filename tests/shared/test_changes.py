"""A diff-mode source's rows (`_retl_change`) through the kernel: `send`, `on_delete`, merging, columns."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from retl_shared.config import OnDelete, StreamMapping
from retl_shared.errors import ConfigError
from retl_shared.mapping import Mapper
from retl_shared.protocol import Output
from retl_shared.sink import ACCEPTED, BatchLimits, ObjectSpec, Outcome, Record, Sink, Target
from retl_shared.writer import Route, WriteLoop

OBJECT = ObjectSpec("people", {"upsert": "append_dedup"})


class Keeping(Sink):
    removes = frozenset({OnDelete.delete})

    def __init__(self, mapping: StreamMapping) -> None:
        super().__init__(Target(OBJECT, "upsert", mapping, ["id"]))
        self.limits = BatchLimits(max_records=10)
        self.sent: list[tuple[dict[str, Any], bool]] = []

    def send(self, batch: list[Record]) -> list[Outcome]:
        self.sent += [(r.data, r.deleted) for r in batch]
        return [ACCEPTED] * len(batch)


def row(i: int, change: str, **data: Any) -> bytes:
    record = {"id": i, **data, "_retl_change": change}
    if change == "deleted":
        record["_ab_cdc_deleted_at"] = "2026-12-01T00:00:00Z"
    return orjson.dumps({"type": "RECORD", "record": {"stream": "s", "data": record}})


def run(lines: list[bytes], **mapping: Any) -> tuple[Keeping, Route]:
    stream_mapping = StreamMapping(stream="s", **mapping)
    sink = Keeping(stream_mapping)
    route = Route((None, "s"), Mapper(stream_mapping, match_key=["id"]), sink)
    WriteLoop({(None, "s"): route}, Output(io.BytesIO()), sleep=lambda s: None).run(lines)
    return sink, route


def test_rows_keep_no_diff_columns_and_changes_not_in_send_are_skipped() -> None:
    sink, route = run(
        [row(1, "added", plan="pro"), row(2, "updated", plan="free"), row(3, "deleted")], send=["added"]
    )
    assert sink.sent == [({"id": 1, "plan": "pro"}, False)]
    assert (route.stats.read, route.stats.accepted, route.stats.skipped) == (3, 1, 2)
    assert dict(route.stats.skips) == {
        "updated rows are not in `send`": 1,
        "deleted rows are not in `send`": 1,
    }


@pytest.mark.parametrize(
    ("on_delete", "sent"),
    [
        ("ignore", []),
        ("clear", [({"id": 3, "plan": None, "seats": None}, False)]),  # nulls sent although nulls: skip
        ("delete", [({"id": 3}, True)]),
    ],
)
def test_a_deleted_row_is_ignored_cleared_or_deletes_its_entity(on_delete: str, sent: list[Any]) -> None:
    sink, route = run([row(3, "deleted", plan=None, seats=None)], on_delete=on_delete)
    assert sink.sent == sent
    assert route.stats.skipped == (1 if on_delete == "ignore" else 0)


def test_a_deletion_in_a_batch_replaces_the_earlier_version_and_a_later_write_replaces_it() -> None:
    sink, _ = run([row(1, "updated", plan="pro"), row(1, "deleted")], on_delete="delete")
    assert sink.sent == [({"id": 1}, True)]
    sink, _ = run([row(2, "deleted"), row(2, "added", plan="free")], on_delete="delete")
    assert sink.sent == [({"id": 2, "plan": "free"}, False)]


def test_an_on_delete_the_destination_cannot_do_is_a_config_error_at_write_start() -> None:
    from retl_shared.destination import _check_on_delete

    mapping = StreamMapping(stream="s", on_delete=OnDelete.archive)
    sink = Keeping(mapping)
    with pytest.raises(
        ConfigError, match="on_delete 'archive' is not possible here; use one of ignore, delete, clear"
    ):
        _check_on_delete(Target(OBJECT, "upsert", mapping, ["id"]), sink)
