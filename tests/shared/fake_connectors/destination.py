"""A fake Airbyte destination for the runner tests; its config file says how to misbehave.

Config: output (file receiving each record line), stats (add destinationStats), reject_ids,
fail_after (records, then a TRACE error and exit 1), drop_states and hold_states (1-based state
numbers not echoed, or echoed after the next state), stray_output, summary (an ANALYTICS
retl_write_summary trace to emit at the end, as the suite's destinations do).
"""

import argparse
import json
import sys
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("command")
parser.add_argument("--config")
parser.add_argument("--catalog")
args = parser.parse_args()
config = json.loads(Path(args.config).read_text())
output = Path(config["output"]).open("a")  # noqa: SIM115 - open for the whole run
counts = {}  # per stream since its previous state: [records, rejected]
states = 0
held = None


def emit(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


emit({"type": "LOG", "log": {"level": "INFO", "message": "destination info"}})
if config.get("stray_output"):
    print("stray destination output")
received = 0
for line in sys.stdin:
    message = json.loads(line)
    if message["type"] == "RECORD":
        output.write(line)
        record = message["record"]
        stream = counts.setdefault(record["stream"], [0, 0])
        stream[0] += 1
        stream[1] += record["data"]["id"] in config.get("reject_ids", [])
        received += 1
        if received == config.get("fail_after"):
            error = {"message": "invalid API key", "failure_type": "config_error"}
            emit({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 0, "error": error}})
            sys.exit(1)
    elif message["type"] == "STATE":
        output.flush()
        states += 1
        name = message["state"]["stream"]["stream_descriptor"]["name"]
        records, rejected = counts.pop(name, [0, 0])
        if config.get("stats"):
            message["state"]["destinationStats"] = {"recordCount": records, "rejectedRecordCount": rejected}
        if states in config.get("drop_states", []):
            continue
        if states in config.get("hold_states", []):
            held = message
            continue
        emit(message)
        if held:
            emit(held)
            held = None
    else:
        sys.exit(f"unexpected {message['type']} message")
if config.get("summary"):
    analytics = {"type": "retl_write_summary", "value": json.dumps(config["summary"])}
    emit({"type": "TRACE", "trace": {"type": "ANALYTICS", "emitted_at": 0, "analytics": analytics}})
