"""A fake Airbyte source for the runner tests; its config file says what to emit.

Config: streams {name: record count}, state_every, fail_after (records, then a TRACE error and
exit 1), sleep_after (records, then sleep), stray (print a non-protocol line), argv_file,
estimates (an ESTIMATE trace per stream before its records).
"""

import argparse
import json
import sys
import time
from pathlib import Path


def emit(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")


def state(stream: str, cursor: int) -> dict:
    descriptor = {"name": stream}
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": descriptor, "stream_state": {"cursor": cursor}},
        },
    }


parser = argparse.ArgumentParser()
parser.add_argument("command")
parser.add_argument("--config")
parser.add_argument("--catalog")
parser.add_argument("--state")
args = parser.parse_args()
config = json.loads(Path(args.config).read_text())
if "argv_file" in config:
    Path(config["argv_file"]).write_text(json.dumps(sys.argv[1:]))
cursors = {}
if args.state:
    for saved in json.loads(Path(args.state).read_text()):
        cursors[saved["stream"]["stream_descriptor"]["name"]] = saved["stream"]["stream_state"]["cursor"]
emit({"type": "LOG", "log": {"level": "INFO", "message": f"starting from {cursors}"}})
emit({"type": "LOG", "log": {"level": "WARN", "message": "source warning"}})
if config.get("stray"):
    print("not a protocol message")
every = config.get("state_every", 10**9)
emitted = 0
for stream, total in config["streams"].items():
    start = cursors.get(stream, 0)
    if config.get("estimates"):
        estimate = {"name": stream, "type": "STREAM", "row_estimate": total - start}
        emit({"type": "TRACE", "trace": {"type": "ESTIMATE", "emitted_at": 0, "estimate": estimate}})
    if start >= total:
        emit(state(stream, total))
    for i in range(start, total):
        emit({"type": "RECORD", "record": {"stream": stream, "data": {"id": i}, "emitted_at": 0}})
        emitted += 1
        if emitted == config.get("fail_after"):
            error = {"message": "warehouse unreachable", "failure_type": "system_error"}
            emit({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 0, "error": error}})
            sys.exit(1)
        if emitted == config.get("sleep_after"):
            sys.stdout.flush()
            time.sleep(30)
        if (i + 1) % every == 0 or i + 1 == total:
            emit(state(stream, i + 1))
