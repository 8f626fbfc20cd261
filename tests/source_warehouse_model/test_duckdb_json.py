"""DuckDB writes each record as JSON itself, byte for byte as the record builder does in Python.

Value by value: each case reads one column of edge cases and random values both ways, the row path
(the Python values DuckDB returns, through ``record_builder`` and orjson) and the SQL path
(``duckdb_json.record_sql``); for the kinds a cursor or a key may have, the text ``text_sql`` gives
must decode to exactly the Python value. Stream by stream: the console script's read (records
written by DuckDB) and the CDK source's (dicts) send the same messages.
"""

from __future__ import annotations

import random
import struct
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow
import pytest

from retl_shared.protocol import record_message
from source_warehouse_model.backends.duckdb import DuckDBBackend
from source_warehouse_model.backends.duckdb_json import decoder, record_sql, text_sql
from source_warehouse_model.config import DuckDBWarehouse
from source_warehouse_model.connector import read_messages
from source_warehouse_model.records import _record_lines, select_list
from source_warehouse_model.state import encode_cursor
from source_warehouse_model.streams import CURSOR_KINDS, StreamDef
from source_warehouse_model.values import record_builder
from tests.source_warehouse_model.helpers import Harness, configured_stream, duckdb_config, make_db

RANDOM = random.Random(20240601)


