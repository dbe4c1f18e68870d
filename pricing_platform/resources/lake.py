"""The Parquet lake as a Dagster resource: the LAKE_* / S3_* / AWS_* settings in one place."""

from __future__ import annotations

import os
from typing import Literal

import dagster as dg

from pricing_platform.core.settings import Settings
from pricing_platform.lake.storage import LakeStorage, S3Options


def _secret(variable: str, value: str | None) -> str | dg.EnvVar | None:
    """A credential from the environment stays a reference (the Dagster UI shows the variable's name, not
    its value); one from elsewhere (a .env file, a test) is passed as is."""
    if value is not None and os.environ.get(variable) == value:
        return dg.EnvVar(variable)
    return value


class LakeResource(dg.ConfigurableResource):
    """Where the lake's partitions are written (a local directory or an S3 bucket) and in what batches."""

    # Defaults and descriptions: the LAKE_* / S3_* / AWS_* settings.
    backend: Literal["local", "s3"]
    local_dir: str
    bucket: str
    prefix: str
    endpoint_url: str | None  # unset: AWS
    region: str
    access_key_id: str | None  # unset: the default AWS credential chain
    secret_access_key: str | None
    batch_rows: int  # rows per Arrow batch (and Parquet row group)
    recent_days: int  # partitions the hourly schedule re-exports

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeResource:
        return cls(
            backend=settings.lake_backend,
            local_dir=str(settings.lake_local_dir),
            bucket=settings.lake_bucket,
            prefix=settings.lake_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=_secret("AWS_ACCESS_KEY_ID", settings.aws_access_key_id),
            secret_access_key=_secret("AWS_SECRET_ACCESS_KEY", settings.aws_secret_access_key),
            batch_rows=settings.lake_batch_rows,
            recent_days=settings.lake_recent_days,
        )

    def storage(self) -> LakeStorage:
        if self.backend == "local":
            return LakeStorage.local(self.local_dir)
        options = S3Options(
            bucket=self.bucket,
            endpoint_url=self.endpoint_url,
            region=self.region,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
        )
        return LakeStorage.s3(options, self.prefix)
