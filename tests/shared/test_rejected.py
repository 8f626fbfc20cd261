"""The rejected-records store on a local directory, and the write loop's use of it: layout, masking, parts,
flushing before each state, and a store that fails mid-run."""

from __future__ import annotations

import base64
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from retl_shared.config import LocalRejectedStore
from retl_shared.errors import ConfigError
from retl_shared.redaction import Redactor, forms
from retl_shared.rejected import LocalStore, RejectedStore, segment
from retl_shared.writer import StreamKey
from tests.shared.rejections import JudgingSink, StateHook, loop, record, state, windows

SECRET = "sk_live_planted_5f4e3d2c1b"
SYNC = "run-test"


def stored(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Every part file under the directory (relative path → its lines), parts not yet renamed left out."""
    return {
        str(path.relative_to(directory)): [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted(directory.rglob("*.jsonl"))
    }


def store_at(directory: Path, redactor: Redactor | None = None, **limits: int) -> LocalStore:
    return LocalStore(LocalRejectedStore(path=str(directory)), SYNC, redactor or Redactor(), **limits)


# --- the write loop keeps every rejection -------------------------------------------------------------


def test_a_runs_rejections_land_by_sync_namespace_and_stream_masked_and_named_by_primary_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    redactor = Redactor([SECRET])  # as the config's secret fields register it
    store = store_at(tmp_path, redactor)
    odd = JudgingSink("s", lambda data: data["id"] % 2 == 1)
    every = JudgingSink("deals", lambda data: True)
    b64 = base64.b64encode(SECRET.encode()).decode()
    lines = [
        *(record("s", {"id": i, "row": 100 + i, "email": f"u{i}@x.com"}) for i in range(5)),
        record("s", {"id": 3, "row": 103, "note": f"token {SECRET}", "basic": b64, SECRET: 1}),
        record("s", {"row": 999, "email": "nokey@x.com"}),  # no match key: rejected before sending
        record("deals", {"id": 1, "row": 7}, namespace="crm"),
        state("s", 0),
        state("deals", 0, namespace="crm"),
    ]
    with caplog.at_level(logging.INFO):
        loop(StateHook(redactor), store, {(None, "s"): odd, ("crm", "deals"): every}).run(lines)

    files = stored(tmp_path)
    assert sorted(files) == [f"{SYNC}/_default/s/part-0001.jsonl", f"{SYNC}/crm/deals/part-0001.jsonl"]
    by_row = {line["primary_key"]["row"]: line for line in files[f"{SYNC}/_default/s/part-0001.jsonl"]}
    # the two versions of id 3 merged into one record, rejected once and kept as its later version was read
    assert sorted(by_row) == [101, 103, 999]
    assert by_row[101] == {
        "stream": "s",
        "namespace": None,
        "match_key": {"id": 1},
        "primary_key": {"row": 101},
        "field": "email",
        "reason": 'HTTP 422: refused {"id": 1, "row": 101, "email": "u1@x.com"}',
        "record": {"id": 1, "row": 101, "email": "u1@x.com"},
    }
    assert by_row[999]["match_key"] is None and by_row[999]["field"] == "id"
    assert by_row[999]["record"] == {"row": 999, "email": "nokey@x.com"}
    assert by_row[103]["record"] == {"id": 3, "row": 103, "note": "token ****", "basic": "****", "****": 1}
    [deal] = files[f"{SYNC}/crm/deals/part-0001.jsonl"]
    assert (deal["stream"], deal["namespace"], deal["match_key"]) == ("deals", "crm", {"id": 1})

    written = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    assert not [form for form in forms(SECRET) if form.encode() in written]
    assert written.count(b"****") >= 4  # in the data, its key, its base64 form and the API's echo

    logged = [r.getMessage() for r in caplog.records]
    assert (
        "rejected s record (no match key) (primary key row=999) field 'id': no value for match key id"
        in logged
    )
    assert any(m.startswith("rejected s record id=1 (primary key row=101) field 'email'") for m in logged)
    assert f"rejected records: 3 of stream 's' stored in {tmp_path}/{SYNC}/_default/s/ (1 file)" in logged
    assert (
        f"rejected records: 1 of stream 'crm.deals' stored in {tmp_path}/{SYNC}/crm/deals/ (1 file)" in logged
    )


def test_each_state_leaves_only_once_the_rejections_before_it_are_stored(tmp_path: Path) -> None:
    """States of a stream leave once 100 of its records were read: six windows of 100 records, every
    third one rejected, delivered by four workers in any order."""
    redactor = Redactor()
    stored_at_state: list[set[int]] = []

    def snapshot(_: dict[str, Any]) -> None:
        stored_at_state.append(
            {line["record"]["id"] for lines in stored(tmp_path).values() for line in lines}
        )

    lines = windows(6)
    rejected_before = [{i for i in range(100 * (n + 1)) if i % 3 == 0} for n in range(6)]
    output = StateHook(redactor, snapshot)
    sink = JudgingSink("s", lambda data: data["id"] % 3 == 0, max_records=7)
    loop(output, store_at(tmp_path, redactor), {(None, "s"): sink}, max_concurrency=4).run(lines)

    assert len(output.states) == 6
    for n, (before, kept) in enumerate(zip(rejected_before, stored_at_state, strict=True)):
        assert before <= kept, f"state {n} left before {sorted(before - kept)[:5]} were stored"
    assert [s["destinationStats"]["rejectedRecordCount"] for s in output.states] == [34, 33, 33, 34, 33, 33]
    parts = sorted(stored(tmp_path))
    assert parts[0] == f"{SYNC}/_default/s/part-0001.jsonl" and len(parts) <= 7  # one per flush at most


@pytest.mark.parametrize("part_records", [1, 10_000], ids=["written-when-rejected", "written-at-the-state"])
def test_a_store_failing_mid_run_withholds_the_state_and_fails_the_sync(
    tmp_path: Path, part_records: int
) -> None:
    """After the first state left, the sync's folder is replaced by a file: the next rejections cannot be
    stored, so no later state may confirm them."""
    redactor = Redactor()
    sync_folder = tmp_path / SYNC

    def break_the_store(message: dict[str, Any]) -> None:
        if message["stream"]["stream_state"]["n"] == 0:
            shutil.rmtree(sync_folder)
            sync_folder.write_text("in the way")

    lines = windows(3)
    output = StateHook(redactor, break_the_store)
    sink = JudgingSink("s", lambda data: data["id"] % 10 == 0, max_records=10)
    store = store_at(tmp_path, redactor, part_records=part_records)

    cannot = rf"rejected_records: cannot write {tmp_path}/{SYNC}/_default/s/part-\d+.jsonl: Not a directory"
    with pytest.raises(ConfigError, match=cannot):
        loop(output, store, {(None, "s"): sink}, max_concurrency=1).run(lines)
    assert [s["stream"]["stream_state"]["n"] for s in output.states] == [0]
    assert sync_folder.read_text() == "in the way"


def test_rejections_in_a_dry_run_are_stored_though_nothing_is_sent(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    sink = JudgingSink("s", lambda data: True)
    loop(StateHook(Redactor()), store, {(None, "s"): sink}, dry_run=True).run(
        [record("s", {"row": 1}), record("s", {"id": 2, "row": 2}), state("s", 0)]
    )
    [[line]] = stored(tmp_path).values()
    assert (
        line["primary_key"] == {"row": 1} and line["field"] == "id"
    )  # a mapping rejection: the sink is not asked


# --- the store ---------------------------------------------------------------------------------------------


def rejection(store: RejectedStore, stream: StreamKey, i: int, reason: str = "refused") -> None:
    store.add(
        stream, match_key={"id": i}, primary_key={"row": i}, field=None, reason=reason, record={"id": i}
    )


def test_parts_roll_over_by_records_and_bytes_and_every_flush_ends_a_part(tmp_path: Path) -> None:
    store = store_at(tmp_path, part_records=3, part_bytes=10_000)
    for i in range(7):
        rejection(store, (None, "s"), i)
    assert sorted(stored(tmp_path)) == [
        f"{SYNC}/_default/s/part-0001.jsonl",
        f"{SYNC}/_default/s/part-0002.jsonl",
    ]
    store.flush()
    store.flush()  # nothing buffered: no empty part
    rejection(store, (None, "s"), 7)
    store.flush()
    files = stored(tmp_path)
    assert [
        [line["record"]["id"] for line in files[f"{SYNC}/_default/s/part-{n:04d}.jsonl"]]
        for n in (1, 2, 3, 4)
    ] == [
        [0, 1, 2],
        [3, 4, 5],
        [6],
        [7],
    ]
    assert store.stored[(None, "s")] == 8 and store.parts[(None, "s")] == 4

    by_bytes = store_at(tmp_path / "bytes", part_bytes=300)
    for i in range(6):
        rejection(by_bytes, (None, "s"), i, reason="x" * 100)
    assert [len(lines) for lines in stored(tmp_path / "bytes").values()] == [2, 2, 2]  # ~150 bytes a line


def test_nothing_is_written_before_a_part_is_full_or_flushed(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    rejection(store, (None, "s"), 1)
    assert stored(tmp_path) == {}
    store.flush()
    assert list(stored(tmp_path)) == [f"{SYNC}/_default/s/part-0001.jsonl"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_stream_and_namespace_names_stay_inside_the_syncs_folder(tmp_path: Path) -> None:
    assert segment("..") == "%2E%2E" and segment("a/b") == "a%2Fb" and segment("users") == "users"
    store = store_at(tmp_path / "root")
    rejection(store, ("..", "../../escape"), 1)
    store.flush()
    [path] = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert path.relative_to(tmp_path / "root" / SYNC) == Path("%2E%2E/..%2F..%2Fescape/part-0001.jsonl")


def test_a_failed_store_stays_failed(tmp_path: Path) -> None:
    (tmp_path / SYNC).write_text("in the way")
    store = store_at(tmp_path)
    rejection(store, (None, "s"), 1)
    with pytest.raises(ConfigError) as first:
        store.flush()
    with pytest.raises(ConfigError) as again:
        rejection(store, (None, "s"), 2)
    assert again.value is first.value
    assert store.stored == {}


def test_the_probe_names_a_directory_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(
        ConfigError, match=r"rejected_records: cannot write to the directory .*/file/rejected"
    ):
        store_at(tmp_path / "file" / "rejected").probe()
    fine = store_at(tmp_path / "new" / "rejected")
    assert fine.probe() is None
    assert [p.name for p in (tmp_path / "new" / "rejected").iterdir()] == []  # the probe file is gone


def test_every_rejection_is_stored_exactly_once_across_parts_flushes_and_workers(tmp_path: Path) -> None:
    """The write loop calls the store under its own lock (the store has none): eight workers rejecting,
    parts rolling over and flushes at every state lose and double nothing."""
    redactor = Redactor()
    lines = windows(4)
    sink = JudgingSink("s", lambda data: data["id"] % 2 == 0, max_records=5)
    store = store_at(tmp_path, redactor, part_records=17)
    loop(StateHook(redactor), store, {(None, "s"): sink}, max_concurrency=8).run(lines)
    ids = [line["record"]["id"] for lines_ in stored(tmp_path).values() for line in lines_]
    assert sorted(ids) == list(range(0, 400, 2))