def _random_binary_floats(count: int, fmt: str) -> list[float]:
    """Finite floats from random bit patterns (``fmt``: d for doubles, f for 32-bit floats)."""
    bits = struct.calcsize(fmt) * 8
    values: list[float] = []
    while len(values) < count:
        (value,) = struct.unpack(fmt, RANDOM.getrandbits(bits).to_bytes(bits // 8, "little"))
        if value == value and abs(value) != float("inf"):
            values.append(value)
    return values


def _random_decimals(width: int, scale: int, count: int) -> list[str | None]:
    texts: list[str | None] = ["0", "-0", None]
    for _ in range(count):
        digits = RANDOM.randint(1, width)
        unscaled = RANDOM.randrange(10 ** (digits - 1), 10**digits) * RANDOM.choice((1, -1))
        texts.append(f"{Decimal(unscaled).scaleb(-scale):f}")
    return texts


def _random_text(count: int) -> list[str | None]:
    alphabet = [chr(code) for code in range(128)] + list("é好😀\u2028\u2029\ufeff")
    texts: list[str | None] = [
        "",
        "plain",
        "\\u001F",
        "\\u001f",
        '\\"',
        "\\\\u000B",
        'a\vb\x1fc"d\\e/f',
        None,
    ]
    texts += ["".join(RANDOM.choices(alphabet, k=RANDOM.randint(1, 12))) for _ in range(count)]
    return texts


def _random_timestamps(count: int) -> list[str]:
    """Timestamps from year 1 to 9999, half of them on a whole second."""
    texts = []
    for _ in range(count):
        micros = RANDOM.randrange(-62135596800 * 10**6, 253402300800 * 10**6)
        texts += [f"make_timestamp({micros})", f"make_timestamp({micros - micros % 10**6})"]
    return texts


def _values(native: str, *expressions: str) -> str:
    rows = ", ".join(f"({index}, CAST({value} AS {native}))" for index, value in enumerate(expressions))
    return f"SELECT v FROM (VALUES {rows}, (-1, NULL)) AS t(i, v) ORDER BY i"


# Where DuckDB's Python conversion gives extreme datetimes (infinities) or text (beyond Python's years).
EDGES = ["'infinity'", "'-infinity'", "'0044-03-15 (BC)'", "'12345-01-01'", "'0001-01-01'", "'0005-06-07'"]
HUGE = (
    "-170141183460469231731687303715884105728, 170141183460469231731687303715884105727, 18446744073709551616"
)
TIMES = ["'24:00:00'", "'00:00:00'", "'10:00:00.5'", "'23:59:59.999999'", "'01:02:03.052733'"]
ZONED = ["'2024-01-01 10:00:00.5+05:30'", "'0001-01-01 00:00:00+00'", "'9999-12-31 23:59:59.999999+00'"]
DOUBLES = [0.0, -0.0, 1e16, 1e15, 1e-5, 1e-4, 9.999999999999999e-05, 2.5e-5, 1e-7, 5e-324, sys.float_info.max]

# Each case: a query giving column v, and the list its ? stands for (if any).
CASES: dict[str, tuple[str, list[Any] | None]] = {
    "double": (
        "SELECT unnest(?::DOUBLE[]) AS v",
        [*DOUBLES, float("nan"), float("inf"), float("-inf"), None]
        + _random_binary_floats(3000, "<d")
        + [RANDOM.uniform(-1e6, 1e6) for _ in range(1000)]
        + [RANDOM.uniform(-1e-3, 1e-3) for _ in range(500)],
    ),
    "float": (
        "SELECT unnest(?::FLOAT[]) AS v",
        [0.1, 1e16, 3.4e38, 1e-7, float("nan"), None, *_random_binary_floats(2000, "<f")],
    ),
    "boolean": ("SELECT unnest([true, false, NULL]) AS v", None),
    "bigint": (
        "SELECT unnest([0, -1, -9223372036854775808, 9223372036854775807, NULL]::BIGINT[]) AS v",
        None,
    ),
    "ubigint": ("SELECT unnest([0, 18446744073709551615, NULL]::UBIGINT[]) AS v", None),
    "hugeint": (f"SELECT unnest([0, {HUGE}, NULL]::HUGEINT[]) AS v", None),
    "uhugeint": ("SELECT unnest(['340282366920938463463374607431768211455', NULL]::UHUGEINT[]) AS v", None),
    "varchar": ("SELECT unnest(?::VARCHAR[]) AS v", _random_text(2000)),
    "blob": (
        "SELECT unnest(?::BLOB[]) AS v",
        [RANDOM.randbytes(RANDOM.randint(0, 9)) for _ in range(200)] + [None],
    ),
    "date": (
        _values(
            "DATE",
            *EDGES,
            "'0001-01-01 (BC)'",
            *(f"DATE '2000-01-01' + {RANDOM.randint(-700000, 2900000)}" for _ in range(300)),
        ),
        None,
    ),
    "time": (
        _values(
            "TIME",
            *TIMES,
            *(
                f"TIME '00:00:00' + INTERVAL {RANDOM.randrange(86400 * 10**6)} MICROSECONDS"
                for _ in range(300)
            ),
        ),
        None,
    ),
    "timestamp": (
        _values("TIMESTAMP", *EDGES, "'9999-12-31 23:59:59.999999'", *_random_timestamps(300)),
        None,
    ),
    "timestamp_s": (_values("TIMESTAMP_S", *EDGES, *_random_timestamps(100)), None),
    "timestamp_ms": (_values("TIMESTAMP_MS", *EDGES, *_random_timestamps(100)), None),
    "timestamp_ns": (
        _values("TIMESTAMP_NS", "'infinity'", "'2024-01-01 10:00:00.123456789'", "'1970-01-01'"),
        None,
    ),
    "timestamptz": (_values("TIMESTAMPTZ", *EDGES, *ZONED, *_random_timestamps(300)), None),
    "timetz": ("SELECT unnest(['10:00:00+02'::TIMETZ, '23:59:59.5-11:30'::TIMETZ, NULL]) AS v", None),
    "uuid": (
        "SELECT unnest(['00000000-0000-0000-0000-000000000000'::UUID, gen_random_uuid(), NULL]) AS v",
        None,
    ),
    "interval": ("SELECT unnest([INTERVAL 3 DAY, INTERVAL '1 year 2 months 3.5 seconds', NULL]) AS v", None),
    "enum": ("""SELECT unnest(['a"b'::ENUM('a"b', 'c'), NULL]) AS v""", None),
    "bit": ("SELECT unnest(['101'::BIT, NULL]) AS v", None),
    "union": ("SELECT unnest([union_value(n := 1)::UNION(n INTEGER, s VARCHAR), NULL]) AS v", None),
} | {
    f"decimal({width},{scale})": (
        f"SELECT unnest(?::VARCHAR[])::DECIMAL({width}, {scale}) AS v",
        _random_decimals(width, scale, 500),
    )
    for width, scale in [(4, 1), (7, 7), (9, 9), (12, 2), (18, 0), (18, 8), (38, 0), (38, 9), (38, 37)]
}


@pytest.fixture(scope="module")
def backend() -> Iterator[DuckDBBackend]:
    with DuckDBBackend(DuckDBWarehouse(type="duckdb", path=":memory:")) as opened:
        yield opened


def _rows(backend: DuckDBBackend, query: str) -> list[tuple[Any, ...]]:
    return [row for batch in backend.batches(query, [], 10_000) for row in batch]


@pytest.mark.parametrize(("query", "values"), CASES.values(), ids=CASES.keys())
def test_duckdb_writes_each_value_as_the_record_builder_does(
    backend: DuckDBBackend, query: str, values: list[Any] | None
) -> None:
    backend.execute(f"CREATE OR REPLACE TABLE t AS {query}", [] if values is None else [values])
    (column,) = backend.describe("SELECT * FROM t")
    build = record_builder([column])
    rows = _rows(backend, f"SELECT {select_list(backend, [column])} FROM t")
    assert len(rows) >= 2

    source = backend.output_sql(column, backend.quote(column.name))
    data = record_sql([column], [source])
    assert data is not None
    written = _rows(backend, f"SELECT {data}, {text_sql(column, source)} FROM t")

    assert [json for json, _ in written] == [orjson.dumps(build(row)).decode() for row in rows]
    if column.kind not in CURSOR_KINDS:
        return
    decode = decoder(column)
    for (value,), (_, text) in zip(rows, written, strict=True):
        decoded = None if text is None else decode(text)
        assert encode_cursor(decoded) == encode_cursor(value) if value is not None else decoded is None
        assert decoded == value or value != value  # NaN is the only value unequal to itself


@pytest.mark.parametrize(
    "native", ["JSON", "STRUCT(a INTEGER)", "INTEGER[]", "INTEGER[2]", "MAP(VARCHAR, INTEGER)"]
)
def test_nested_kinds_are_left_to_python(backend: DuckDBBackend, native: str) -> None:
    (column,) = backend.describe(f"SELECT CAST(NULL AS {native}) AS v")
    assert record_sql([column], ['"v"']) is None


# A model of every kind DuckDB writes, with a row of NULLs and cursors on which rows tie.
MODEL = """
CREATE TABLE events AS SELECT
    range AS id, range // 3 AS day_number, 'e' || range || chr(10) || '"' AS label,
    range / 7 AS ratio, (range * 1.25)::DECIMAL(38, 9) AS amount, range % 2 = 0 AS flag,
    TIMESTAMP '2024-01-01' + to_microseconds(range * 1234567) AS at,
    (TIMESTAMP '2024-01-01' + to_microseconds(range * 1234567))::TIMESTAMPTZ AS at_tz,
    (TIMESTAMP '2024-01-01' + to_microseconds(range * 1234567))::TIMESTAMP_NS AS at_ns,
    DATE '2024-01-01' + CAST(range // 5 AS INTEGER) AS day,
    TIME '00:00:00' + to_microseconds(range * 7654321) AS t,
    ('1' || range)::BLOB AS bytes, gen_random_uuid() AS uid
FROM range(57)
"""
NULL_ROW = "INSERT INTO events (id, day_number) VALUES (1000, 1000)"
CURSORS = ["id", "day_number", "label", "ratio", "amount", "at", "at_tz", "at_ns", "day", "t"]


def _messages(config: dict[str, Any], streams: list[dict[str, Any]], state: Any, lines: bool) -> list[bytes]:
    """Every message of a read, with emitted_at zeroed: the console script's lines or the CDK's dicts."""
    written = b"".join(
        orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE)
        for batch in read_messages(config, {"streams": streams}, state, record_lines=lines)
        for message in batch
    )
    return [
        orjson.dumps(_without_emitted_at(orjson.loads(line)))
        for line in written.splitlines()
        if not line.startswith(b'{"type":"LOG"')
    ]


def _without_emitted_at(message: Any) -> Any:
    if isinstance(message, dict):
        return {
            key: 0 if key == "emitted_at" else _without_emitted_at(value) for key, value in message.items()
        }
    return message


@pytest.mark.parametrize("cursor", CURSORS)
def test_the_console_script_sends_what_the_cdk_source_sends(
    connector: Harness, tmp_path: Path, cursor: str
) -> None:
    """Two syncs, every fifth record checkpointed, the second re-reading an hour back where the cursor
    is a date or time: records and states alike, whichever way written."""
    database = make_db(tmp_path / "w.duckdb", MODEL, NULL_ROW)
    config = duckdb_config(database, schemas=["main"], checkpoint_every_records=5, lookback_window="PT1H")
    stream = connector.discover(config)["events"]
    streams = [configured_stream(stream, cursor=cursor, key=["id"])]
    first = _messages(config, streams, None, lines=True)
    assert first == _messages(config, streams, None, lines=False)
    assert sum(line.startswith(b'{"type":"RECORD"') for line in first) == 57 + (
        cursor in ("id", "day_number")
    )
    assert sum(line.startswith(b'{"type":"STATE"') for line in first) > 10
    state = [orjson.loads(line)["state"] for line in first if line.startswith(b'{"type":"STATE"')][-1:]
    assert _messages(config, streams, state, lines=True) == _messages(config, streams, state, lines=False)


def test_the_console_script_sends_a_diff_as_the_cdk_source_does(connector: Harness, tmp_path: Path) -> None:
    model = {"name": "events", "relation": "events", "primary_key": ["uid", "id"], "change_detection": "diff"}
    config = duckdb_config(make_db(tmp_path / "w.duckdb", MODEL), models=[model], checkpoint_every_records=4)
    streams = [configured_stream(connector.discover(config)["events"])]
    # The first sync snapshots the model; the second, from the same state, diffs against the same baseline.
    lines = _messages(config, streams, None, lines=True)
    assert sum(line.startswith(b'{"type":"RECORD"') for line in lines) == 57
    dicts = _messages(config, streams, None, lines=False)
    assert [line for line in lines if b'"STATE"' not in line] == [
        line for line in dicts if b'"STATE"' not in line
    ]
    checkpoints = [
        orjson.loads(line)["state"]["stream"]["stream_state"] for line in lines if b'"STATE"' in line
    ]
    assert [c.get("resume_after") for c in checkpoints] == [
        c.get("resume_after")
        for c in (
            orjson.loads(line)["state"]["stream"]["stream_state"] for line in dicts if b'"STATE"' in line
        )
    ]
    assert len(checkpoints) == 57 // 4 + 1


@pytest.mark.parametrize("layout", [pyarrow.string(), pyarrow.large_string(), pyarrow.string_view()])
def test_record_lines_from_any_arrow_text_layout(layout: pyarrow.DataType) -> None:
    """DuckDB hands text as Arrow strings today; large or view layouts (other settings, later releases)
    and slices (chunks cut at a checkpoint) give the same lines."""
    data = pyarrow.array(['{"a":0}\n', '{"a":1}\n', '{"a":"x\\ny"}\n', '{"a":3}\n'], type=layout)[1:3]
    stream = StreamDef("s", "main", "SELECT 1")
    lines = orjson.dumps(_record_lines(stream, data), option=orjson.OPT_APPEND_NEWLINE).splitlines()
    expected = [record_message("s", {"a": 1}, "main"), record_message("s", {"a": "x\ny"}, "main")]
    assert [_without_emitted_at(orjson.loads(line)) for line in lines] == [
        _without_emitted_at(message) for message in expected
    ]
