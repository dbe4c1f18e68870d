"""The local stack's S3 endpoint: npm's `s3rver`, which keeps objects on disk under the state directory, so
the Parquet lake and the broker's topics survive `down`/`up` and crashes. MinIO, the deployment's S3, has
no package in the reachable registries; moto's server keeps objects in memory only.

s3rver is installed by the install step (`npm ci` in this directory's package.json). Clients must not send
aws-chunked uploads with trailing checksums, which s3rver stores verbatim (corrupting the object): boto3,
pyarrow (the AWS C++ SDK) and the broker's object_store client all honour
AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED, which the stack sets for every process it starts and which
`client_environment` gives to anyone else."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Final

S3RVER_DIR: Final = Path(__file__).with_name("s3rver")
S3RVER_MAIN: Final = S3RVER_DIR / "node_modules" / "s3rver" / "bin" / "s3rver.js"
CONDITIONAL_WRITES: Final = S3RVER_DIR / "conditional-writes.js"
ATOMIC_PUTS: Final = S3RVER_DIR / "atomic-puts.js"
LISTING_INDEX: Final = S3RVER_DIR / "listing-index.js"
# s3rver accepts these and only these credentials (its defaults); the endpoint is loopback-only.
ACCESS_KEY: Final = "S3RVER"
SECRET_KEY: Final = "S3RVER"
REGION: Final = "us-east-1"
# Every S3 client of the local stack needs this against s3rver (see the module docstring).
CLIENT_ENVIRONMENT: Final = {"AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED"}


# s3rver signs its list continuation tokens with DES, which Node's OpenSSL 3 refuses unless the legacy
# provider is loaded: without it every listing of more than 1000 keys fails (and the broker, which lists a
# partition's batches on each fetch, stops serving that partition).
S3RVER_ENVIRONMENT: Final = {"NODE_OPTIONS": "--openssl-legacy-provider"}


def s3rver_argv(host: str, port: int, directory: Path, *, listing_index: bool = True) -> list[str]:
    """The command line of the local endpoint (`listing_index=False`: s3rver's own listing, the
    benchmark's baseline)."""
    node = shutil.which("node")
    if not S3RVER_MAIN.exists() or node is None:
        raise FileNotFoundError(
            f"s3rver or Node.js missing ({S3RVER_MAIN}): run the install step (`make install`, which "
            f"installs Node.js and runs `npm ci --prefix {S3RVER_DIR}`)"
        )
    # conditional-writes.js: s3rver honours If-None-Match/If-Match on PUT, which the broker relies on.
    # atomic-puts.js: a PUT replaces its object whole or not at all (s3rver writes in place).
    # listing-index.js: a directory's listing costs a binary search, not a stat of every file in it.
    # --no-vhost-buckets: path-style only, as every client here is configured.
    preloads = [CONDITIONAL_WRITES, ATOMIC_PUTS, *([LISTING_INDEX] if listing_index else [])]
    return [node, *(arg for preload in preloads for arg in ("--require", str(preload))), str(S3RVER_MAIN),
            "--directory", str(directory), "--address", host, "--port", str(port), "--silent",
            "--no-vhost-buckets"]  # fmt: skip


def client(endpoint_url: str) -> Any:
    """A boto3 S3 client of the local endpoint (imported here: boto3 costs a second at import)."""
    import os

    import boto3

    os.environ.update(CLIENT_ENVIRONMENT)
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def create_bucket(endpoint_url: str, bucket: str) -> bool:
    """Create `bucket` (idempotent); False while the endpoint is not answering yet."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client(endpoint_url).create_bucket(Bucket=bucket)
    except ClientError as exc:
        return exc.response["Error"]["Code"] in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}
    except BotoCoreError:
        return False
    return True


def broker_environment(endpoint_url: str) -> dict[str, str]:
    """What the broker's S3 storage engine (Rust object_store) reads to reach the local endpoint."""
    return {
        "AWS_ENDPOINT": endpoint_url,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        **CLIENT_ENVIRONMENT,
    }
