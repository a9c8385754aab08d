"""Archives in any S3-compatible store (AWS, MinIO, Cloudflare R2, Backblaze B2, Garage...).

boto3: the reference S3 client that every S3-compatible store tests against; it uploads large
archives in parallel multipart parts, retries, and takes credentials from the usual places
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, instance roles). The lighter clients
were either in maintenance mode or pre-1.0 with a moving API. Its calls block, so they run on a
thread; the client is built on first use (that reads its service model from disk).

boto3 is imported on first use too: it costs the daemon about 9 MB resident and 70 ms of start-up,
and most daemons never send a backup to S3.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from deploykit.errors import INVALID, NOT_FOUND, UNAVAILABLE, Error

MULTIPART_BYTES = 64 << 20
"""Archives above this go up and down in parallel parts of this size (four at a time)."""


def _transfer() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES, max_concurrency=4)


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``; objects are ``prefix/name``."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """Raises ``invalid`` for anything but ``s3://bucket[/prefix]``."""
        if not url.startswith("s3://"):
            raise Error(INVALID, f"{url!r} is not an s3://bucket/prefix address.")
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise Error(INVALID, f"{url!r} names no bucket.")
        return cls(bucket, prefix.strip("/"))

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def url(self, name: str = "") -> str:
        key = self.key(name) if name else self.prefix
        return f"s3://{self.bucket}/{key}" if key else f"s3://{self.bucket}"


@dataclass(frozen=True)
class S3Object:
    url: str
    name: str
    """The key below the location's prefix."""
    size_bytes: int
    modified_at: datetime


def _translate(exc: Exception, what: str) -> Error:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return Error(INVALID, "No S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.")
    if isinstance(exc, EndpointConnectionError):
        return Error(UNAVAILABLE, f"The S3 endpoint does not answer ({what}).")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}:
            return Error(NOT_FOUND, f"{what} not found.")
        if code in {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
            return Error(INVALID, f"The S3 store refused {what}: {code}.")
        return Error(UNAVAILABLE, f"The S3 store failed on {what}: {code or 'error'}.")
    return Error(UNAVAILABLE, f"The S3 store failed on {what}.")


class S3Store:
    """Upload, download, list and delete archives. ``endpoint_url`` None means AWS itself."""

    def __init__(self, *, endpoint_url: str | None = None, region: str | None = None) -> None:
        self._endpoint_url = endpoint_url
        self._region = region
        self._client: Any = None
        self._lock = threading.Lock()

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3.session
                from botocore.config import Config

                self._client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=self._endpoint_url,
                    region_name=self._region,
                    config=Config(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"}),
                )
            return self._client

    async def _run(self, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        def call() -> Any:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                return fn(self._s3(), *args, **kw)
            except (BotoCoreError, ClientError) as exc:
                raise _translate(exc, what) from exc

        return await asyncio.to_thread(call)

    async def upload(self, src: Path, location: S3Location, name: str) -> str:
        """Put the file at ``location/name``; its URL."""
        key = location.key(name)
        await self._run(
            location.url(name),
            lambda s3: s3.upload_file(str(src), location.bucket, key, Config=_transfer()),
        )
        return location.url(name)

    async def download(self, url: str, dest: Path) -> None:
        loc = S3Location.parse(url)
        if not loc.prefix:
            raise Error(INVALID, f"{url!r} names no object.")
        await self._run(url, lambda s3: s3.download_file(loc.bucket, loc.prefix, str(dest), Config=_transfer()))

    async def list_objects(self, location: S3Location) -> list[S3Object]:
        """The objects below the location, oldest first."""
        prefix = f"{location.prefix}/" if location.prefix else ""

        def list_all(s3: Any) -> list[S3Object]:
            out: list[S3Object] = []
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    key = str(item["Key"])
                    out.append(
                        S3Object(
                            url=f"s3://{location.bucket}/{key}",
                            name=key.removeprefix(prefix),
                            size_bytes=int(item["Size"]),
                            modified_at=item["LastModified"],
                        )
                    )
            return sorted(out, key=lambda o: (o.modified_at, o.name))

        result: list[S3Object] = await self._run(location.url(), list_all)
        return result

    async def delete(self, url: str) -> None:
        loc = S3Location.parse(url)
        await self._run(url, lambda s3: s3.delete_object(Bucket=loc.bucket, Key=loc.prefix))
