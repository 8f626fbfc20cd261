"""The rejected-records store on S3, against moto's S3 server started in this process on 127.0.0.1 (a real
HTTP endpoint, reached through endpoint_url the way an S3-compatible store is)."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.authorization import enable_iam_authentication
from moto.server import ThreadedMotoServer
from mypy_boto3_s3 import S3Client

from destination_webhook.destination import DestinationWebhook
from retl_shared.config import S3RejectedStore
from retl_shared.deadline import quick_answers
from retl_shared.errors import ConfigError
from retl_shared.redaction import Redactor
from retl_shared.rejected import S3Store
from tests.fakes.webhook import WebhookReceiver
from tests.harness import configured_catalog, record_line, run_destination, state_line
from tests.shared.rejections import JudgingSink, StateHook, loop, windows

SYNC = "run-s3"
KEYS = {"access_key_id": "AKIATESTINGKEY0001", "secret_access_key": "testing-secret-0001"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def iam_keys(endpoint: str) -> dict[str, dict[str, str]]:
    """Keys of two IAM users: a writer (every S3 action) and a reader (GetObject only). moto checks
    signatures and policies only inside ``enable_iam_authentication()``."""
    iam = boto3.session.Session().client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="a",
    )
    keys = {}
    for role, action in (("writer", "s3:*"), ("reader", "s3:GetObject")):
        user = f"{role}-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=user)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}],
        }
        iam.put_user_policy(UserName=user, PolicyName=role, PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys[role] = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
    return keys


def admin(endpoint: str) -> S3Client:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="admin",
        aws_secret_access_key="admin",
    )


@pytest.fixture
def bucket(endpoint: str) -> str:
    """A new bucket for each test (moto's buckets live as long as the process)."""
    name = f"rejected-{uuid.uuid4().hex[:12]}"
    admin(endpoint).create_bucket(Bucket=name)
    return name


def objects(endpoint: str, bucket: str) -> dict[str, list[dict[str, Any]]]:
    client = admin(endpoint)
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        o["Key"]: [
            json.loads(line)
            for line in client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().splitlines()
        ]
        for o in listed
    }


def store(endpoint: str, bucket: str, **settings: Any) -> S3Store:
    config = {"bucket": bucket, "endpoint_url": endpoint, "region": "us-east-1", **KEYS, **settings}
    return S3Store(S3RejectedStore.model_validate(config), SYNC, Redactor())


def test_rejections_land_under_prefix_sync_namespace_and_stream_at_a_custom_endpoint(
    endpoint: str, bucket: str
) -> None:
    s3 = store(endpoint, bucket, prefix="/retl/rejected/")
    assert s3.probe() is None
    assert objects(endpoint, bucket) == {}  # the probe object was deleted
    sink = JudgingSink("s", lambda data: data["id"] % 50 == 0)
    output = StateHook(Redactor())
    loop(output, s3, {(None, "s"): sink}).run(windows(2))

    assert len(output.states) == 2
    stored = objects(endpoint, bucket)
    assert sorted(stored) == [
        f"retl/rejected/{SYNC}/_default/s/part-0001.jsonl",
        f"retl/rejected/{SYNC}/_default/s/part-0002.jsonl",
    ]  # one part per state that had rejections
    assert [line["record"] for lines in stored.values() for line in lines] == [
        {"id": i, "row": i} for i in (0, 50, 100, 150)
    ]
    assert stored[f"retl/rejected/{SYNC}/_default/s/part-0001.jsonl"][0]["primary_key"] == {"row": 0}
    assert s3.location == f"s3://{bucket}/retl/rejected/{SYNC}/"


