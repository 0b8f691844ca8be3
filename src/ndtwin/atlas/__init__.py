"""RIPE Atlas ping and traceroute results, read with ``ripe.atlas.sagan`` into tidy Parquet tables."""

from ndtwin.atlas.tables import ImportReport, import_results, read_table

__all__ = ["ImportReport", "import_results", "read_table"]
