"""What Dagster needs to know about the ingest workers: the consumer groups their positions are stored
under (`ingest_offsets.consumer_group`)."""

from __future__ import annotations

from typing import ClassVar

import dagster as dg

from pricing_platform.core.catalog import Stream, consumer_group
from pricing_platform.core.settings import SettingsSection


class IngestResource(dg.ConfigurableResource, SettingsSection):
    settings_renamed: ClassVar[dict[str, str]] = {"group_prefix": "kafka_group_prefix"}

    group_prefix: str

    def consumer_groups(self) -> list[str]:
        return [consumer_group(stream, self.group_prefix) for stream in Stream]
