"""The Parquet lake as a Dagster resource: the LAKE_* settings, and S3 through dagster-aws's `S3Resource`
(nested), the one source of the endpoint, credentials and region."""

from __future__ import annotations

import os
from typing import Literal

import dagster as dg
from dagster_aws.s3 import S3Resource

from pricing_platform.core.settings import Settings
from pricing_platform.lake.storage import LakeStorage, s3_resource


def _from_environment(variable: str, value: str | None) -> str | dg.EnvVar | None:
    """A value the environment holds stays a reference, resolved when the resource is used (the Dagster
    UI shows the variable's name, not a credential); one from elsewhere (a .env file, a test, the local
    stack's own endpoint) is passed as is."""
    if value is not None and os.environ.get(variable) == value:
        return dg.EnvVar(variable)
    return value


class LakeResource(dg.ConfigurableResource):
    """Where the lake's partitions are written (a local directory or an S3 bucket) and in what batches."""

    # Defaults and descriptions: the LAKE_* settings.
    backend: Literal["local", "s3"]
    local_dir: str
    bucket: str
    prefix: str
    batch_rows: int  # rows per Arrow batch (and Parquet row group)
    recent_days: int  # partitions the hourly schedule re-exports
    s3: S3Resource  # S3_ENDPOINT_URL (unset: AWS), S3_REGION, AWS_* (unset: the default AWS chain)

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeResource:
        return cls(
            backend=settings.lake_backend,
            local_dir=str(settings.lake_local_dir),
            bucket=settings.lake_bucket,
            prefix=settings.lake_prefix,
            batch_rows=settings.lake_batch_rows,
            recent_days=settings.lake_recent_days,
            s3=s3_resource(settings, _from_environment),
        )

    def storage(self) -> LakeStorage:
        if self.backend == "local":
            return LakeStorage.local(self.local_dir)
        return LakeStorage.s3(self.s3, self.bucket, self.prefix)
