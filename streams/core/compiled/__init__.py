"""The compiled passes (numba) over a batch's Arrow buffers, by stage; ``streams.core.engine.compiled`` runs them.

buffers (Arrow columns as numpy views) -> strings (plate encoding, interning) -> checks (row checks) ->
dedup_table (the de-duplication state across batches) -> counts (read counts, fresh rows) -> scan (passes 1 and 2
over a batch) -> lookup (hot-list tables and their probe). ``jit`` holds the decorators and the hash they share.
"""

__all__ = ["buffers", "checks", "counts", "dedup_table", "jit", "lookup", "scan", "strings"]
