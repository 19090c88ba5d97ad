"""Hot-list extracts as agencies receive them: the state NCIC-derived extract (delimited and fixed-width), Genetec
AutoVu's ``;`` hot-list text, and the project's own CSV, each into entries plus
the rows it could not use (line number and rule, never the plate)."""

__all__ = ["entries", "formats", "genetec", "lines", "ncic", "own_csv", "rules"]
