"""Rejected records kept where a user can look at them: JSONL files in a local directory or an S3 bucket.

The layout follows Airbyte's activation destinations: ``{root}/{sync id}/{namespace}/{stream}/`` (the
namespace ``_default`` when a stream has none), holding ``part-0001.jsonl``, ``part-0002.jsonl``, … One
line per rejected record: stream, namespace, match key and primary key (names and values), field,
reason and the record's data as read. Every string of a line, keys included, passes the run's redactor
before the line is encoded: a secret a record or an API's answer carries is masked in every form the
redactor knows. Nothing is cut.

Lines are buffered per stream and written as a part when the part is full and at every ``flush``; the
write loop flushes before each STATE leaves and at the end, so a confirmed state never covers a
rejection that is not stored. A part is written whole (a file renamed into place, one PUT), so a reader
never sees half a line. A store that fails stays failed: every later call raises the same error.

boto3 is imported only when S3 is configured: every connector process would pay for it otherwise.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from retl_shared.config import LocalRejectedStore, RejectedRecords, S3RejectedStore
from retl_shared.deadline import BUDGET
from retl_shared.errors import ConfigError, SyncError, TransientError
from retl_shared.redaction import Redactor

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("retl.rejected")

StreamKey = tuple[str | None, str]
NO_NAMESPACE = "_default"
PART_RECORDS = 10_000
PART_BYTES = 8 * 2**20
PROBE = ".retl-probe"


def open_store(settings: RejectedRecords, sync: str, redactor: Redactor) -> RejectedStore | None:
    """The store the config asks for, or None when rejected records are only counted and logged."""
    if isinstance(settings, LocalRejectedStore):
        return LocalStore(settings, sync, redactor)
    if isinstance(settings, S3RejectedStore):
        return S3Store(settings, sync, redactor)
    return None


def segment(name: str) -> str:
    """A stream or namespace name as one path segment: no separator or ``..`` can leave the folder."""
    quoted = quote(name, safe="-_.")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


class RejectedStore(ABC):
    def __init__(
        self, sync: str, redactor: Redactor, part_records: int = PART_RECORDS, part_bytes: int = PART_BYTES
    ) -> None:
        self.sync = sync
        self.redactor = redactor
        self.part_records = part_records
        self.part_bytes = part_bytes
        self.stored: Counter[StreamKey] = Counter()  # records written, per stream
        self.parts: Counter[StreamKey] = Counter()  # parts written, per stream (the last part's number)
        self._buffers: dict[StreamKey, list[bytes]] = {}
        self._buffered_bytes: Counter[StreamKey] = Counter()
        self._failure: SyncError | None = None

    @property
    @abstractmethod
    def root(self) -> str:
        """Where the store's sync folders are, for messages (ends with a slash)."""

    @property
    def location(self) -> str:
        """This sync's folder, for messages."""
        return f"{self.root}{self.sync}/"

    @abstractmethod
    def probe(self) -> str | None:
        """Prove the store can be written (write and delete a small object); raise ConfigError naming
        what to fix. Returns a note when the probe could be written but not removed."""

    @abstractmethod
    def _put(self, key: str, body: bytes) -> None:
        """Write one whole part at ``key`` (relative to the store's root)."""

    def add(
        self,
        stream: StreamKey,
        *,
        match_key: dict[str, Any] | None,
        primary_key: dict[str, Any] | None,
        field: str | None,
        reason: str,
        record: Any,
    ) -> None:
        """Buffer one rejection; write its stream's part when the part is full."""
        self._raise_failure()
        entry = {
            "stream": stream[1],
            "namespace": stream[0],
            "match_key": match_key,
            "primary_key": primary_key,
            "field": field,
            "reason": reason,
            "record": record,
        }
        line = orjson.dumps(self._masked(entry), default=str, option=orjson.OPT_APPEND_NEWLINE)
        self._buffers.setdefault(stream, []).append(line)
        self._buffered_bytes[stream] += len(line)
        if len(self._buffers[stream]) >= self.part_records or self._buffered_bytes[stream] >= self.part_bytes:
            self._write(stream)

    def flush(self) -> None:
        """Write every buffered rejection; raise the store's error when it cannot."""
        self._raise_failure()
        for stream in list(self._buffers):
            self._write(stream)

    def folder(self, stream: StreamKey) -> str:
        """A stream's folder in this sync, relative to the store's root."""
        return f"{self.sync}/{segment(stream[0] or NO_NAMESPACE)}/{segment(stream[1])}/"

    def report(self) -> None:
        """Log what was stored where, once at the end."""
        for stream, count in sorted(self.stored.items(), key=lambda item: (item[0][0] or "", item[0][1])):
            parts = self.parts[stream]
            log.info(
                "rejected records: %d of stream %r stored in %s (%d file%s)",
                count,
                stream[1] if stream[0] is None else f"{stream[0]}.{stream[1]}",
                self.root + self.folder(stream),
                parts,
                "" if parts == 1 else "s",
            )
        if self._failure is not None:
            log.warning("rejected records: the store failed; later rejections were not stored")
        elif not self.stored:
            log.info("rejected records: none in this sync")

    def _write(self, stream: StreamKey) -> None:
        lines = self._buffers.pop(stream, None)
        self._buffered_bytes.pop(stream, None)
        if not lines:
            return
        number = self.parts[stream] + 1
        try:
            self._put(f"{self.folder(stream)}part-{number:04d}.jsonl", b"".join(lines))
        except SyncError as exc:
            self._failure = exc
            raise
        self.parts[stream] = number
        self.stored[stream] += len(lines)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _masked(self, value: Any) -> Any:
        """Every string, keys included, through the redactor (numbers and booleans are not text)."""
        if isinstance(value, str):
            return self.redactor.redact(value)
        if isinstance(value, dict):
            return {self.redactor.redact(str(k)): self._masked(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._masked(item) for item in value]
        return value


class LocalStore(RejectedStore):
    def __init__(self, settings: LocalRejectedStore, sync: str, redactor: Redactor, **limits: int) -> None:
        super().__init__(sync, redactor, **limits)
        self.directory = Path(settings.path).expanduser()

    @property
    def root(self) -> str:
        return f"{self.directory}/"

    def probe(self) -> str | None:
        with self._errors(f"write to the directory {self.directory}"):
            self.directory.mkdir(parents=True, exist_ok=True)
            probe = self.directory / f"{PROBE}-{self.sync}"
            probe.write_bytes(b"")
            probe.unlink()
        return None

    def _put(self, key: str, body: bytes) -> None:
        path = self.directory / key
        with self._errors(f"write {path}"):
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(path.name + ".tmp")
            with temporary.open("wb") as file:
                file.write(body)
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(path)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise ConfigError(
                f"rejected_records: cannot {doing}: {exc.strerror or exc}. Make the directory writable by "
                "this process (in a container: a mounted volume), or choose another path."
            ) from None


class S3Store(RejectedStore):
    def __init__(self, settings: S3RejectedStore, sync: str, redactor: Redactor, **limits: int) -> None:
        super().__init__(sync, redactor, **limits)
        import boto3
        from botocore.config import Config

        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix.strip("/")
        quick = BUDGET.get() is not None  # `check`: answer within seconds
        config = Config(
            connect_timeout=5 if quick else 20,
            read_timeout=10 if quick else 120,
            retries={"mode": "standard", "max_attempts": 2 if quick else 5},
            # S3-compatible stores are addressed by path (bucket.host names rarely resolve there).
            s3={"addressing_style": "path"} if settings.endpoint_url else None,
        )
        self.client: S3Client = boto3.session.Session().client(
            "s3",
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            config=config,
        )

    @property
    def root(self) -> str:
        return f"s3://{self.bucket}/{self._key('')}"

    def probe(self) -> str | None:
        key = self._key(f"{self.sync}/{PROBE}")
        with self._errors("write a probe object"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=b"")
        try:
            with self._errors("delete the probe object"):
                self.client.delete_object(Bucket=self.bucket, Key=key)
        except SyncError as exc:
            return f"Rejected records can be stored; the probe s3://{self.bucket}/{key} stays: {exc.message}"
        return None

    def _put(self, key: str, body: bytes) -> None:
        with self._errors(f"write {key}"):
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=body, ContentType="application/x-ndjson"
            )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """botocore's errors → what to fix: a missing bucket, refused credentials or access, an endpoint
        that does not answer are config errors; S3's own 5xx and throttling (after botocore's retries)
        are transient."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
        )

        where = f"s3://{self.bucket}/{self.prefix}" + (
            f" at {self.settings.endpoint_url}" if self.settings.endpoint_url else ""
        )
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code", "")), str(error.get("Message", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            raise self._client_error(code, message, status, doing, where) from None
        except (NoCredentialsError, PartialCredentialsError):
            raise ConfigError(
                f"rejected_records: no AWS credentials to {doing} in {where}: set access_key_id and "
                "secret_access_key, or give this process AWS credentials (AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, a profile, or an instance or pod role)."
            ) from None
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            raise ConfigError(
                f"rejected_records: cannot reach the store to {doing} in {where}: {exc}. Check endpoint_url "
                "and region, and that this network reaches it."
            ) from None
        except ReadTimeoutError as exc:
            raise TransientError(
                f"rejected_records: the store did not answer ({doing} in {where}): {exc}"
            ) from None
        except BotoCoreError as exc:
            raise ConfigError(f"rejected_records: cannot {doing} in {where}: {exc}") from None

    def _client_error(self, code: str, message: str, status: int, doing: str, where: str) -> SyncError:
        said = f" (S3 said {code}: {message})" if message else f" (S3 said {code or status})"
        if code in ("NoSuchBucket", "NotFound", "404"):
            return ConfigError(
                f"rejected_records: the bucket {self.bucket!r} does not exist{said}: create it, or correct "
                "bucket (and endpoint_url or region)."
            )
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"):
            return ConfigError(
                f"rejected_records: the store refused the credentials to {doing} in {where}{said}: check "
                "access_key_id and secret_access_key."
            )
        if code in ("AccessDenied", "AllAccessDisabled", "AccountProblem") or status == 403:
            return ConfigError(
                f"rejected_records: access denied to {doing} in {where}{said}: grant s3:PutObject (and "
                f"s3:DeleteObject, for check's probe) on arn:aws:s3:::{self.bucket}/"
                f"{self.prefix + '/' if self.prefix else ''}*."
            )
        if code in (
            "PermanentRedirect",
            "AuthorizationHeaderMalformed",
            "IllegalLocationConstraintException",
        ):
            return ConfigError(
                f"rejected_records: the bucket {self.bucket!r} is in another region{said}: set region."
            )
        if status >= 500 or code in ("SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError"):
            return TransientError(f"rejected_records: the store failed to {doing} in {where}{said}")
        return ConfigError(f"rejected_records: the store refused to {doing} in {where}{said}")
