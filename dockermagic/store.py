"""The object store where Swarm tasks on other nodes leave their outputs: any S3-compatible
server (``--store s3://BUCKET/PREFIX``), reached with the standard ``AWS_*`` variables
(``AWS_ENDPOINT_URL`` for a server that is not Amazon's).

Credentials stay on this machine: each task gets a presigned PUT URL for its own object,
as a Swarm secret; dockermagic downloads the objects with the credentials and unpacks them
into the points' folders.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Optional

from .archives import write_member
from .errors import DockermagicError


@dataclass(frozen=True)
class Store:
    """An S3 bucket and key prefix, with how to reach it."""

    bucket: str
    prefix: str
    endpoint: Optional[str]
    region: str

    @classmethod
    def from_url(cls, url: str, environ: Optional[Mapping[str, str]] = None) -> Store:
        """``s3://BUCKET/PREFIX`` and the ``AWS_*`` variables; a store without credentials is refused."""
        environ = os.environ if environ is None else environ
        if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
            raise DockermagicError(f"--store {url}: give s3://BUCKET/PREFIX")
        bucket, _, prefix = url[5:].partition("/")
        if not (environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY")):
            raise DockermagicError(
                f"--store {url}: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(and AWS_ENDPOINT_URL for a server that is not Amazon S3) in the kernel's environment"
            )
        endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL") or None
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return cls(bucket=bucket, prefix=prefix.strip("/"), endpoint=endpoint, region=region)

    def key(self, *parts: str) -> str:
        return "/".join([p for p in (self.prefix, *parts) if p])

    def client(self):
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise DockermagicError(
                "--store needs boto3 in the kernel's environment: pip install 'dockermagic[swarm]'"
            ) from None
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def upload_url(self, key: str, seconds: int) -> str:
        """A presigned PUT URL of one object, valid for ``seconds``."""
        try:
            return self.client().generate_presigned_url(
                "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=int(seconds)
            )
        except Exception as exc:  # botocore's errors are many; any of them means no URL
            raise DockermagicError(f"cannot sign an upload to s3://{self.bucket}/{key}: {exc}") from None

    def check(self) -> None:
        """Fail now, in one line, when the bucket cannot be reached with these credentials."""
        try:
            self.client().head_bucket(Bucket=self.bucket)
        except DockermagicError:
            raise
        except Exception as exc:
            raise DockermagicError(f"--store s3://{self.bucket}: cannot reach the bucket: {exc}") from None

    def download(self, key: str, dest: Path) -> list[Path]:
        """Unpack the object ``key`` (a tar.gz of a task's outputs) into ``dest``; [] when absent."""
        try:
            data = self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception:
            return []
        return unpack(data, dest)

    def delete(self, key: str) -> None:
        try:
            self.client().delete_object(Bucket=self.bucket, Key=key)
        except Exception:
            pass


def unpack(data: bytes, dest: Path) -> list[Path]:
    """Regular files of a tar.gz written under ``dest`` only (no links, no absolute or ``..`` paths)."""
    written = []
    dest = Path(dest)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            target = write_member(archive, member, dest, PurePosixPath(member.name), replace=True)
            if target is not None:
                written.append(target)
    return sorted(written)
