"""Ingest: bytes from cameras (Arrow IPC batches, JSON events) into Arrow batches of reads, or dead letters."""

__all__ = [
    "control",
    "decode",
    "extracts",
    "holds",
    "hotlist_csv",
    "hotlist_changes",
    "hotlist_events",
    "json_columns",
    "limits",
    "search",
    "verifications",
]