def test_without_keys_the_default_credential_chain_is_used(
    endpoint: str, bucket: str, iam_keys: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = iam_keys["writer"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", writer["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", writer["secret_access_key"])
    settings = S3RejectedStore.model_validate({"bucket": bucket, "endpoint_url": endpoint})
    with enable_iam_authentication():
        assert S3Store(settings, SYNC, Redactor()).probe() is None
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN0000")
        with pytest.raises(ConfigError, match="refused the credentials"):
            S3Store(settings, SYNC, Redactor()).probe()


def test_a_missing_bucket_is_a_config_error_naming_it(endpoint: str) -> None:
    with pytest.raises(ConfigError, match=r"rejected_records: the bucket 'no-such-bucket' does not exist"):
        store(endpoint, "no-such-bucket").probe()


def test_a_bucket_deleted_mid_run_withholds_the_state_and_fails_the_sync(endpoint: str, bucket: str) -> None:
    def delete_the_bucket(state: dict[str, Any]) -> None:
        if state["stream"]["stream_state"]["n"] == 0:
            client = admin(endpoint)
            for key in objects(endpoint, bucket):
                client.delete_object(Bucket=bucket, Key=key)
            client.delete_bucket(Bucket=bucket)

    output = StateHook(Redactor(), delete_the_bucket)
    sink = JudgingSink("s", lambda data: data["id"] % 10 == 0, max_records=10)
    with pytest.raises(ConfigError, match=rf"the bucket '{bucket}' does not exist"):
        loop(output, store(endpoint, bucket), {(None, "s"): sink}, max_concurrency=1).run(windows(3))
    assert [s["stream"]["stream_state"]["n"] for s in output.states] == [0]


def test_refused_credentials_and_denied_access_are_config_errors_saying_what_to_grant(
    endpoint: str, bucket: str, iam_keys: dict[str, dict[str, str]]
) -> None:
    with enable_iam_authentication():
        with pytest.raises(
            ConfigError, match=r"access denied to write a probe object .*grant s3:PutObject"
        ) as denied:
            store(endpoint, bucket, prefix="p", **iam_keys["reader"]).probe()
        with pytest.raises(ConfigError, match=r"refused the credentials .*check access_key_id and secret"):
            store(endpoint, bucket).probe()  # keys IAM does not know
        assert store(endpoint, bucket, **iam_keys["writer"]).probe() is None
    assert f"arn:aws:s3:::{bucket}/p/*" in denied.value.message


def test_an_unreachable_endpoint_is_a_config_error_within_checks_budget() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with quick_answers(), pytest.raises(ConfigError, match=r"cannot reach the store .* Check endpoint_url"):
        store(f"http://127.0.0.1:{port}", "b").probe()


# --- through a destination ---------------------------------------------------------------------------------


def test_check_and_write_name_a_missing_bucket_and_send_nothing(
    endpoint: str, webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    config = {
        "url": f"{webhook_receiver.url}/hooks",
        "rejected_records": {
            "storage_type": "s3",
            "bucket": "absent-bucket",
            "endpoint_url": endpoint,
            **KEYS,
        },
    }
    check = run_destination(DestinationWebhook, tmp_path, "check", config)
    status = check.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "the bucket 'absent-bucket' does not exist" in status["message"]
    webhook_receiver.clear_requests()

    lines = [record_line("contacts", {"id": 1}), state_line("contacts", 1)]
    write = run_destination(
        DestinationWebhook, tmp_path, "write", config, configured_catalog("contacts"), lines
    )
    assert write.code == 1 and write.states == []
    assert write.error is not None and write.error["failure_type"] == "config_error"
    assert "the bucket 'absent-bucket' does not exist" in write.error["message"]
    assert webhook_receiver.requests == []  # proven before anything was sent
    assert KEYS["secret_access_key"].encode() not in check.raw + write.raw


def test_a_half_given_key_pair_or_a_path_as_bucket_is_refused_by_the_config(tmp_path: Path) -> None:
    base = {"url": "http://127.0.0.1:9/hooks"}
    half = {**base, "rejected_records": {"storage_type": "s3", "bucket": "b", "access_key_id": "AKIAONLY"}}
    path = {**base, "rejected_records": {"storage_type": "s3", "bucket": "s3://b/rejected"}}
    for config, said in [
        (half, "give both access_key_id and secret_access_key, or neither"),
        (path, "'s3://b/rejected' is not a bucket name"),
    ]:
        status = run_destination(DestinationWebhook, tmp_path, "check", config).of_type("CONNECTION_STATUS")[
            0
        ]
        assert said in status["connectionStatus"]["message"]
