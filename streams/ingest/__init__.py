"""Ingest: bytes from cameras (Arrow IPC batches, JSON events) into Arrow batches of reads, or dead letters."""
