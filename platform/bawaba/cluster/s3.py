"""An S3-compatible server for the demo cluster: moto's standalone server on loopback.

moto comes with the dev extra (``make install``), not with Bawaba itself: an installation
points ``BAWABA_DATASETS_URL`` at its own object storage instead. Its conditional writes
(``If-None-Match: *``, ``If-Match``) answer 412 as AWS S3 does, which the publisher's
release switch relies on.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bawaba.cluster.processes import free_port, listening, running
from bawaba.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MOTO_SERVER = Path(sys.executable).parent / "moto_server"


@dataclass(frozen=True)
class S3Endpoint:
    """A running S3 server: its endpoint and the credentials it accepts."""

    endpoint: str
    access_key: str = "bawaba-demo"
    secret_key: str = "bawaba-demo-secret"  # noqa: S105 - moto accepts any credentials
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """The AWS variables a ``bawaba`` process reads to reach this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self) -> S3Client:
        import boto3

        client: S3Client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )
        return client

    def create_bucket(self, bucket: str) -> None:
        self.client().create_bucket(Bucket=bucket)


@contextmanager
def moto_s3(folder: Path) -> Iterator[S3Endpoint]:
    """moto's S3 server on a free loopback port (its log in ``folder``), until the block
    ends; everything it stores is in its memory and goes with it."""
    if not MOTO_SERVER.exists():
        raise ConfigError(
            f"moto's S3 server is not installed ({MOTO_SERVER})",
            hint="it comes with the dev extra: `make install` or `pip install -e '.[dev]'`",
        )
    port = free_port()
    command = [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)]
    with running(command, "moto_server", listening(port), folder / "moto.log"):
        yield S3Endpoint(f"http://127.0.0.1:{port}")
