"""The Parquet lake: one daily partition per stream, `<root>/<stream>/date=YYYY-MM-DD/part-NNNNN.parquet`,
exported from PostgreSQL (`export`), written and swapped in atomically (`storage`), queried with DuckDB
(`query`). The streams and their exact Arrow schemas are registered in `streams`."""

from pricing_platform.lake.streams import STREAMS, LakeStream

__all__ = ["STREAMS", "LakeStream"]
